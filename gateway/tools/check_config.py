"""`edge-gateway check-config`: what `run` will need, checked in one pass without starting anything.

Every problem of the file is found, not only the first: the model's own validation, ids and
`humidity_from` across sources, camera and serial addresses, the files `run` reads (TLS, keys,
policy, models) and whether the policy and the models verify under the configured key. A missing
file or a malformed address is an error; a device that may be plugged in later is a warning.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from gateway.config import GatewayConfig
from gateway.config_references import SensorRef, reference_problems
from gateway.config_references import summary as references_summary
from gateway.privacy.policy import Policy
from gateway.security.signing import ManifestError, SigningKeyError, load_public_key, verify_manifest
from gateway.shipped import models_dir as shipped_models
from gateway.tools import addresses
from gateway.trust import MANIFEST, Loaded, Untrusted, load_policy
from gateway.yamlfile import ConfigError, Problem, parse_document, plain, problem_at, read_text, validate
from gateway.yamlwords import Loc

__all__ = ["ConfigError", "Report", "check", "readable", "unreadable_files"]


@dataclass
class Report:
    """Everything found in one config file."""

    path: Path
    problems: list[Problem]
    config: GatewayConfig | None = None
    policy: Loaded[Policy] | None = None
    policy_errors: list[str] = field(default_factory=list)  # lines in the policy file itself

    @property
    def errors(self) -> int:
        """How many problems make the file unusable."""
        return len(self.policy_errors) + sum(not p.warning for p in self.problems)

    @property
    def warnings(self) -> int:
        """How many problems may resolve themselves (an unplugged device)."""
        return sum(p.warning for p in self.problems)

    def lines(self) -> list[str]:
        """Each problem as `file:line: key: message`, sorted by line, then the policy file's."""
        return [p.text(self.path) for p in sorted(self.problems)] + self.policy_errors


def check(path: Path, cwd: Path | None = None) -> Report:
    """Check a config file; ConfigError only if it is no YAML mapping at all (nothing else to say)."""
    document = parse_document(read_text(path), path)
    config, problems = validate(document, GatewayConfig, path)
    data = plain(document)
    references = _references(data)
    repeated = references_summary(references)  # what the model said about them, at the top level
    problems = [p for p in problems if not (p.key == "(top level)" and p.message == repeated)]
    problems += [problem_at(document, loc, message) for loc, message in references]
    files = _file_problems(document, data, path.parent)
    problems += files
    problems += _address_problems(document, data, cwd or Path.cwd())
    storage = _storage(data.get("storage"))
    if storage is not None:
        problems.append(problem_at(document, ("storage",), storage.message, warning=storage.warning))
    report = Report(path, problems, config)
    if not any(p.key.startswith(("trust", "policy")) for p in files):
        _check_signatures(report, document, data, path.parent)
    return report


def unreadable_files(path: Path) -> list[str]:
    """The files `run` reads that are missing or unreadable, as `file:line: key: message` lines."""
    document = parse_document(read_text(path), path)
    return [p.text(path) for p in sorted(_file_problems(document, plain(document), path.parent))]


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[part] if isinstance(part, int) else data.get(part)
    return data


def _items(data: Any, section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = _get(data, (section,))
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield i, item


def _references(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    sensors, cameras = _get(data, ("sensors",)) or [], _get(data, ("cameras",)) or []
    if not (isinstance(sensors, list) and isinstance(cameras, list)):
        return []  # the model reports the wrong shape
    if not all(isinstance(item, dict) for item in sensors + cameras):
        return []  # the same, for an entry; skipping it would shift every index after it
    refs = [SensorRef(str(s.get("id")), str(s.get("type")), _text(s.get("humidity_from"))) for s in sensors]
    return reference_problems(refs, [str(c.get("id")) for c in cameras])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- files run reads --------------------------------------------------------------------------------

FILES: tuple[Loc, ...] = (
    ("mqtt", "tls", "ca"),
    ("mqtt", "tls", "cert"),
    ("mqtt", "tls", "key"),
    ("trust", "public_key"),
    ("policy",),
)


def _file_problems(document: CommentedMap, data: dict[str, Any], base: Path) -> list[Problem]:
    found: dict[Loc, Path] = {}
    checks: list[tuple[Loc, Path, Callable[[Path], str | None]]] = []
    operators = _get(data, ("trust", "operators"))
    names = list(operators) if isinstance(operators, dict) else []
    for loc in (*FILES, *(("trust", "operators", name) for name in names)):
        value = _get(data, loc)
        if isinstance(value, str):
            found[loc] = base / value
            checks.append((loc, base / value, readable))
    policy = found.get(("policy",))
    if policy is not None and policy.exists():  # else "no such file" says enough
        checks.append((("policy",), policy.parent / MANIFEST, readable))
    models = _get(data, ("trust", "models_dir"))
    if isinstance(models, str):
        checks.append((("trust", "models_dir"), base / models / MANIFEST, readable))
    problems = [problem_at(document, loc, why) for loc, file, test in checks if (why := test(file))]
    tls = [found.get(("mqtt", "tls", k)) for k in ("ca", "cert", "key")]
    if not problems and all(tls):
        why = _tls_loads(*[p for p in tls if p is not None])
        if why:
            problems.append(problem_at(document, ("mqtt", "tls"), why))
    return problems


def readable(path: Path) -> str | None:
    """Why `path` cannot be read as a file, or None if it can."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: a directory, not a file"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror}"
    return None


def _tls_loads(ca: Path, cert: Path, key: Path) -> str | None:
    """Whether the CA, certificate and key load as `run` loads them (PEM, matching key)."""
    try:
        context = ssl.create_default_context(cafile=str(ca))
    except ssl.SSLError as exc:
        return f"the CA {ca} does not load: {exc.reason or exc}"
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        return f"the certificate {cert} and key {key} do not load together: {exc.reason or exc}"
    return None


def _storage(value: Any) -> addresses.Verdict | None:
    if not isinstance(value, str):
        return None
    path = Path(value)
    if path.exists():
        if not path.is_dir():
            return addresses.Verdict(f"{path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            return addresses.Verdict(f"{path}: this user may not write in it")
        return None
    parent = next(p for p in path.absolute().parents if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        return addresses.Verdict(
            f"{path} does not exist and this user cannot create it in {parent} (run as the service user?)",
            warning=True,
        )
    return None


# --- addresses and signatures -----------------------------------------------------------------------


def _address_problems(document: CommentedMap, data: dict[str, Any], cwd: Path) -> list[Problem]:
    found: list[tuple[Loc, addresses.Verdict | None]] = []
    for i, sensor in _items(data, "sensors"):
        if isinstance(sensor.get("port"), str) and sensor["port"]:
            found.append((("sensors", i, "port"), addresses.serial_port(sensor["port"])))
    for i, camera in _items(data, "cameras"):
        if isinstance(camera.get("url"), str) and camera["url"]:
            found.append((("cameras", i, "url"), addresses.camera_url(camera["url"], cwd)))
    return [problem_at(document, loc, v.message, warning=v.warning) for loc, v in found if v is not None]


def _check_signatures(report: Report, document: CommentedMap, data: dict[str, Any], base: Path) -> None:
    """Policy and models verified under the configured key, as `run` will (without loading models)."""
    key_value, policy_value, models_value = (
        _get(data, ("trust", "public_key")),
        _get(data, ("policy",)),
        _get(data, ("trust", "models_dir")),
    )
    key = base / key_value if isinstance(key_value, str) else shipped_models() / "release.pub.pem"
    key_loc: Loc = ("trust", "public_key")

    def at(loc: Loc, given: object) -> Loc:
        return loc if isinstance(given, str) else key_loc

    try:
        load_public_key(key)
    except (SigningKeyError, OSError) as exc:  # OSError: only if the file went away since it was read
        report.problems.append(problem_at(document, key_loc, str(exc)))
        return
    policy = base / policy_value if isinstance(policy_value, str) else None
    try:
        report.policy = load_policy(policy, key)
    except Untrusted as exc:
        report.problems.append(problem_at(document, at(("policy",), policy_value), str(exc)))
    except ConfigError as exc:
        report.policy_errors = exc.errors
    models = base / models_value if isinstance(models_value, str) else shipped_models()
    try:
        verified = verify_manifest(models / MANIFEST, key, kind="models")
    except (ManifestError, SigningKeyError) as exc:
        report.problems.append(
            problem_at(document, at(("trust", "models_dir"), models_value), f"models refused: {exc}")
        )
        return
    for i, camera in _items(data, "cameras"):
        name = _get(camera, ("fall", "person_model"))
        if isinstance(name, str) and name not in verified.files:
            report.problems.append(
                problem_at(
                    document,
                    ("cameras", i, "fall", "person_model"),
                    f"{name} is not in the signed models manifest {models / MANIFEST}",
                )
            )

"""YAML files validated by pydantic models, with errors that name the line, the key and the value.

Used for the gateway config, the privacy policy and remote configuration commands alike. Every
validation error of a file is reported at once, sorted by line, in words (gateway/yamlwords.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gateway.yamlwords import Loc, describe_error


class Strict(BaseModel):
    """Base for file sections: unknown keys are errors, values are frozen after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be used; `errors` are human-readable lines."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.path = path
        self.errors = errors


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    """One thing wrong (or, with `warning`, doubtful) at a line of a file."""

    line: int
    key: str
    message: str
    warning: bool = False

    def text(self, path: Path) -> str:
        """`file:line: key: message`, the message starting with "warning: " for a warning."""
        return f"{path}:{self.line}: {self.key}: {'warning: ' if self.warning else ''}{self.message}"


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse and validate a YAML file into `model`, or raise ConfigError naming line, key and value."""
    return parse_yaml_model(read_text(path), model, path)


def read_text(path: Path) -> str:
    """A file's UTF-8 text, or ConfigError naming the file (and the line of a non-UTF-8 byte)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"{path}: cannot read: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path, [f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"]
        ) from exc


def parse_yaml_model(text: str, model: type[M], path: Path) -> M:
    """Validate YAML text into `model`; `path` names the text in errors."""
    document = parse_document(text, path)
    value, problems = validate(document, model, path)
    if value is None:
        raise ConfigError(path, [p.text(path) for p in problems])
    return value


def parse_document(text: str, path: Path) -> CommentedMap:
    """The YAML text as a round-trip mapping (it knows every key's line), or ConfigError."""
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(path, [f"{path}:{line}: invalid YAML: {exc.problem}"]) from exc
    except YAMLError as exc:
        raise ConfigError(path, [f"{path}: invalid YAML: {exc}"]) from exc
    except RecursionError as exc:  # thousands of nested brackets (tests/fuzz/crashes/config_file)
        raise ConfigError(path, [f"{path}: invalid YAML: nested too deeply"]) from exc
    if not isinstance(document, CommentedMap):
        raise ConfigError(path, [f"{path}:1: expected a mapping of keys at the top level"])
    return document


def validate(document: CommentedMap, model: type[M], path: Path) -> tuple[M | None, list[Problem]]:
    """The document as `model`, or None and every problem sorted by line; ConfigError if too large."""
    try:
        return model.model_validate(plain(document)), []
    except ValidationError as exc:
        problems = {problem_at(document, tuple(e["loc"]), describe_error(model, e)) for e in exc.errors()}
        return None, sorted(problems)
    except (RecursionError, _TooLarge) as exc:
        raise ConfigError(path, [f"{path}: too deeply nested or too large (aliases?)"]) from exc


MAX_NODES = 100_000  # far above any real config; YAML aliases can otherwise expand exponentially


class _TooLarge(Exception):
    """More than MAX_NODES values once aliases are expanded."""


def plain(document: CommentedMap) -> dict[str, Any]:
    """ruamel's round-trip containers as plain dicts and lists (at most MAX_NODES values)."""
    result: dict[str, Any] = _plain(document, [MAX_NODES])
    return result


def _plain(node: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, dict):
        return {str(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    return node


def key_path(loc: Loc) -> str:
    """`sensors[0].type` for ("sensors", 0, "type")."""
    parts = (f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc if p != "[key]")  # a mapping's key
    return "".join(parts).lstrip(".") or "(top level)"


def problem_at(document: CommentedMap, loc: Loc, message: str, *, warning: bool = False) -> Problem:
    """A problem at `loc`, on the line of the deepest key of `loc` that exists in the document."""
    return Problem(locate(document, loc)[0], key_path(loc), message, warning)


def locate(document: CommentedMap, loc: Loc) -> tuple[int, Any]:
    """The 1-based line of the deepest existing node on `loc`, and the value found there."""
    node: Any = document
    line = 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            return line, None
    return line, node if not isinstance(node, dict | list) else None

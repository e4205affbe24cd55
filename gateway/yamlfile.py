"""YAML files validated by pydantic models, with errors that name the line, the key and the value.

Used for the gateway config, the privacy policy and remote configuration commands alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError


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


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse and validate a YAML file into `model`, or raise ConfigError naming line, key and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"{path}: cannot read: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path, [f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})"]
        ) from exc
    return parse_yaml_model(text, model, path)


def parse_yaml_model(text: str, model: type[M], path: Path) -> M:
    """Validate YAML text into `model`; `path` names the text in errors."""
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
    try:
        return model.model_validate(_plain(document, [MAX_NODES]))
    except ValidationError as exc:
        raise ConfigError(path, [_describe(path, document, err) for err in exc.errors()]) from exc
    except (RecursionError, _TooLarge) as exc:
        raise ConfigError(path, [f"{path}: too deeply nested or too large (aliases?)"]) from exc


MAX_NODES = 100_000  # far above any real config; YAML aliases can otherwise expand exponentially


class _TooLarge(Exception):
    """More than MAX_NODES values once aliases are expanded."""


def _plain(node: Any, budget: list[int]) -> Any:
    """ruamel's round-trip containers as plain dicts and lists (at most `budget[0]` values)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, dict):
        return {str(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    return node


def _describe(path: Path, document: CommentedMap, error: Any) -> str:
    loc = tuple(error["loc"])
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    line, value = _locate(document, loc)
    reason = re.sub(r"^(Value error|Assertion failed), ", "", str(error["msg"]))
    shown = f" (value: {value!r})" if value is not None and error["type"] != "missing" else ""
    return f"{path}:{line}: {key}: {reason}{shown}"


def _locate(document: CommentedMap, loc: tuple[Any, ...]) -> tuple[int, Any]:
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

"""pydantic's validation errors in words a person can act on: no regexes, a "did you mean" for typos.

A model field with a `pattern` registers its words with `worded(pattern, words)`; an unknown key is
compared with the keys its model does know (difflib), so `prefx` suggests `prefix`.
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[str | int, ...]

_PATTERN_WORDS: dict[str, str] = {}


def worded(pattern: str, words: str) -> str:
    """`pattern`, remembered with what it means in words (shown instead of the regex)."""
    _PATTERN_WORDS[pattern] = words
    return pattern


def did_you_mean(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_error(model: type[BaseModel], error: Any) -> str:
    """One pydantic error dict as `reason (value: ...)`."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(model, loc)
    if kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        words = _PATTERN_WORDS.get(pattern)
        reason = f"use {words}" if words else f"should match the pattern {pattern}"
    elif kind in ("model_type", "dict_type"):
        reason = f"should be a mapping of keys (key: value), not {_kind_of(value)}"
    elif kind == "list_type":
        reason = f"should be a list (- item lines or [a, b]), not {_kind_of(value)}"
    else:
        reason = re.sub(r"^(Value error|Assertion failed), ", "", str(error["msg"]))
    shown = value is not None and kind != "missing" and not isinstance(value, dict | list)
    return f"{reason} (value: {value!r})" if shown else reason


def _kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a single value" if value is not None else "nothing"


def _unknown_key(model: type[BaseModel], loc: Loc) -> str:
    known = sorted(_fields_at(model, loc[:-1]))
    key = str(loc[-1]) if loc else ""
    hint = did_you_mean(key, known)
    if not hint and known:
        hint = f"; known keys: {', '.join(known)}"
    return f"unknown key{hint}"


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found by following `loc` from `model` ([] if none is)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) in (list, tuple) and isinstance(part, int):
            current = get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X` for `Annotated[X, ...]` and `X | None`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation

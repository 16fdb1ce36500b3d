"""Type checks for config dataclasses filled from user files (TOML presets, control maps): a wrong value is an error
that names the key, the expected type and what was given, never a Python internal from deeper down."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import Any

from .files import clip, quote, read_text_bounded

_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table",
          tuple: "a list", list: "a list"}


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table",
            list: "a list"}.get(type(value), type(value).__name__)
    return f"{quote(value)} ({kind})"


def _accepts(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # nan and inf pass no range check written as `x < 0`: refused here, for every file
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    if origin is dict or tp is dict:
        args = typing.get_args(tp)
        return isinstance(value, dict) and (not args or all(_accepts(args[0], k) and _accepts(args[1], v)
                                                            for k, v in value.items()))
    if origin is tuple or tp is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_accepts(args[0], v) for v in value)
        return not args or (len(args) == len(value) and all(_accepts(a, v) for a, v in zip(args, value, strict=True)))
    return isinstance(value, tp) if isinstance(tp, type) else True


def _non_finite(value: Any) -> bool:
    """A nan or an infinity in `value` (a number, or a table or list of them)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return isinstance(value, list | tuple) and any(_non_finite(v) for v in value)


def _plural(expected: str) -> str:
    """'an integer' -> 'integers', 'a number' -> 'numbers' (for "a table of ...", "a list of ...")."""
    noun = expected.removeprefix("an ").removeprefix("a ")
    return noun if noun.endswith("s") or " or " in noun else noun + "s"


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "none"
    if origin is dict and typing.get_args(tp):
        return f"a table of {_plural(_expected(typing.get_args(tp)[1]))}"
    if origin is tuple:
        args = typing.get_args(tp)
        return f"a list of {len(args)} {_plural(_expected(args[0]))}" if args else "a list"
    return _NAMES.get(origin or tp, getattr(tp, "__name__", str(tp)))


MAX_TOML_BYTES = 64 * 1024  # a preset or a CC map is a few hundred bytes


def read_toml(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A small TOML file (presets, CC maps) parsed: at most MAX_TOML_BYTES, nesting as deep as tomllib's stack
    allows; every failure (unreadable, too large, not UTF-8, invalid, nested too deeply) a one-line ValueError whose
    quote of the file is bounded."""
    text = read_text_bounded(path, MAX_TOML_BYTES, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{what} {path}: invalid TOML ({clip(str(err))})") from None
    except RecursionError:
        raise ValueError(f"{what} {path}: invalid TOML (nested too deeply)") from None


def check_fields(cls: type, raw: Any, where: str) -> dict[str, Any]:
    """`raw` (a mapping from a user file) checked against dataclass `cls`: known keys, values of the annotated
    types (lists become tuples for tuple fields). Raises ValueError naming `where`, the key and the expected type."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table of settings, got {_describe(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {quote(', '.join(map(str, unknown)))}; allowed: "
                         f"{', '.join(names)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        tp = hints[key]
        if _non_finite(value):
            raise ValueError(f"{where}: {key} must be finite (no nan or inf), got {_describe(value)}")
        if not _accepts(tp, value):
            raise ValueError(f"{where}: {key} must be {_expected(tp)}, got {_describe(value)}")
        is_tuple = typing.get_origin(tp) is tuple or tp is tuple
        out[key] = tuple(value) if is_tuple and isinstance(value, list) else value
    return out

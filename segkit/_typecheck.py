"""Check and coerce a value against a type hint (for config fields read from YAML or ``--set``).

PyYAML reads ``5e-4`` as the string ``"5e-4"`` (YAML 1.1 needs a dot in a float), and
``--set`` values arrive the same way, so a config must turn strings into the numbers its
fields declare, and refuse what does not fit (``4.5`` for an integer, ``abc`` for a number)
with a message naming the field, the value and the expected type. `coerce` works from the
hint alone: ``int``, ``float``, ``bool``, ``str``, ``None``, ``Any``, ``Literal[...]``,
``list[X]``, ``tuple[X, ...]``, ``dict[K, V]`` and unions of these (``X | None``,
``list[float] | Literal["auto"] | None``), so a new field needs no code here.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal, Union

from segkit._utils import did_you_mean

__all__ = ["coerce", "coerce_fields", "field_types", "describe"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null", "~")  # Python's spelling too: `--set num_classes=None` means null


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """A dataclass's field name -> resolved type hint (the annotations are strings under ``from __future__``)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def coerce_fields(config: Any) -> None:
    """Convert every field of a dataclass instance to its declared type, in place (`coerce` per
    field; the message names ``ClassName.field``)."""
    cls = type(config)
    for name, hint in field_types(cls).items():
        setattr(config, name, coerce(getattr(config, name), hint, f"{cls.__name__}.{name}"))


class _Mismatch(Exception):
    """Internal: the value does not fit one type (the caller builds the user-facing message)."""


def describe(tp: Any) -> str:
    """The type hint in words, e.g. ``"an integer or None"``, ``"one of 'sgd', 'adam'"``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "None"
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {_plural(describe(args[0]))}" if args else "a list"
    if origin is dict:
        return "a mapping (key: value)"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _plural(words: str) -> str:
    for article in ("an ", "a "):
        if words.startswith(article):
            return words[len(article):] + "s"
    return words


def coerce(value: Any, tp: Any, name: str) -> Any:
    """Return `value` converted to the type hint `tp`.

    Strings are parsed (``"5e-4"`` -> 0.0005, ``"4"`` -> 4, ``"true"`` -> True, ``"None"`` -> None
    where None is allowed), integers
    widen to floats, and whole floats (``4.0``) narrow to integers; nothing else changes type.
    In a union, a member the value already fits wins over one it would have to be converted to.

    Args:
        value: the value as read (YAML, ``--set``, Python).
        tp: the type hint of the field.
        name: the field's name, for the message (e.g. ``"TrainConfig.seed"``).

    Raises:
        ValueError: naming `name`, the value and the expected type.
    """
    for strict in (True, False):
        try:
            return _coerce(value, tp, strict, name)
        except _Mismatch:
            pass
    hint = ""
    if isinstance(value, str) and typing.get_origin(tp) is Literal:
        hint = did_you_mean(value, [str(a) for a in typing.get_args(tp)])
    raise ValueError(f"{name}={value!r} ({type(value).__name__}) is not valid: expected {describe(tp)}.{hint}")


def _coerce(value: Any, tp: Any, strict: bool, name: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None or (not strict and isinstance(value, str) and value.strip().lower() in _NONE):
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        for member in args:
            try:
                return _coerce(value, member, strict, name)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        return _literal(value, args, strict)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item = args[0] if args else Any
        out = []
        for i, v in enumerate(value):
            try:
                out.append(coerce(v, item, f"{name}[{i}]") if not strict else _coerce(v, item, True, name))
            except ValueError as exc:  # an element is wrong: say which one
                raise ValueError(f"{exc} (in {name}={value!r})") from None
        return out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return dict(value)
    if tp is bool:
        return _bool(value, strict)
    if tp is int:
        return _int(value, strict)
    if tp is float:
        return _float(value, strict)
    if tp is str:
        if isinstance(value, str):
            return value
        if not strict and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a split named 2021
        raise _Mismatch
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _Mismatch


def _literal(value: Any, options: tuple, strict: bool) -> Any:
    for opt in options:  # same type and equal: 1 does not match True
        if type(opt) is type(value) and opt == value:
            return opt
    if not strict and type(value) is int and value in (0, 1):  # 0/1 for a True/False option, as for bool
        for opt in options:
            if isinstance(opt, bool) and opt == bool(value):
                return opt
    if not strict and isinstance(value, str):
        low = value.strip().lower()
        for opt in options:
            if isinstance(opt, bool) and low in (_TRUE if opt else _FALSE):
                return opt
            if not isinstance(opt, bool) and str(opt) == value.strip():
                return opt
    raise _Mismatch


def _bool(value: Any, strict: bool) -> bool:
    if isinstance(value, bool):
        return value
    if not strict and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if not strict and isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Mismatch


def _int(value: Any, strict: bool) -> int:
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, int):
        return value
    if strict:
        raise _Mismatch
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            value = _parse_float(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)  # 4.0 or "1e3"
    raise _Mismatch


def _float(value: Any, strict: bool) -> float:
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, (int, float)):
        out = float(value)
    elif not strict and isinstance(value, str):
        out = _parse_float(value)
    else:
        raise _Mismatch
    if math.isnan(out):
        raise _Mismatch
    return out


def _parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise _Mismatch from None

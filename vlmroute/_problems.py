"""pydantic's validation errors in plain words, every one of them (pure).

A user fixing a YAML file or a flag needs the key, what is wrong with it and what it got:
``requests: must be at least 1 (got 0)``, not ``Input should be greater than or equal to 1``,
``Decimal('-0.035')`` or ``and 10 more problem(s)``. Inputs can be left out (a router
config may hold a Redis password).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

__all__ = ["describe", "problems"]


def _bound(word: str, key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: f"must be {word} {_plain(ctx.get(key))}"


_WORDS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "greater_than_equal": _bound("at least", "ge"),
    "greater_than": _bound("above", "gt"),
    "less_than_equal": _bound("at most", "le"),
    "less_than": _bound("below", "lt"),
    "missing": lambda _ctx: "is required",
    "extra_forbidden": lambda _ctx: "is not a key this file takes (a typo?)",
    "int_parsing": lambda _ctx: "must be a whole number",
    "int_type": lambda _ctx: "must be a whole number",
    "int_from_float": lambda _ctx: "must be a whole number",
    "float_parsing": lambda _ctx: "must be a number",
    "float_type": lambda _ctx: "must be a number",
    "decimal_parsing": lambda _ctx: "must be a number",
    "decimal_type": lambda _ctx: "must be a number",
    "finite_number": lambda _ctx: "must be a finite number",
    "bool_parsing": lambda _ctx: "must be true or false",
    "bool_type": lambda _ctx: "must be true or false",
    "string_type": lambda _ctx: "must be text",
    "dict_type": lambda _ctx: "must be a mapping (key: value)",
    "model_type": lambda _ctx: "must be a mapping (key: value)",
    "list_type": lambda _ctx: "must be a list",
    "tuple_type": lambda _ctx: "must be a list",
    "literal_error": lambda ctx: f"must be one of {ctx.get('expected')}",
    "enum": lambda ctx: f"must be one of {ctx.get('expected')}",
    "too_short": lambda ctx: f"needs at least {ctx.get('min_length')} item(s)",
    "string_too_short": lambda ctx: f"needs at least {ctx.get('min_length')} character(s)",
    "date_from_datetime_parsing": lambda _ctx: "must be a date, YYYY-MM-DD",
    "date_parsing": lambda _ctx: "must be a date, YYYY-MM-DD",
    "date_type": lambda _ctx: "must be a date, YYYY-MM-DD",
}


def _plain(value: Any) -> str:
    """A value as a user wrote it: ``-0.035``, not ``Decimal('-0.035')``."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict | list | tuple):
        return type(value).__name__
    return str(value)


def problems(exc: ValidationError, *, show_input: bool = True) -> list[str]:
    """Each error as ``key.path: what is wrong (got X)``."""
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        words = _WORDS.get(error["type"])
        what = (
            words(error.get("ctx") or {})
            if words is not None
            else str(error["msg"]).removeprefix("Value error, ")
        )
        got = ""
        scalar = not isinstance(error.get("input"), dict | list | tuple)
        if show_input and scalar and "input" in error and error["type"] != "missing":
            got = f" (got {_plain(error['input'])})"
        out.append(f"{where}: {what}{got}")
    return list(dict.fromkeys(out))  # a union's branches may repeat one problem


def describe(exc: ValidationError, *, show_input: bool = True) -> str:
    """Every problem on one line, ``; ``-separated."""
    return "; ".join(problems(exc, show_input=show_input))

"""CEL, as kfp compiles it: trigger conditions and parameter expression selectors (never eval())."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import cel

from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.values import normalise_numbers


class ExpressionError(Exception):
    """A CEL expression could not be compiled or evaluated; the message quotes it."""


@lru_cache(maxsize=1024)
def _program(expression: str) -> Any:
    try:
        return cel.compile(expression)
    except ValueError as exc:
        raise ExpressionError(f"cannot parse {expression!r}: {exc}") from None


def condition_holds(expression: str, parameters: JsonObject) -> bool:
    """Evaluate a triggerPolicy.condition over the task's own input parameters."""
    program = _program(expression)
    try:
        result = program.execute({"inputs": {"parameter_values": parameters}})
    except Exception as exc:  # the library raises KeyError, TypeError, RuntimeError, ...
        raise ExpressionError(f"cannot evaluate {expression!r}: {exc!r}") from None
    if not isinstance(result, bool):
        raise ExpressionError(f"condition {expression!r} gave {result!r}, not a boolean")
    return result


def select(expression: str, value: Json) -> Json:
    """Apply a parameterExpressionSelector (`parseJson(string_value)["b"]`) to a value."""
    program = _program(expression)
    context = cel.Context()
    context.add_function("parseJson", json.loads)
    context.add_variable("string_value", value if isinstance(value, str) else json.dumps(value))
    try:
        result: Json = program.execute(context)
    except Exception as exc:
        raise ExpressionError(f"cannot evaluate {expression!r}: {exc!r}") from None
    return normalise_numbers(result)

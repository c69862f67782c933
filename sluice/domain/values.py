"""Parameter values typed by their declared ParameterType, as KFP's Go backend and Vertex render them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from sluice.domain.ir import Interface, ParamDef, ParamType
from sluice.domain.jsontypes import Json, JsonObject
from sluice.errors import InvalidArgument

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def normalise_numbers(value: Json) -> Json:
    """Integral doubles become ints, also inside lists and structs (`[0.0, 1.0]` → `[0, 1]`).

    The IR and protobuf Struct store every number as a double; KFP's Go backend and Vertex hand
    integral ones to tasks as ints, and user code (`sum(...) -> int`) depends on it.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return int(value)
    if isinstance(value, list):
        return [normalise_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise_numbers(v) for k, v in value.items()}
    return value


def coerce(value: Json, ptype: ParamType, field: str) -> Json:
    """`value` checked against `ptype` and put in its canonical form; InvalidArgument names `field`."""
    if ptype is ParamType.STRING:
        if isinstance(value, str):
            return value
    elif ptype is ParamType.NUMBER_INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif ptype is ParamType.NUMBER_DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif ptype is ParamType.BOOLEAN:
        if isinstance(value, bool):
            return value
    elif ptype is ParamType.LIST:
        if isinstance(value, list):
            return normalise_numbers(value)
    elif ptype in (ParamType.STRUCT, ParamType.TASK_FINAL_STATUS, ParamType.TASK_CONFIG) and isinstance(value, dict):
        return normalise_numbers(value)
    raise InvalidArgument(f"expected {_describe(ptype)}, got {json.dumps(value)}", field)


def parse_text(text: str, ptype: ParamType, field: str) -> Json:
    """A command-line value (`-p name=value`) parsed by the parameter's declared type."""
    if ptype is ParamType.STRING:
        return text
    if ptype is ParamType.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise InvalidArgument(f"expected a boolean (true or false), got {text!r}", field)
    try:
        parsed: Json = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidArgument(f"expected {_describe(ptype)}, got {text!r}", field) from None
    return coerce(parsed, ptype, field)


def parse_pair(item: str, option: str) -> tuple[str, str]:
    """`NAME=VALUE` from the command line as (NAME, VALUE text)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InvalidArgument(f"expected NAME=VALUE, got {item!r}", option)
    return key, value


def declared(params: Mapping[str, ParamDef], name: str, missing: str, field: str) -> ParamDef:
    """The declaration of input parameter `name`; else InvalidArgument "`missing` 'name' (it has: ...)"."""
    found = params.get(name)
    if found is None:
        known = ", ".join(sorted(params)) or "none"
        raise InvalidArgument(f"{missing} {name!r} (it has: {known})", field)
    return found


NO_PIPELINE_INPUT = "the pipeline has no input parameter"


def bind_inputs(interface: Interface, given: Mapping[str, Json], field: str) -> JsonObject:
    """The pipeline's input parameters: given values typed, defaults applied, unknown or missing rejected.

    An optional input without a default and without a value is simply absent (as on Vertex).
    """
    for name in given:
        declared(interface.parameters, name, NO_PIPELINE_INPUT, f"{field}.{name}")
    bound: JsonObject = {}
    for name, spec in interface.parameters.items():
        if name in given:
            bound[name] = coerce(given[name], spec.type, f"{field}.{name}")
        elif spec.has_default:
            bound[name] = coerce(spec.default, spec.type, f"{field}.{name}")
        elif not spec.optional:
            raise InvalidArgument(f"the pipeline input {name!r} ({spec.type.value}) is required", f"{field}.{name}")
    return bound


def _describe(ptype: ParamType) -> str:
    return {
        ParamType.STRING: "a string",
        ParamType.NUMBER_INTEGER: "an integer",
        ParamType.NUMBER_DOUBLE: "a number",
        ParamType.BOOLEAN: "a boolean",
        ParamType.LIST: "a JSON list",
        ParamType.STRUCT: "a JSON object",
    }.get(ptype, f"a {ptype.value} value")

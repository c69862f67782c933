"""Placeholders: `{{$...}}` in command/args and in input values, plus Concat and IfPresent.

The forms are those of kfp `dsl/placeholders.py`; anything else is rejected when the spec is loaded,
not silently turned into `null` as kfp.local does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sluice.domain.jsontypes import Json, JsonObject
from sluice.errors import InvalidArgument

_PLACEHOLDER = re.compile(r"\{\{\$(?P<body>[^{}]*)\}\}")
_NAME = r"\[(?:'(?P<q1>[^']*)'|\"(?P<q2>[^\"]*)\")\]"
_INPUT_PARAM = re.compile(rf"^\.inputs\.parameters{_NAME}$")
_ARTIFACT = re.compile(
    rf"^\.(?P<side>inputs|outputs)\.artifacts{_NAME}\.(?P<attr>path|uri|metadata)"
    r"(?:\[(?:'(?P<k1>[^']*)'|\"(?P<k2>[^\"]*)\")\])?$"
)
_OUTPUT_PARAM_FILE = re.compile(rf"^\.outputs\.parameters{_NAME}\.output_file$")
JOB_PLACEHOLDERS = frozenset(
    {
        "pipeline_job_name",
        "pipeline_job_resource_name",
        "pipeline_job_uuid",
        "pipeline_task_name",
        "pipeline_task_uuid",
        "pipeline_root",
        "pipeline_job_create_time_utc",
        "pipeline_job_schedule_time_utc",
        "workspace_path",
    }
)


class PlaceholderError(Exception):
    """A placeholder could not be resolved for this task (the task fails with this message)."""


@dataclass(frozen=True)
class Context:
    """What placeholders resolve against: the ExecutorInput JSON and the job-level values."""

    executor_input: JsonObject
    job: Mapping[str, str]


def _name(match: re.Match[str]) -> str:
    return match.group("q1") if match.group("q1") is not None else match.group("q2")


def _known(body: str) -> bool:
    if body in {"", ".outputs.output_file"} or body.lstrip(".") in JOB_PLACEHOLDERS:
        return True
    return any(p.match(body) for p in (_INPUT_PARAM, _ARTIFACT, _OUTPUT_PARAM_FILE))


def check_command_placeholders(item: str, field: str) -> None:
    """Reject an unknown placeholder form or a malformed Concat / IfPresent in one command or args item."""
    structured = _structured(item)
    if structured is not None:
        for part in _structured_parts(structured, field):
            check_command_placeholders(part, field)
        return
    for match in _PLACEHOLDER.finditer(item):
        if not _known(match.group("body")):
            raise InvalidArgument(f"unsupported placeholder {match.group(0)!r}", field)


def _structured(item: str) -> dict[str, Json] | None:
    if not item.startswith("{") or ('"Concat"' not in item and '"IfPresent"' not in item):
        return None
    try:
        value = json.loads(item)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and ({"Concat"} == value.keys() or {"IfPresent"} == value.keys()) else None


def _structured_parts(value: dict[str, Json], field: str) -> list[str]:
    if "Concat" in value:
        parts = value["Concat"]
        if not isinstance(parts, list):
            raise InvalidArgument("Concat takes a list", field)
        return [p if isinstance(p, str) else json.dumps(p) for p in parts]
    spec = value["IfPresent"]
    if not isinstance(spec, dict) or not isinstance(spec.get("InputName"), str):
        raise InvalidArgument("IfPresent needs InputName", field)
    items = [*_as_list(spec.get("Then"), field), *_as_list(spec.get("Else"), field)]
    return [p if isinstance(p, str) else json.dumps(p) for p in items]


def _as_list(value: Json, field: str) -> list[Json]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise InvalidArgument("IfPresent Then/Else take a list", field)


def resolve_command(items: tuple[str, ...] | list[str], ctx: Context) -> list[str]:
    """Command or args with every placeholder resolved; each item stays one argv element."""
    result: list[str] = []
    for item in items:
        result.extend(_expand(item, ctx))
    return result


def _expand(item: str, ctx: Context) -> list[str]:
    structured = _structured(item)
    if structured is None:
        return [_substitute(item, ctx)]
    if "Concat" in structured:
        return ["".join("".join(_expand(p, ctx)) for p in _structured_parts(structured, "Concat"))]
    spec = structured["IfPresent"]
    assert isinstance(spec, dict)
    name = str(spec["InputName"])
    present = _input_present(ctx.executor_input, name)
    branch = _as_list(spec.get("Then") if present else spec.get("Else"), "IfPresent")
    out: list[str] = []
    for part in branch:
        out.extend(_expand(part if isinstance(part, str) else json.dumps(part), ctx))
    return out


def _input_present(executor_input: JsonObject, name: str) -> bool:
    inputs = executor_input.get("inputs")
    if not isinstance(inputs, dict):
        return False
    params, arts = inputs.get("parameterValues"), inputs.get("artifacts")
    return (isinstance(params, dict) and name in params) or (isinstance(arts, dict) and name in arts)


def _substitute(item: str, ctx: Context) -> str:
    return _PLACEHOLDER.sub(lambda m: _lookup(m.group("body"), ctx), item)


def _text(value: Json) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _lookup(body: str, ctx: Context) -> str:
    ei = ctx.executor_input
    if body == "":
        return json.dumps(ei)
    if body.lstrip(".") in JOB_PLACEHOLDERS:
        return ctx.job.get(body.lstrip("."), "")
    if body == ".outputs.output_file":
        return _text(_dig(ei, "outputs", "outputFile"))
    if m := _INPUT_PARAM.match(body):
        params = _dig(ei, "inputs", "parameterValues")
        if not isinstance(params, dict) or _name(m) not in params:
            raise PlaceholderError(f"input parameter {_name(m)!r} has no value (wrap optional inputs in IfPresent)")
        return _text(params[_name(m)])
    if m := _OUTPUT_PARAM_FILE.match(body):
        return _text(_dig(ei, "outputs", "parameters", _name(m), "outputFile"))
    if m := _ARTIFACT.match(body):
        artifacts = _dig(ei, m.group("side"), "artifacts", _name(m), "artifacts")
        if not isinstance(artifacts, list) or not artifacts or not isinstance(artifacts[0], dict):
            raise PlaceholderError(f"artifact {_name(m)!r} has no value")
        art = artifacts[0]
        attr = m.group("attr")
        if attr in ("path", "uri"):
            return _text(art.get("uri", ""))
        metadata = art.get("metadata") or {}
        key = m.group("k1") if m.group("k1") is not None else m.group("k2")
        return _text(metadata if key is None else metadata.get(key) if isinstance(metadata, dict) else None)
    raise PlaceholderError(f"unsupported placeholder {{{{${body}}}}}")


def _dig(value: Json, *keys: str) -> Json:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def resolve_value(value: Json, params: Mapping[str, Json], job: Mapping[str, str]) -> Json:
    """An input constant with `{{$.inputs.parameters[...]}}` and job placeholders resolved (f-strings)."""
    if isinstance(value, str):
        ctx = Context({"inputs": {"parameterValues": dict(params)}}, job)
        if _PLACEHOLDER.fullmatch(value) and _INPUT_PARAM.match(value[3:-2]):
            # A whole-value reference keeps the referenced value's type.
            m = _INPUT_PARAM.match(value[3:-2])
            assert m is not None
            if _name(m) in params:
                return params[_name(m)]
        return _substitute(value, ctx)
    if isinstance(value, list):
        return [resolve_value(v, params, job) for v in value]
    if isinstance(value, dict):
        return {k: resolve_value(v, params, job) for k, v in value.items()}
    return value

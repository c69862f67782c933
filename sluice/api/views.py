"""Stored records as response JSON: the PipelineJob of each API version, enum encoding, readMask, Operations."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from sluice.api.schemas import camel
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.listing import JobPage
from sluice.domain.operation import OperationRecord
from sluice.domain.records import JobRecord, TaskRecord
from sluice.domain.resource import render_job, timestamp
from sluice.domain.states import PipelineState, TaskState
from sluice.errors import InvalidArgument


class Version(str, Enum):
    """The API version a request came in on; it decides the fields and the `@type` URLs of the answer."""

    V1 = "v1"
    V1BETA1 = "v1beta1"  # adds taskUniqueName in taskDetails and originalPipelineJobId


@dataclass(frozen=True)
class View:
    """How to encode an answer."""

    version: Version = Version.V1
    int_enums: bool = False  # the request carried `$alt=json;enum-encoding=int` (every generated client does)


def type_url(version: Version, message: str) -> str:
    """The `@type` of an aiplatform message packed in an Any (it must be one the client has loaded)."""
    return f"type.googleapis.com/google.cloud.aiplatform.{version.value}.{message}"


EMPTY = "type.googleapis.com/google.protobuf.Empty"

_V1_FIELDS = frozenset({
    "name", "displayName", "createTime", "startTime", "endTime", "updateTime", "pipelineSpec", "state", "jobDetail",
    "error", "labels", "runtimeConfig", "encryptionSpec", "serviceAccount", "network", "reservedIpRanges",
    "pscInterfaceConfig", "templateUri", "templateMetadata", "scheduleName", "preflightValidations",
})
FIELDS = {Version.V1: _V1_FIELDS, Version.V1BETA1: _V1_FIELDS | {"originalPipelineJobId", "pipelineTaskRerunConfigs"}}
# PipelineJob.RuntimeConfig fields; a job stored by `sluice run job.json` may hold others, which are not served.
_RUNTIME_CONFIG = frozenset({"parameters", "gcsOutputDirectory", "parameterValues", "failurePolicy", "inputArtifacts"})

# Enum value names in number order (proto3 JSON writes either; the client sends and reads both).
PIPELINE_STATES = tuple(s.value for s in PipelineState)
TASK_STATES = tuple(s.value for s in TaskState)
EXECUTION_STATES = ("STATE_UNSPECIFIED", "NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELLED")
ARTIFACT_STATES = ("STATE_UNSPECIFIED", "PENDING", "LIVE")
FAILURE_POLICIES = ("PIPELINE_FAILURE_POLICY_UNSPECIFIED", "PIPELINE_FAILURE_POLICY_FAIL_SLOW",
                    "PIPELINE_FAILURE_POLICY_FAIL_FAST")


def _enum(value: Json, names: tuple[str, ...], as_int: bool) -> Json:
    if isinstance(value, str) and value in names:
        return names.index(value) if as_int else value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value if as_int else names[value]
    return value


def _objects(value: Json) -> list[JsonObject]:
    """The objects of a JSON list (or of a JSON object's values)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [item for item in items if isinstance(item, dict)]


def _encode_task(task: JsonObject, as_int: bool) -> None:
    task["state"] = _enum(task.get("state"), TASK_STATES, as_int)
    for status in _objects(task.get("pipelineTaskStatus")):
        status["state"] = _enum(status.get("state"), TASK_STATES, as_int)
    execution = task.get("execution")
    if isinstance(execution, dict) and "state" in execution:
        execution["state"] = _enum(execution["state"], EXECUTION_STATES, as_int)
    for side in ("inputs", "outputs"):
        for artifacts in _objects(task.get(side)):
            for artifact in _objects(artifacts.get("artifacts")):
                if "state" in artifact:
                    artifact["state"] = _enum(artifact["state"], ARTIFACT_STATES, as_int)


def _encode_enums(body: JsonObject, as_int: bool) -> None:
    # Only freshly rendered parts are changed in place; runtimeConfig is the record's own dict, so it is copied.
    body["state"] = _enum(body.get("state"), PIPELINE_STATES, as_int)
    config = body.get("runtimeConfig")
    if isinstance(config, dict):
        config = {k: v for k, v in config.items() if k in _RUNTIME_CONFIG}
        if "failurePolicy" in config:
            config["failurePolicy"] = _enum(config["failurePolicy"], FAILURE_POLICIES, as_int)
        body["runtimeConfig"] = config
    detail = body.get("jobDetail")
    if isinstance(detail, dict):
        for task in _objects(detail.get("taskDetails")):
            _encode_task(task, as_int)


def job_json(job: JobRecord, tasks: Iterable[TaskRecord] | None, extra: JsonObject, view: View) -> JsonObject:
    """The PipelineJob of `view.version`; `tasks=None` leaves out jobDetail."""
    allowed = FIELDS[view.version]
    rendered = render_job(job, tasks, unique_names=view.version is Version.V1BETA1)
    # A rerun's fields exist only in v1beta1; the client parses Operations strictly, so nothing else may show.
    body = {k: v for k, v in rendered.items() if k in allowed}
    body.update({k: v for k, v in extra.items() if k in allowed})
    _encode_enums(body, view.int_enums)
    return body


Mask = tuple[tuple[str, ...], ...]


def parse_mask(text: str, version: Version) -> Mask:
    """A readMask (`name,displayName,pipelineSpec.pipelineInfo`, camelCase or snake_case) as camelCase paths."""
    paths = []
    for raw in text.split(","):
        path = tuple(camel(part.strip()) for part in raw.strip().split("."))
        if not raw.strip():
            continue
        if any(not part for part in path) or path[0] not in FIELDS[version]:
            raise InvalidArgument(f"unknown field path {raw.strip()!r}", "readMask")
        paths.append(path)
    return tuple(paths)


def _copy(source: JsonObject, target: JsonObject, path: tuple[str, ...]) -> None:
    key, rest = path[0], path[1:]
    if key not in source:
        return
    value = source[key]
    if not rest or not isinstance(value, dict):
        target[key] = value
        return
    child = target.get(key)
    if child is value:  # the whole field is in already
        return
    if not isinstance(child, dict):
        child = target[key] = {}
    _copy(value, child, rest)


def masked(body: JsonObject, mask: Mask) -> JsonObject:
    """Only the fields `mask` names (nested paths apply inside messages and the pipelineSpec Struct)."""
    result: JsonObject = {}
    for path in mask:
        _copy(body, result, path)
    return result


def list_job_json(job: JobRecord, extra: JsonObject, view: View, mask: Mask | None) -> JsonObject:
    """A job of a list page: no taskDetails ("not available in the list view"); contexts only when masked in."""
    wants_detail = mask is not None and any(path[0] == "jobDetail" for path in mask)
    body = job_json(job, [] if wants_detail else None, extra, view)
    detail = body.get("jobDetail")
    if isinstance(detail, dict):
        detail.pop("taskDetails", None)
    return masked(body, mask) if mask else body


def _dumps(value: Json) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def list_page_text(page: JobPage, view: View, next_token: str | None) -> str:
    """A ListPipelineJobs answer with each job's stored pipelineSpec spliced in as it is, never decoded:
    decoding and re-encoding a hundred specs was most of a page's time, and of its garbage."""
    raw = page.raw_specs or {}
    items = []
    for job in page.jobs:
        body = list_job_json(job, page.extras[job.job_id], view, None)
        body.pop("pipelineSpec", None)
        items.append(f'{_dumps(body)[:-1]},"pipelineSpec":{raw[job.job_id]}}}')  # body is never empty: it has a name
    parts = [f'"pipelineJobs":[{",".join(items)}]'] if items else []
    if next_token:
        parts.append(f'"nextPageToken":{_dumps(next_token)}')
    return "{" + ",".join(parts) + "}"


def operation_json(op: OperationRecord) -> JsonObject:
    """The google.longrunning.Operation; only real fields, since the client parses it strictly."""
    body: JsonObject = {
        "name": op.name,
        "metadata": {"@type": op.metadata_type, "genericMetadata": {
            "createTime": timestamp(op.create_time), "updateTime": timestamp(op.update_time)}},
        "done": op.done,
    }
    if op.error is not None:
        body["error"] = op.error
    elif op.done and op.response is not None:
        body["response"] = op.response
    return body

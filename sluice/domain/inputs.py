"""Resolving a task's inputs from its parent DAG, its upstream siblings and its constants."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sluice.domain.conditions import ExpressionError, select
from sluice.domain.ir import Component, ParamSource, PipelineSpecView, TaskSpec
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.placeholders import PlaceholderError, resolve_value
from sluice.domain.records import Artifact, JobRecord, TaskRecord, Values
from sluice.domain.states import TaskState
from sluice.domain.values import coerce, normalise_numbers
from sluice.errors import InvalidArgument


class InputError(Exception):
    """A task's inputs cannot be resolved; the task fails with this message."""


def job_placeholders(job: JobRecord, task_name: str, task_id: int) -> dict[str, str]:
    """Values of the `{{$.pipeline_*}}` placeholders for one task."""
    created = job.create_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "pipeline_job_name": job.job_id,
        "pipeline_job_resource_name": job.name,
        "pipeline_job_uuid": job.uuid,
        "pipeline_task_name": task_name,
        "pipeline_task_uuid": str(task_id),
        "pipeline_root": job.output_dir,
        "pipeline_job_create_time_utc": created,
        "pipeline_job_schedule_time_utc": created,
        "workspace_path": f"{job.output_dir}/{job.job_id}/workspace",
    }


def final_status(job: JobRecord, task: TaskRecord) -> JsonObject:
    """The PipelineTaskFinalStatus value an exit handler receives about `task`."""
    state = {TaskState.SKIPPED: "SUCCEEDED", TaskState.NOT_TRIGGERED: "SUCCEEDED"}.get(task.state, task.state.value)
    status: JsonObject = {
        "state": state,
        "pipelineJobResourceName": job.name,
        "pipelineTaskName": task.name,
    }
    status["error"] = task.error if task.error else {}
    return status


def resolve_inputs(
    spec: PipelineSpecView,
    job: JobRecord,
    task: TaskSpec,
    task_id: int,
    parent: TaskRecord,
    siblings: Mapping[str, TaskRecord],
) -> Values:
    """The task's typed input parameters and artifacts; raise InputError when they cannot be formed."""
    comp = spec.component(task.component)
    params: JsonObject = {}
    constants: dict[str, Json] = {}
    for name, src in task.parameters.items():
        if src.is_constant:
            constants[name] = src.constant
            continue
        found, value = _param_value(job, src, parent, siblings)
        if found and src.selector:
            try:
                value = select(src.selector, value)
            except ExpressionError as exc:
                raise InputError(f"input {name!r}: {exc}") from None
        if found:
            params[name] = value
    placeholders = job_placeholders(job, task.name, task_id)
    for name, constant in constants.items():
        try:
            params[name] = resolve_value(constant, params, placeholders)
        except PlaceholderError as exc:
            raise InputError(f"input {name!r}: {exc}") from None
    return Values(parameters=_typed(comp, params), artifacts=_artifacts(task, parent, siblings))


def _param_value(
    job: JobRecord, src: ParamSource, parent: TaskRecord, siblings: Mapping[str, TaskRecord]
) -> tuple[bool, Json]:
    if src.component_input is not None:
        return _from_parent(parent.inputs.parameters, src.component_input)
    if src.final_status_of is not None:
        return True, final_status(job, siblings[src.final_status_of])
    if src.producer is not None:
        producer = siblings.get(src.producer)
        if producer is None or src.output_key not in producer.outputs.parameters:
            return False, None
        return True, producer.outputs.parameters[src.output_key or ""]
    return False, None


def _from_parent(params: JsonObject, name: str) -> tuple[bool, Json]:
    if name in params:
        return True, params[name]
    # kfp quirk: an f-string over a loop item's field refers to `<item input>-subvar-<field>`, which the
    # compiler never declares; the value is that field of the item.
    base, sep, field = name.rpartition("-subvar-")
    item = params.get(base)
    if sep and isinstance(item, str):
        try:
            item = json.loads(item)
        except json.JSONDecodeError:
            return False, None
    if sep and isinstance(item, dict) and field in item:
        return True, item[field]
    return False, None


def _typed(comp: Component, params: JsonObject) -> JsonObject:
    typed: JsonObject = {}
    for name, value in params.items():
        declared = comp.inputs.parameters.get(name)
        if declared is None:
            typed[name] = normalise_numbers(value)  # injected pipelinechannel inputs: keep as they are
            continue
        try:
            typed[name] = coerce(value, declared.type, name)
        except InvalidArgument as exc:
            raise InputError(f"input {name!r}: {exc.message}") from None
    for name, declared in comp.inputs.parameters.items():
        if name not in typed and declared.has_default:
            typed[name] = coerce(declared.default, declared.type, name)
    return typed


def _artifacts(task: TaskSpec, parent: TaskRecord, siblings: Mapping[str, TaskRecord]) -> dict[str, list[Artifact]]:
    result: dict[str, list[Artifact]] = {}
    for name, src in task.artifacts.items():
        if src.component_input is not None:
            found = parent.inputs.artifacts.get(src.component_input)
        else:
            producer = siblings.get(src.producer or "")
            found = producer.outputs.artifacts.get(src.output_key or "") if producer else None
        if found:
            result[name] = list(found)
    return result

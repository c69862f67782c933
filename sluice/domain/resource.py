"""A stored job rendered as the Vertex `PipelineJob` resource (proto3 JSON: camelCase, int64 as strings)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.records import (
    CACHED_FROM,
    FAILED_ATTEMPTS,
    IMAGE,
    PROCESS,
    Artifact,
    JobRecord,
    TaskKind,
    TaskRecord,
    task_paths,
)
from sluice.domain.states import TaskState

# google.cloud.aiplatform.v1.Execution.State for a task's execution.
_EXECUTION_STATE = {
    TaskState.PENDING: "NEW",
    TaskState.RUNNING: "RUNNING",
    TaskState.SUCCEEDED: "COMPLETE",
    TaskState.FAILED: "FAILED",
    TaskState.SKIPPED: "CACHED",
    TaskState.CANCELLED: "CANCELLED",
    TaskState.CANCEL_PENDING: "RUNNING",
    TaskState.CANCELLING: "RUNNING",
}


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _metadata_store(job: JobRecord) -> str:
    return f"{job.parent}/metadataStores/default"


def render_job(job: JobRecord, tasks: Iterable[TaskRecord] | None, unique_names: bool = False) -> JsonObject:
    """The PipelineJob JSON; `tasks=None` leaves out jobDetail (the list view)."""
    body: JsonObject = {
        "name": job.name,
        "displayName": job.display_name,
        "createTime": timestamp(job.create_time),
        "updateTime": timestamp(job.update_time),
        "pipelineSpec": job.spec,
        "state": job.state.value,
        "labels": dict(job.labels),
        "runtimeConfig": job.runtime_config,
    }
    if job.start_time:
        body["startTime"] = timestamp(job.start_time)
    if job.end_time:
        body["endTime"] = timestamp(job.end_time)
    if job.error:
        body["error"] = job.error
    if job.rerun:
        body.update(job.rerun)
    if tasks is not None:
        store = _metadata_store(job)
        body["jobDetail"] = {
            "pipelineContext": {"name": f"{store}/contexts/{job.pipeline_name}", "displayName": job.pipeline_name,
                                "schemaTitle": "system.Pipeline"},
            "pipelineRunContext": {"name": f"{store}/contexts/{job.job_id}", "displayName": job.job_id,
                                   "schemaTitle": "system.PipelineRun"},
            "taskDetails": _task_details(job, list(tasks), unique_names),
        }
    return body


def _task_details(job: JobRecord, tasks: list[TaskRecord], unique_names: bool) -> list[Json]:
    paths = task_paths(tasks) if unique_names else {}
    details: list[Json] = []
    for task in tasks:
        detail = render_task(job, task)
        if unique_names:
            detail["taskUniqueName"] = paths[task.task_id]
        details.append(detail)
    return details


def render_task(job: JobRecord, task: TaskRecord) -> JsonObject:
    """One PipelineTaskDetail."""
    detail: JsonObject = {
        "taskId": str(task.task_id),
        "taskName": task.name,
        "createTime": timestamp(task.create_time),
        "state": task.state.value,
        "execution": _execution(job, task),
        "pipelineTaskStatus": [
            {"updateTime": timestamp(h.update_time), "state": h.state.value, **({"error": h.error} if h.error else {})}
            for h in task.history
        ],
    }
    if task.parent_id is not None:
        detail["parentTaskId"] = str(task.parent_id)
    if task.start_time:
        detail["startTime"] = timestamp(task.start_time)
    if task.end_time:
        detail["endTime"] = timestamp(task.end_time)
    if task.error:
        detail["error"] = task.error
    if task.kind is TaskKind.CONTAINER:
        failed = task.detail.get(FAILED_ATTEMPTS)
        container: JsonObject = {"mainJob": str(task.detail.get(PROCESS, ""))}
        if isinstance(failed, list) and failed:
            container["failedMainJobs"] = [str(f) for f in failed]
        detail["executorDetail"] = {"containerDetail": container}
    inputs = _artifact_lists(job, task.inputs.artifacts)
    outputs = _artifact_lists(job, task.outputs.artifacts)
    if inputs:
        detail["inputs"] = inputs
    if outputs:
        detail["outputs"] = outputs
    return detail


def _execution(job: JobRecord, task: TaskRecord) -> JsonObject:
    metadata: JsonObject = {f"input:{k}": v for k, v in task.inputs.parameters.items()}
    metadata.update({f"output:{k}": v for k, v in task.outputs.parameters.items()})
    if IMAGE in task.detail:
        metadata["image"] = task.detail[IMAGE]
    source = task.detail.get(CACHED_FROM)
    if isinstance(source, dict):  # a SKIPPED task: which execution its outputs come from
        parent = job.parent
        metadata["cachedFromPipelineJob"] = f"{parent}/pipelineJobs/{source.get('jobId')}"
        metadata["cachedFromTaskId"] = source.get("taskId")
    execution: JsonObject = {
        "name": f"{_metadata_store(job)}/executions/{task.task_id}",
        "displayName": task.name,
        "schemaTitle": "system.DAGExecution" if task.kind is TaskKind.DAG else "system.ContainerExecution",
        "metadata": metadata,
        "createTime": timestamp(task.create_time),
    }
    state = _EXECUTION_STATE.get(task.state)
    if state:
        execution["state"] = state
    return execution


def _artifact_lists(job: JobRecord, artifacts: dict[str, list[Artifact]]) -> JsonObject:
    store = _metadata_store(job)
    return {
        key: {
            "artifacts": [
                {
                    "name": f"{store}/artifacts/{a.artifact_id or a.name}",
                    "displayName": a.name,
                    "uri": a.uri,
                    "schemaTitle": a.schema_title,
                    "schemaVersion": a.schema_version,
                    "metadata": a.metadata,
                    "state": "LIVE",
                }
                for a in arts
            ]
        }
        for key, arts in artifacts.items()
    }

"""Reruns: a new job that reuses what SUCCEEDED in an original job and runs the rest again.

Vertex (v1beta1) names the original by its numeric id (`originalPipelineJobId`, the value of its
`vertex-ai-pipelines-run-billing-id` label) and takes one `pipelineTaskRerunConfigs` entry per task:
`taskId` / `taskName` (the `taskUniqueName`), `inputs.parameterValues` / `inputs.artifacts` overrides,
`skipTask`, `skipDownstreamTasks`. What Sluice does with them:

- a task that SUCCEEDED in the original is reused (SKIPPED, its outputs carried over) when its inputs in
  the new job are the original's, unless its config says `skipTask: false` or overrides an input;
- `skipDownstreamTasks: true` reuses the tasks downstream of it (in its DAG) even if their inputs changed;
- every other task runs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.records import Artifact, Snapshot, TaskRecord, task_paths
from sluice.domain.values import normalise_numbers
from sluice.errors import InvalidArgument

FIELD = "pipelineTaskRerunConfigs"


@dataclass(frozen=True)
class TaskRerunConfig:
    """One pipelineTaskRerunConfigs entry."""

    task_id: int | None = None
    task_name: str | None = None
    parameter_values: JsonObject = field(default_factory=dict)
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)
    skip_task: bool | None = None
    skip_downstream: bool = False


@dataclass(frozen=True)
class RerunRequest:
    """What a rerun asks for, as stored with the new job."""

    original_numeric_id: int
    configs: tuple[TaskRerunConfig, ...] = ()

    def to_json(self) -> JsonObject:
        """The stored (and echoed) form, Vertex camelCase."""
        return {"originalPipelineJobId": str(self.original_numeric_id), FIELD: [_config_json(c) for c in self.configs]}


@dataclass(frozen=True)
class RerunPlan:
    """The original's succeeded tasks and the rerun configs, both keyed by task path (`taskUniqueName`)."""

    original_job_id: str
    succeeded: Mapping[str, TaskRecord]
    overrides: Mapping[str, TaskRerunConfig]


def _get(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def _artifact(value: Any, where: str) -> Artifact:
    if not isinstance(value, dict) or not isinstance(value.get("uri"), str):
        raise InvalidArgument("an artifact needs a uri", where)
    kind = value.get("type")
    kind = kind if isinstance(kind, dict) else {}
    metadata = value.get("metadata")
    return Artifact(name=str(value.get("name", "")), uri=value["uri"],
                    schema_title=str(kind.get("schemaTitle", kind.get("schema_title", "system.Artifact"))),
                    metadata=normalise_numbers(metadata) if isinstance(metadata, dict) else {})  # type: ignore[arg-type]


def _config(value: Any, where: str) -> TaskRerunConfig:
    if not isinstance(value, dict):
        raise InvalidArgument("must be an object", where)
    raw_id = _get(value, "taskId", "task_id")
    try:
        task_id = int(raw_id) if raw_id not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        raise InvalidArgument(f"not an int64: {raw_id!r}", f"{where}.taskId") from None
    name = _get(value, "taskName", "task_name") or None
    inputs = value.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InvalidArgument("must be an object", f"{where}.inputs")
    params = _get(inputs, "parameterValues", "parameter_values") or {}
    arts = inputs.get("artifacts") or {}
    if not isinstance(params, dict) or not isinstance(arts, dict):
        raise InvalidArgument("parameterValues and artifacts must be objects", f"{where}.inputs")
    artifacts = {
        key: [_artifact(a, f"{where}.inputs.artifacts.{key}") for a in (entry or {}).get("artifacts", [])]
        for key, entry in arts.items()
    }
    if task_id is None and name is None:
        raise InvalidArgument("a rerun config names its task by taskId or taskName", where)
    skip = _get(value, "skipTask", "skip_task")
    return TaskRerunConfig(task_id, str(name) if name else None, normalise_numbers(params), artifacts,  # type: ignore[arg-type]
                           bool(skip) if skip is not None else None,
                           bool(_get(value, "skipDownstreamTasks", "skip_downstream_tasks")))


def parse_rerun(body: Mapping[str, Any]) -> RerunRequest | None:
    """The rerun fields of a PipelineJob body, or None when it is not a rerun."""
    original = _get(body, "originalPipelineJobId", "original_pipeline_job_id")
    configs = _get(body, FIELD, "pipeline_task_rerun_configs") or []
    if original in (None, "", 0, "0"):
        if configs:
            raise InvalidArgument("rerun configs need originalPipelineJobId", FIELD)
        return None
    try:
        numeric = int(original)
    except (TypeError, ValueError):
        raise InvalidArgument(f"not an int64: {original!r}", "originalPipelineJobId") from None
    if not isinstance(configs, list):
        raise InvalidArgument("must be a list", FIELD)
    return RerunRequest(numeric, tuple(_config(c, f"{FIELD}[{i}]") for i, c in enumerate(configs)))


def plan_rerun(request: RerunRequest, original: Snapshot) -> RerunPlan:
    """Check the configs against the original job; InvalidArgument names the entry that matches no task."""
    by_id = {t.task_id: t for t in original.tasks}
    paths = task_paths(original.tasks)
    by_path = {p: by_id[i] for i, p in paths.items()}
    overrides: dict[str, TaskRerunConfig] = {}
    for index, config in enumerate(request.configs):
        where = f"{FIELD}[{index}]"
        if config.task_id is not None and config.task_id not in by_id:
            raise InvalidArgument(f"the original job {original.job.job_id} has no task {config.task_id}",
                                  f"{where}.taskId")
        if config.task_name is not None and config.task_name not in by_path:
            raise InvalidArgument(f"the original job {original.job.job_id} has no task {config.task_name!r}",
                                  f"{where}.taskName")
        path = config.task_name if config.task_name is not None else paths[config.task_id or 0]
        overrides[path] = config
    succeeded = {p: t for p, t in by_path.items() if t.state.succeeded}
    return RerunPlan(original.job.job_id, succeeded, overrides)


def _config_json(config: TaskRerunConfig) -> JsonObject:
    out: JsonObject = {}
    if config.task_id is not None:
        out["taskId"] = str(config.task_id)
    if config.task_name is not None:
        out["taskName"] = config.task_name
    inputs: JsonObject = {}
    if config.parameter_values:
        inputs["parameterValues"] = config.parameter_values
    if config.artifacts:
        arts: Json = {k: {"artifacts": [{"name": a.name, "uri": a.uri, "type": {"schemaTitle": a.schema_title},
                                         "metadata": a.metadata} for a in v]} for k, v in config.artifacts.items()}
        inputs["artifacts"] = arts
    if inputs:
        out["inputs"] = inputs
    if config.skip_task is not None:
        out["skipTask"] = config.skip_task
    if config.skip_downstream:
        out["skipDownstreamTasks"] = True
    return out

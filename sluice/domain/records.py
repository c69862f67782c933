"""What the store holds about a job and its tasks, as plain immutable records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.states import PipelineState, TaskState


class TaskKind(str, Enum):
    """What a task row stands for."""

    DAG = "dag"  # the root, a sub-pipeline or a control-flow group: has child tasks, runs nothing
    LOOP = "loop"  # a ParallelFor: its children are its iterations
    ITERATION = "iteration"  # one item of a ParallelFor: its children are the loop body's tasks
    CONTAINER = "container"  # runs a command
    IMPORTER = "importer"  # registers an artifact, runs nothing


@dataclass(frozen=True)
class Artifact:
    """One artifact as tasks exchange it."""

    name: str  # the input/output key it was produced under
    uri: str
    schema_title: str
    schema_version: str = "0.0.1"
    metadata: JsonObject = field(default_factory=dict)
    artifact_id: str = ""  # stable id, rendered as the Vertex Artifact resource name

    def to_json(self) -> JsonObject:
        """The stored form."""
        return {
            "name": self.name,
            "uri": self.uri,
            "schemaTitle": self.schema_title,
            "schemaVersion": self.schema_version,
            "metadata": self.metadata,
            "artifactId": self.artifact_id,
        }

    @staticmethod
    def from_json(value: JsonObject) -> Artifact:
        """Inverse of to_json."""
        metadata = value.get("metadata")
        return Artifact(
            name=str(value.get("name", "")),
            uri=str(value.get("uri", "")),
            schema_title=str(value.get("schemaTitle", "system.Artifact")),
            schema_version=str(value.get("schemaVersion", "0.0.1")),
            metadata=metadata if isinstance(metadata, dict) else {},
            artifact_id=str(value.get("artifactId", "")),
        )


ArtifactMap = dict[str, list[Artifact]]
GROUP_KINDS = frozenset({TaskKind.DAG, TaskKind.LOOP, TaskKind.ITERATION})


@dataclass(frozen=True)
class Values:
    """A task's (or DAG's) parameters and artifacts, on the input or the output side."""

    parameters: JsonObject = field(default_factory=dict)
    artifacts: ArtifactMap = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        """The stored form."""
        arts: JsonObject = {k: [a.to_json() for a in v] for k, v in self.artifacts.items()}
        return {"parameters": self.parameters, "artifacts": arts}

    @staticmethod
    def from_json(value: Json) -> Values:
        """Inverse of to_json."""
        if not isinstance(value, dict):
            return Values()
        params = value.get("parameters")
        arts = value.get("artifacts")
        return Values(
            parameters=params if isinstance(params, dict) else {},
            artifacts={
                k: [Artifact.from_json(a) for a in v if isinstance(a, dict)]
                for k, v in (arts.items() if isinstance(arts, dict) else [])
                if isinstance(v, list)
            },
        )


@dataclass(frozen=True)
class StatusEntry:
    """One line of a task's pipelineTaskStatus history."""

    update_time: datetime
    state: TaskState
    error: JsonObject | None = None


# Keys of TaskRecord.detail: what Sluice keeps about a task beyond Vertex's columns (the renderer shows some).
LAST_LOG = "lastLog"  # the current attempt's log file
PROCESS = "process"  # the current attempt's process (executor ident), once it ended
FAILED_ATTEMPTS = "failedAttempts"  # the processes (or logs) of earlier attempts that failed
IMAGE = "image"  # the container image the IR names (recorded, not pulled)
CACHE_KEY = "cacheKey"  # the task's cache fingerprint
CACHED_FROM = "cachedFrom"  # {"jobId", "taskId"} of the execution a SKIPPED task took its outputs from
NOT_BEFORE = "notBefore"  # a retry's backoff: the next attempt starts after this time
RETRY = "retry"  # the retry policy (max, backoff, factor, cap) the task was created with
RUNS_AFTER_FAILURE = "runsAfterFailure"  # an all-upstream-completed task (exit handler): runs after a failure
RERUN_DOWNSTREAM = "rerunSkipDownstream"  # a rerun reuses what is downstream of this task too
ITERATION_INDEX = "iterationIndex"  # a ParallelFor iteration's position


@dataclass(frozen=True)
class TaskRecord:
    """A task row: a DAG (root, sub-pipeline, group) or a leaf of a job."""

    task_id: int
    job_id: str
    seq: int  # creation order within the job
    parent_id: int | None
    key: str  # the task's key in its parent DAG ("" for the root)
    name: str  # taskInfo.name, as Vertex shows it
    component: str
    kind: TaskKind
    state: TaskState
    create_time: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    attempt: int = 0  # attempts started so far
    inputs: Values = field(default_factory=Values)
    outputs: Values = field(default_factory=Values)
    error: JsonObject | None = None
    detail: JsonObject = field(default_factory=dict)  # executor detail: image, process, log paths, failed attempts
    history: tuple[StatusEntry, ...] = ()
    process: str = ""  # the executor's id of the current attempt's process, once it started


def task_path(task: TaskRecord, by_id: Mapping[int, TaskRecord]) -> str:
    """A task's key path below the root (`parent.child`): unique in its job (task names need not be), shown
    as `taskUniqueName`, and what a rerun matches tasks of two jobs by."""
    parts: list[str] = []
    current: TaskRecord | None = task
    while current is not None and current.parent_id is not None:
        parts.append(current.key)
        current = by_id.get(current.parent_id)
    return ".".join(reversed(parts)) or task.name


def task_paths(tasks: Iterable[TaskRecord]) -> dict[int, str]:
    """task_path of every task of one job, by task id."""
    by_id = {t.task_id: t for t in tasks}
    return {task_id: task_path(t, by_id) for task_id, t in by_id.items()}


def parent_name(project: str, location: str) -> str:
    """`projects/{project}/locations/{location}`: the collection jobs and operations live in."""
    return f"projects/{project}/locations/{location}"


@dataclass(frozen=True)
class JobRecord:
    """A pipeline job row."""

    job_id: str
    numeric_id: int
    name: str  # projects/{p}/locations/{l}/pipelineJobs/{id}
    uuid: str
    display_name: str
    pipeline_name: str
    state: PipelineState
    create_time: datetime
    update_time: datetime
    spec: JsonObject  # pipelineSpec, echoed back unchanged
    runtime_config: JsonObject  # as the user gave it (Vertex camelCase)
    parameters: JsonObject  # the bound, typed pipeline inputs
    output_dir: str  # where artifacts go ({output_dir}/{job_id}/{taskId}/{key})
    labels: dict[str, str] = field(default_factory=dict)
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: JsonObject | None = None
    cancel_requested: bool = False
    fail_fast: bool = False
    rerun: JsonObject | None = None  # a rerun's originalPipelineJobId and pipelineTaskRerunConfigs (Vertex JSON)

    @property
    def parent(self) -> str:
        """`projects/{p}/locations/{l}`, the collection the job is in."""
        return self.name.rsplit("/pipelineJobs/", 1)[0]


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner needs about one job: the job row and all its task rows."""

    job: JobRecord
    tasks: tuple[TaskRecord, ...]

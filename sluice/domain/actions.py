"""What the planner asks for. The store applies these in order, each with compare-and-set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import TaskKind, Values
from sluice.domain.states import PipelineState, TaskState


def task_id_for(job_numeric_id: int, parent_id: int | None, key: str) -> int:
    """The stable int64 taskId of a task: the same job, parent and key always give the same id.

    Deterministic ids make task creation idempotent: a replayed plan (a restarted or second
    orchestrator) collides on the primary key instead of creating a twin.
    """
    digest = hashlib.sha256(f"{job_numeric_id}/{parent_id}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1 or 1


@dataclass(frozen=True)
class SetJob:
    """Move the job from `expected` to `state`."""

    expected: PipelineState
    state: PipelineState
    error: JsonObject | None = None


@dataclass(frozen=True)
class NewTask:
    """Create a task row in `state` (PENDING for a leaf waiting to start, RUNNING for a DAG, or terminal)."""

    task_id: int
    parent_id: int | None
    key: str
    name: str
    component: str
    kind: TaskKind
    state: TaskState
    inputs: Values = field(default_factory=Values)
    outputs: Values = field(default_factory=Values)
    error: JsonObject | None = None
    detail: JsonObject = field(default_factory=dict)


@dataclass(frozen=True)
class Launch:
    """Start the next attempt of a PENDING leaf task (PENDING → RUNNING); the orchestrator runs it."""

    task_id: int


@dataclass(frozen=True)
class Terminate:
    """Stop a running attempt because the job is being cancelled (RUNNING → CANCEL_PENDING)."""

    task_id: int


@dataclass(frozen=True)
class SetTask:
    """Move a task from `expected` to `state`, recording outputs, error and detail when given."""

    task_id: int
    expected: TaskState
    state: TaskState
    outputs: Values | None = None
    error: JsonObject | None = None
    detail: JsonObject | None = None


@dataclass(frozen=True)
class CacheResult:
    """Keep the outputs of SUCCEEDED task `task_id` under its cache key, for later jobs to reuse."""

    task_id: int
    key: str


Action = SetJob | NewTask | Launch | Terminate | SetTask | CacheResult

"""Job and task states with Vertex's names and numbers, and the one table of allowed moves."""

from __future__ import annotations

from enum import Enum


class PipelineState(str, Enum):
    """google.cloud.aiplatform.v1.PipelineState."""

    UNSPECIFIED = "PIPELINE_STATE_UNSPECIFIED"
    QUEUED = "PIPELINE_STATE_QUEUED"  # created, processing not begun
    PENDING = "PIPELINE_STATE_PENDING"  # claimed by an orchestrator, preparing
    RUNNING = "PIPELINE_STATE_RUNNING"  # root DAG is running
    SUCCEEDED = "PIPELINE_STATE_SUCCEEDED"
    FAILED = "PIPELINE_STATE_FAILED"
    CANCELLING = "PIPELINE_STATE_CANCELLING"  # may only go to SUCCEEDED, FAILED or CANCELLED
    CANCELLED = "PIPELINE_STATE_CANCELLED"
    PAUSED = "PIPELINE_STATE_PAUSED"

    @property
    def terminal(self) -> bool:
        """True once the job can no longer change."""
        return self in _TERMINAL_JOB


class TaskState(str, Enum):
    """google.cloud.aiplatform.v1.PipelineTaskDetail.State."""

    UNSPECIFIED = "STATE_UNSPECIFIED"
    PENDING = "PENDING"  # created, waiting for its turn to start
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    CANCEL_PENDING = "CANCEL_PENDING"  # cancel asked, not yet sent to the process
    CANCELLING = "CANCELLING"  # termination sent to the process
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # outputs taken from a cached execution
    NOT_TRIGGERED = "NOT_TRIGGERED"  # trigger policy not met: false condition or an upstream that did not succeed

    @property
    def terminal(self) -> bool:
        """True once the task can no longer change."""
        return self in _TERMINAL_TASK

    @property
    def succeeded(self) -> bool:
        """True when downstream tasks may consume this task's outputs."""
        return self in (TaskState.SUCCEEDED, TaskState.SKIPPED)


_TERMINAL_JOB = frozenset({PipelineState.SUCCEEDED, PipelineState.FAILED, PipelineState.CANCELLED})
_TERMINAL_TASK = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED, TaskState.NOT_TRIGGERED}
)

_P = PipelineState
JOB_MOVES: dict[PipelineState, frozenset[PipelineState]] = {
    _P.QUEUED: frozenset({_P.PENDING, _P.CANCELLING, _P.CANCELLED, _P.FAILED}),
    _P.PENDING: frozenset({_P.RUNNING, _P.CANCELLING, _P.FAILED}),
    _P.RUNNING: frozenset({_P.SUCCEEDED, _P.FAILED, _P.CANCELLING, _P.PAUSED}),
    _P.PAUSED: frozenset({_P.QUEUED, _P.CANCELLING}),
    _P.CANCELLING: frozenset({_P.SUCCEEDED, _P.FAILED, _P.CANCELLED}),
}

_T = TaskState
TASK_MOVES: dict[TaskState, frozenset[TaskState]] = {
    _T.PENDING: frozenset({_T.RUNNING, _T.SUCCEEDED, _T.FAILED, _T.CANCELLED, _T.SKIPPED, _T.NOT_TRIGGERED}),
    _T.RUNNING: frozenset({_T.SUCCEEDED, _T.FAILED, _T.CANCEL_PENDING, _T.CANCELLED}),
    # FAILED -> PENDING is a retry; the planner writes it in the same batch as RUNNING -> FAILED.
    _T.FAILED: frozenset({_T.PENDING}),
    _T.CANCEL_PENDING: frozenset({_T.CANCELLING, _T.CANCELLED, _T.SUCCEEDED, _T.FAILED}),
    _T.CANCELLING: frozenset({_T.CANCELLED, _T.SUCCEEDED, _T.FAILED}),
}


class IllegalTransition(Exception):
    """A move the state table does not allow: a bug in Sluice, never user input."""


def check_job_move(current: PipelineState, new: PipelineState) -> None:
    """Raise IllegalTransition unless the job may go from `current` to `new`."""
    if new not in JOB_MOVES.get(current, frozenset()):
        raise IllegalTransition(f"job cannot go from {current.name} to {new.name}")


def check_task_move(current: TaskState, new: TaskState) -> None:
    """Raise IllegalTransition unless a task may go from `current` to `new`."""
    if new not in TASK_MOVES.get(current, frozenset()):
        raise IllegalTransition(f"task cannot go from {current.name} to {new.name}")

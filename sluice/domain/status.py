"""The google.rpc.Status values the planner writes into tasks and jobs, with Vertex's wording."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from sluice.domain.actions import SetTask
from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import TaskRecord, Values
from sluice.domain.states import TaskState
from sluice.errors import Code


def error(code: Code, message: str) -> JsonObject:
    """A google.rpc.Status value."""
    return {"code": int(code), "message": message}


def failed_names(tasks: Iterable[TaskRecord], most: int = 10) -> list[str]:
    """Names of the failed tasks, first failure first, each once; a long list ends with how many more."""
    failed = sorted((t for t in tasks if t.state is TaskState.FAILED),
                    key=lambda t: (t.end_time or t.create_time, t.seq))
    names = list(dict.fromkeys(t.name for t in failed))
    return names[:most] + ([f"and {len(names) - most} more"] if len(names) > most else [])


def dag_failed(names: list[str]) -> JsonObject:
    """Vertex's error for a DAG (or job) whose tasks failed (code 9, FAILED_PRECONDITION)."""
    message = f"The DAG failed because some tasks failed. The failed tasks are: [{', '.join(names)}]."
    return error(Code.FAILED_PRECONDITION, message)


def finish_group(group_id: int, members: Collection[TaskRecord], cancelled: bool, noun: str,
                 outputs: Callable[[], Values]) -> SetTask:
    """A RUNNING group (DAG, loop) whose members have ended: FAILED naming the failed members, else CANCELLED
    (a member was, or `cancelled`), else SUCCEEDED with its `outputs`."""
    failed = failed_names(members)
    if failed:
        return SetTask(group_id, TaskState.RUNNING, TaskState.FAILED, error=dag_failed(failed))
    if cancelled or any(m.state is TaskState.CANCELLED for m in members):
        return SetTask(group_id, TaskState.RUNNING, TaskState.CANCELLED,
                       error=error(Code.CANCELLED, f"The {noun} was cancelled."))
    return SetTask(group_id, TaskState.RUNNING, TaskState.SUCCEEDED, outputs=outputs())

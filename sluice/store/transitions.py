"""Writing the planner's actions: inserts and compare-and-set updates, each with its history line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sluice.domain.actions import Action, Launch, NewTask, SetJob, SetTask, Terminate
from sluice.domain.states import PipelineState, TaskState, check_job_move, check_task_move
from sluice.errors import Aborted
from sluice.store.tables import pipeline_jobs, task_status_history, tasks


def insert_task(conn: Connection, job_id: str, seq: int, task: NewTask, now: datetime) -> None:
    """Insert a planned task row and its first history line; Aborted if it exists already."""
    terminal = task.state.terminal
    try:
        conn.execute(tasks.insert().values(
            task_id=task.task_id, job_id=job_id, seq=seq, parent_id=task.parent_id, key=task.key,
            name=task.name, component=task.component, kind=task.kind.value, state=task.state.value,
            create_time=now, start_time=now if task.state is TaskState.RUNNING else None,
            end_time=now if terminal else None, attempt=0, inputs=task.inputs.to_json(),
            outputs=task.outputs.to_json(), error=task.error, detail=task.detail,
        ))
    except sa.exc.IntegrityError:
        raise Aborted(f"task {task.task_id} was created concurrently") from None
    history(conn, job_id, task.task_id, task.state, task.error, now)


def history(conn: Connection, job_id: str, task_id: int, state: TaskState, err: Any, now: datetime) -> None:
    """Append one line to a task's pipelineTaskStatus history."""
    conn.execute(task_status_history.insert().values(
        task_id=task_id, job_id=job_id, update_time=now, state=state.value, error=err))


def update(conn: Connection, job_id: str, action: Action, now: datetime) -> None:
    """Apply one state-changing action with compare-and-set."""
    if isinstance(action, SetJob):
        check_job_move(action.expected, action.state)
        values: dict[str, Any] = {"state": action.state.value, "update_time": now}
        if action.state is PipelineState.RUNNING:
            values["start_time"] = now
        if action.state.terminal:
            values["end_time"] = now
        if action.error is not None:
            values["error"] = action.error
        cas(conn, pipeline_jobs, pipeline_jobs.c.job_id == job_id, action.expected.value, values)
        return
    if isinstance(action, Launch):
        set_task(conn, job_id, SetTask(action.task_id, TaskState.PENDING, TaskState.RUNNING), now,
                  {"attempt": tasks.c.attempt + 1})
    elif isinstance(action, Terminate):
        set_task(conn, job_id, SetTask(action.task_id, TaskState.RUNNING, TaskState.CANCEL_PENDING), now, {})
    elif isinstance(action, SetTask):
        set_task(conn, job_id, action, now, {})


def set_task(conn: Connection, job_id: str, action: SetTask, now: datetime, extra: dict[str, Any]) -> None:
    """Move a task (compare-and-set on its state) and record the move in its history."""
    check_task_move(action.expected, action.state)
    values: dict[str, Any] = {"state": action.state.value, **extra}
    if action.state is TaskState.RUNNING:
        values["start_time"] = now
    if not action.state.terminal:
        values["end_time"] = None
    if action.state.terminal:
        values["end_time"] = now
    if action.outputs is not None:
        values["outputs"] = action.outputs.to_json()
    values["error"] = action.error  # every move sets the error it has, None clears an earlier attempt's
    if action.detail is not None:
        values["detail"] = action.detail
    where = sa.and_(tasks.c.task_id == action.task_id, tasks.c.job_id == job_id)
    cas(conn, tasks, where, action.expected.value, values)
    history(conn, job_id, action.task_id, action.state, action.error, now)


def cas(conn: Connection, table: sa.Table, where: Any, expected: str, values: dict[str, Any]) -> None:
    """UPDATE ... WHERE state = expected; Aborted unless exactly one row moved."""
    result = conn.execute(table.update().where(where, table.c.state == expected).values(**values))
    if result.rowcount != 1:
        raise Aborted(f"{table.name}: the row is no longer in state {expected}")

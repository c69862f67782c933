"""Writing the planner's actions: inserts and compare-and-set updates, each with its history line.

Inserts (new tasks, history lines) are batched by the Store into one statement per kind and apply: a
ParallelFor step creates many rows, and building one statement per row was most of its store time.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sluice.domain.actions import Action, Launch, NewTask, SetJob, SetTask, Terminate
from sluice.domain.states import PipelineState, TaskState, check_job_move, check_task_move
from sluice.errors import Aborted
from sluice.store.tables import pipeline_jobs, task_status_history, tasks

Row = dict[str, Any]


def task_row(job_id: str, seq: int, task: NewTask, now: datetime) -> tuple[Row, Row]:
    """The tasks row of a planned task and its first history line (inserted in batches by the Store)."""
    row = {
        "task_id": task.task_id, "job_id": job_id, "seq": seq, "parent_id": task.parent_id, "key": task.key,
        "name": task.name, "component": task.component, "kind": task.kind.value, "state": task.state.value,
        "create_time": now, "start_time": now if task.state is TaskState.RUNNING else None,
        "end_time": now if task.state.terminal else None, "attempt": 0, "inputs": task.inputs.to_json(),
        "outputs": task.outputs.to_json(), "error": task.error, "detail": task.detail,
    }
    return row, history_row(job_id, task.task_id, task.state, task.error, now)


def insert_tasks(conn: Connection, rows: list[Row]) -> None:
    """Insert planned task rows in one statement; Aborted if one exists already."""
    try:
        conn.execute(tasks.insert(), rows)
    except sa.exc.IntegrityError:
        raise Aborted("a task was created concurrently") from None


def history_row(job_id: str, task_id: int, state: TaskState, err: Any, now: datetime) -> Row:
    """One line of a task's pipelineTaskStatus history."""
    return {"task_id": task_id, "job_id": job_id, "update_time": now, "state": state.value, "error": err}


def insert_history(conn: Connection, rows: list[Row]) -> None:
    """Append history lines in one statement."""
    conn.execute(task_status_history.insert(), rows)


def update(conn: Connection, job_id: str, action: Action, now: datetime) -> Row | None:
    """Apply one state-changing action with compare-and-set; the task's history line to add, if any."""
    if isinstance(action, SetJob):
        check_job_move(action.expected, action.state)
        values: dict[str, Any] = {"state": action.state.value, "update_time": now}
        if action.state is PipelineState.RUNNING:
            values["start_time"] = now
        if action.state.terminal:
            values["end_time"] = now
        if action.error is not None:
            values["error"] = action.error
        moved = conn.execute(pipeline_jobs.update().where(
            pipeline_jobs.c.job_id == job_id, pipeline_jobs.c.state == action.expected.value).values(**values))
        if moved.rowcount != 1:
            raise Aborted(f"pipeline_jobs: the row is no longer in state {action.expected.value}")
        return None
    if isinstance(action, Launch):
        return _set_task(conn, job_id, SetTask(action.task_id, TaskState.PENDING, TaskState.RUNNING), now,
                         new_attempt=True)
    if isinstance(action, Terminate):
        return _set_task(conn, job_id, SetTask(action.task_id, TaskState.RUNNING, TaskState.CANCEL_PENDING), now)
    if isinstance(action, SetTask):
        return _set_task(conn, job_id, action, now)
    return None


def _set_task(conn: Connection, job_id: str, action: SetTask, now: datetime, new_attempt: bool = False) -> Row:
    """Move a task (compare-and-set on its state); the history line that records the move."""
    check_task_move(action.expected, action.state)
    values: dict[str, Any] = {"state": action.state.value, "end_time": now if action.state.terminal else None}
    if action.state is TaskState.RUNNING:
        values["start_time"] = now
    if action.outputs is not None:
        values["outputs"] = action.outputs.to_json()
    values["error"] = action.error  # every move sets the error it has, None clears an earlier attempt's
    if action.detail is not None:
        values["detail"] = action.detail
    params = {f"v_{k}": v for k, v in values.items()}
    params.update(w_task_id=action.task_id, w_job_id=job_id, w_expected=action.expected.value)
    if conn.execute(_task_move(tuple(sorted(values)), new_attempt), params).rowcount != 1:
        raise Aborted(f"tasks: the row is no longer in state {action.expected.value}")
    return history_row(job_id, action.task_id, action.state, action.error, now)


@functools.cache
def _task_move(columns: tuple[str, ...], new_attempt: bool) -> sa.Update:
    """The compare-and-set UPDATE of a task setting `columns`, built once per shape (the hot path)."""
    values: dict[str, Any] = {c: sa.bindparam(f"v_{c}", type_=tasks.c[c].type) for c in columns}
    if new_attempt:
        values["attempt"] = tasks.c.attempt + 1
    return tasks.update().where(
        tasks.c.task_id == sa.bindparam("w_task_id"), tasks.c.job_id == sa.bindparam("w_job_id"),
        tasks.c.state == sa.bindparam("w_expected"),
    ).values(values)

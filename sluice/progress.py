"""Terminal views of a job: the live task table of `sluice run` and the tail of a failed task's log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text

from sluice.domain.records import Snapshot, TaskKind, TaskRecord
from sluice.domain.states import PipelineState, TaskState

_STYLE = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "bold cyan",
    TaskState.SUCCEEDED: "green",
    TaskState.SKIPPED: "green",
    TaskState.FAILED: "bold red",
    TaskState.CANCELLED: "yellow",
    TaskState.CANCELLING: "yellow",
    TaskState.CANCEL_PENDING: "yellow",
    TaskState.NOT_TRIGGERED: "dim",
}
_JOB_STYLE = {PipelineState.SUCCEEDED: "green", PipelineState.FAILED: "bold red", PipelineState.CANCELLED: "yellow"}


def _elapsed(task: TaskRecord, now: datetime) -> str:
    if task.start_time is None:
        return ""
    seconds = ((task.end_time or now) - task.start_time).total_seconds()
    return f"{seconds:.1f}s"


def _depth(task: TaskRecord, by_id: dict[int, TaskRecord]) -> int:
    depth = 0
    while task.parent_id is not None and task.parent_id in by_id:
        task = by_id[task.parent_id]
        depth += 1
    return depth


def task_table(snapshot: Snapshot, now: datetime) -> Table:
    """One row per task (indented under its DAG), with state and elapsed time."""
    job = snapshot.job
    title = Text.assemble(f"{job.job_id}  ", (job.state.name, _JOB_STYLE.get(job.state, "bold cyan")))
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("task")
    table.add_column("state")
    table.add_column("attempt", justify="right")
    table.add_column("elapsed", justify="right")
    by_id = {t.task_id: t for t in snapshot.tasks}
    for task in snapshot.tasks:
        if task.parent_id is None:
            continue
        name = "  " * (_depth(task, by_id) - 1) + task.name + ("/" if task.kind is TaskKind.DAG else "")
        attempt = str(task.attempt) if task.kind is TaskKind.CONTAINER and task.attempt else ""
        table.add_row(name, Text(task.state.name, _STYLE.get(task.state, "")), attempt, _elapsed(task, now))
    return table


def log_tail(path: str, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' when there is none)."""
    file = Path(path)
    if not path or not file.exists():
        return ""
    return "\n".join(file.read_text(errors="replace").splitlines()[-lines:])

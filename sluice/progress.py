"""Terminal views of a job: the live task table of `sluice run` and the tail of a failed task's log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text

from sluice.domain.records import Snapshot, TaskKind, TaskRecord

# Styles by state name: TaskState names are also how the PipelineJob JSON spells task states.
TASK_STYLE = {
    "PENDING": "dim", "RUNNING": "bold cyan", "SUCCEEDED": "green", "SKIPPED": "green", "FAILED": "bold red",
    "CANCELLED": "yellow", "CANCELLING": "yellow", "CANCEL_PENDING": "yellow", "NOT_TRIGGERED": "dim",
}
_JOB_STYLE = {"SUCCEEDED": "green", "FAILED": "bold red", "CANCELLED": "yellow"}


def job_title(job_id: str, state_name: str) -> Text:
    """A task table's title: the job and its state (`SUCCEEDED`, without PIPELINE_STATE_)."""
    return Text.assemble(f"{job_id}  ", (state_name, _JOB_STYLE.get(state_name, "bold cyan")))


def elapsed(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """How long a task ran (or has been running), as a table shows it; empty before it started."""
    return f"{((end or now) - start).total_seconds():.1f}s" if start is not None else ""


def _depth(task: TaskRecord, by_id: dict[int, TaskRecord]) -> int:
    depth = 0
    while task.parent_id is not None and task.parent_id in by_id:
        task = by_id[task.parent_id]
        depth += 1
    return depth


def task_table(snapshot: Snapshot, now: datetime) -> Table:
    """One row per task (indented under its DAG), with state and elapsed time."""
    job = snapshot.job
    table = Table(title=job_title(job.job_id, job.state.name), title_justify="left", expand=False)
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
        table.add_row(name, Text(task.state.name, TASK_STYLE.get(task.state.name, "")), attempt,
                      elapsed(task.start_time, task.end_time, now))
    return table


def log_tail(path: str, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' when there is none)."""
    file = Path(path)
    if not path or not file.exists():
        return ""
    return "\n".join(file.read_text(errors="replace").splitlines()[-lines:])

"""Rows ↔ records: how jobs and tasks are read from and written to their tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import JobRecord, StatusEntry, TaskKind, TaskRecord, Values
from sluice.domain.states import PipelineState, TaskState
from sluice.errors import NotFound
from sluice.store.tables import labels, pipeline_jobs, task_status_history, tasks


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite hands them back without a zone)."""
    # SQLite hands timestamps back without a zone; everything Sluice writes is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_tasks(conn: Connection, job_id: str, only: set[int] | None) -> list[TaskRecord]:
    """The job's task rows (or only those in `only`) with their status histories, in creation order."""
    h = task_status_history
    if only is None:
        history_query = sa.select(h).where(h.c.job_id == job_id).order_by(h.c.id)
        task_query = sa.select(tasks).where(tasks.c.job_id == job_id).order_by(tasks.c.seq)
    else:  # by task id alone, so that the database uses the task_id indexes
        ids = sorted(only)
        history_query = sa.select(h).where(h.c.task_id.in_(ids)).order_by(h.c.id)
        task_query = sa.select(tasks).where(tasks.c.task_id.in_(ids)).order_by(tasks.c.seq)
    history: dict[int, list[StatusEntry]] = {}
    for row in conn.execute(history_query):
        history.setdefault(row.task_id, []).append(
            StatusEntry(utc(row.update_time), TaskState(row.state), row.error)
        )
    return [task_record(row, history.get(row.task_id, [])) for row in conn.execute(task_query)]


def api_extra(row: Any) -> JsonObject:
    """The API-only fields of a job row, Vertex camelCase."""
    extra: JsonObject = dict(row.extra or {})
    if row.template_uri:
        extra["templateUri"] = row.template_uri
    if row.template_version:
        extra["templateMetadata"] = {"version": row.template_version}
    return extra


def job_row(job: JobRecord) -> dict[str, Any]:
    """The pipeline_jobs columns of a new job."""
    return {
        "job_id": job.job_id,
        "numeric_id": job.numeric_id,
        "parent": job.parent,
        "uuid": job.uuid,
        "display_name": job.display_name,
        "pipeline_name": job.pipeline_name,
        "state": job.state.value,
        "create_time": job.create_time,
        "update_time": job.update_time,
        "start_time": job.start_time,
        "end_time": job.end_time,
        "spec": job.spec,
        "runtime_config": job.runtime_config,
        "parameters": job.parameters,
        "output_dir": job.output_dir,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "fail_fast": job.fail_fast,
        "rerun": job.rerun,
    }


def read_job(conn: Connection, job_id: str) -> JobRecord:
    """The job `job_id` with its labels; NotFound when there is none."""
    return read_job_and_extra(conn, job_id)[0]


def read_job_and_extra(conn: Connection, job_id: str) -> tuple[JobRecord, JsonObject]:
    """The job `job_id` with its labels, and its API-only fields, from one read of its row."""
    row = conn.execute(sa.select(pipeline_jobs).where(pipeline_jobs.c.job_id == job_id)).first()
    if row is None:
        raise NotFound(f"pipeline job {job_id!r} not found")
    job_labels = {
        r.key: r.value for r in conn.execute(sa.select(labels).where(labels.c.job_id == job_id).order_by(labels.c.key))
    }
    return job_record(row, job_labels, row.spec), api_extra(row)


def job_record(row: Any, job_labels: dict[str, str], spec: JsonObject) -> JobRecord:
    """A pipeline_jobs row as a JobRecord."""
    return JobRecord(
        job_id=row.job_id,
        numeric_id=row.numeric_id,
        name=f"{row.parent}/pipelineJobs/{row.job_id}",
        uuid=row.uuid,
        display_name=row.display_name,
        pipeline_name=row.pipeline_name,
        state=PipelineState(row.state),
        create_time=utc(row.create_time),
        update_time=utc(row.update_time),
        start_time=utc(row.start_time),
        end_time=utc(row.end_time),
        spec=spec,
        runtime_config=row.runtime_config,
        parameters=row.parameters,
        output_dir=row.output_dir,
        labels=job_labels,
        error=row.error,
        cancel_requested=row.cancel_requested,
        fail_fast=row.fail_fast,
        rerun=row.rerun,
    )


def task_record(row: Any, history: list[StatusEntry]) -> TaskRecord:
    """A tasks row as a TaskRecord."""
    return TaskRecord(
        task_id=row.task_id,
        job_id=row.job_id,
        seq=row.seq,
        parent_id=row.parent_id,
        key=row.key,
        name=row.name,
        component=row.component,
        kind=TaskKind(row.kind),
        state=TaskState(row.state),
        create_time=utc(row.create_time),
        start_time=utc(row.start_time),
        end_time=utc(row.end_time),
        attempt=row.attempt,
        inputs=Values.from_json(row.inputs),
        outputs=Values.from_json(row.outputs),
        error=row.error,
        detail=row.detail,
        history=tuple(history),
        process=row.process or "",
    )

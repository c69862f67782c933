"""The Store: jobs and tasks in SQL. Every state write is a compare-and-set; reads return domain records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from sluice.domain.actions import Action, CacheResult, NewTask, SetJob
from sluice.domain.caching import CacheHit
from sluice.domain.jsontypes import JsonObject
from sluice.domain.listing import JobPage, JobQuery, SpecMode
from sluice.domain.operation import OperationRecord
from sluice.domain.records import JobRecord, Snapshot, TaskRecord
from sluice.domain.states import PipelineState
from sluice.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from sluice.store import cache, listing
from sluice.store.operations import OperationLog, insert_operation
from sluice.store.rows import api_extra, job_record, job_row, read_job, read_job_and_extra, read_tasks
from sluice.store.schema import upgrade
from sluice.store.tables import labels, pipeline_jobs, tasks
from sluice.store.transitions import Row, insert_history, insert_tasks, task_row, update


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for other databases and for :memory:)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(sa.engine.make_url(url))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """Jobs, their tasks and each task's status history."""

    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        try:
            upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self.operations = OperationLog(self.engine)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def create_job(self, job: JobRecord, extra: ApiFields | None = None) -> JobRecord:
        """Store a new job (QUEUED) with its API-only fields; AlreadyExists when the id is taken."""
        taken = AlreadyExists(f"a pipeline job with id {job.job_id!r} exists already", "pipelineJobId")
        try:
            with self.engine.begin() as conn:
                conn.execute(pipeline_jobs.insert().values(**job_row(job), **(extra or ApiFields()).columns()))
                if job.labels:
                    conn.execute(labels.insert(), [{"job_id": job.job_id, "key": k, "value": v}
                                                   for k, v in job.labels.items()])
        except sa.exc.IntegrityError:
            raise taken from None  # the primary key says so, also for two creates at the same time
        return job

    def record_process(self, job_id: str, task_id: int, attempt: int, ident: str) -> None:
        """Note which process runs `task_id`'s attempt `attempt` (so that a takeover can stop it)."""
        with self.engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.task_id == task_id, tasks.c.job_id == job_id,
                                              tasks.c.attempt == attempt).values(process=ident))

    def get_job(self, job_id: str) -> JobRecord:
        """The job `job_id`; NotFound when there is none."""
        with self.engine.connect() as conn:
            return read_job(conn, job_id)

    def active_job_ids(self) -> list[str]:
        """Ids of the jobs that have not ended yet, oldest first (what an orchestrator has to drive)."""
        done = [s.value for s in PipelineState if s.terminal]
        query = sa.select(pipeline_jobs.c.job_id).where(pipeline_jobs.c.state.not_in(done)).order_by(
            pipeline_jobs.c.create_time, pipeline_jobs.c.job_id)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def snapshot(self, job_id: str) -> Snapshot:
        """The job and all of its tasks, with their status histories."""
        with self.engine.connect() as conn:
            job = read_job(conn, job_id)
            return Snapshot(job, tuple(read_tasks(conn, job_id, None)))

    def cache_lookup(self, pipeline_name: str, keys: Sequence[str], since: datetime | None) -> dict[str, CacheHit]:
        """Cached executions of `pipeline_name` for `keys`, none older than `since`."""
        with self.engine.connect() as conn:
            return cache.lookup(conn, pipeline_name, keys, since)

    def cache_entries(self, pipeline_name: str | None = None) -> list[cache.CacheEntry]:
        """The cache's entries (of one pipeline), newest first."""
        with self.engine.connect() as conn:
            return cache.entries(conn, pipeline_name)

    def cache_clear(self, pipeline_name: str | None = None) -> int:
        """Forget the cache (of one pipeline); how many entries went."""
        with self.engine.begin() as conn:
            return cache.clear(conn, pipeline_name)

    def claim(self, job_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take or renew the lease on a job for `owner`: True when `owner` now drives it.

        A job is free when nobody holds it or the holder's lease has expired (its process died); the
        compare-and-set means two orchestrators can never both hold it.
        """
        j = pipeline_jobs.c
        free = sa.or_(j.owner.is_(None), j.owner == owner, j.lease_expires < now)
        with self.engine.begin() as conn:
            done = conn.execute(pipeline_jobs.update().where(j.job_id == job_id, free)
                                .values(owner=owner, lease_expires=now + lease))
            return done.rowcount == 1

    def release(self, job_id: str, owner: str) -> None:
        """Give up the lease (the job ended, or this orchestrator stops)."""
        j = pipeline_jobs.c
        with self.engine.begin() as conn:
            conn.execute(pipeline_jobs.update().where(j.job_id == job_id, j.owner == owner)
                         .values(owner=None, lease_expires=None))

    def snapshot_by_numeric_id(self, numeric_id: int) -> Snapshot:
        """The job whose numeric id (its billing-id label) is `numeric_id`, with its tasks; NotFound."""
        with self.engine.connect() as conn:
            job_id = conn.execute(sa.select(pipeline_jobs.c.job_id)
                                  .where(pipeline_jobs.c.numeric_id == numeric_id)).scalar_one_or_none()
            if job_id is None:
                raise NotFound(f"no pipeline job has the numeric id {numeric_id}")
            return Snapshot(read_job(conn, job_id), tuple(read_tasks(conn, job_id, None)))

    def job_flags(self, job_id: str) -> tuple[PipelineState, bool]:
        """The job's state and whether a cancel was requested: the cheap read an orchestrator polls."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(pipeline_jobs.c.state, pipeline_jobs.c.cancel_requested)
                               .where(pipeline_jobs.c.job_id == job_id)).first()
        if row is None:
            raise NotFound(f"pipeline job {job_id!r} not found")
        return PipelineState(row.state), bool(row.cancel_requested)

    def request_cancel(self, job_id: str, now: datetime) -> JobRecord:
        """Mark the job for cancellation; the planner carries it out. A finished job → FailedPrecondition."""
        with self.engine.begin() as conn:
            job = read_job(conn, job_id)
            if job.state.terminal:
                raise FailedPrecondition(
                    f"the pipeline job {job.name} is in state {job.state.value} and cannot be cancelled"
                )
            conn.execute(pipeline_jobs.update().where(pipeline_jobs.c.job_id == job_id)
                         .values(cancel_requested=True, update_time=now))
            return read_job(conn, job_id)

    def apply(self, job_id: str, actions: Sequence[Action], now: datetime, owner: str | None = None) -> Applied:
        """Apply the planner's actions in one transaction; Aborted (nothing written) if any CAS fails.

        With `owner`, the write also requires that `owner` still holds the job's lease, so a stale
        orchestrator's late write is rejected. Returns the rows as they now are, so a caller can keep its
        view current without reloading the job.
        """
        if not actions:
            return Applied(None, [])
        with self.engine.begin() as conn:
            seq = 0
            if any(isinstance(a, NewTask) for a in actions):
                seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(tasks.c.seq), 0))
                                   .where(tasks.c.job_id == job_id)).scalar_one()
            touched: set[int] = set()
            new_rows: list[Row] = []
            history: list[Row] = []
            for action in actions:
                if isinstance(action, NewTask):
                    seq += 1
                    row, line = task_row(job_id, seq, action, now)
                    new_rows.append(row)
                    history.append(line)
                else:
                    if new_rows:  # rows planned before this action may be what it updates
                        insert_tasks(conn, new_rows)
                        new_rows = []
                    if isinstance(action, CacheResult):
                        cache.record(conn, job_id, action.task_id, action.key, now)
                    elif (moved := update(conn, job_id, action, now)) is not None:
                        history.append(moved)
                if not isinstance(action, SetJob):
                    touched.add(action.task_id)
            if new_rows:
                insert_tasks(conn, new_rows)
            if history:
                insert_history(conn, history)
            mine = pipeline_jobs.c.job_id == job_id
            if owner is not None:
                mine = sa.and_(mine, pipeline_jobs.c.owner == owner)
            if conn.execute(pipeline_jobs.update().where(mine).values(update_time=now)).rowcount != 1:
                raise Aborted(f"the lease on job {job_id} is held by another orchestrator")
            job = read_job(conn, job_id) if any(isinstance(a, SetJob) for a in actions) else None
            return Applied(job, read_tasks(conn, job_id, touched) if touched else [])

    # The API's side: pages, the API-only fields, deletes and batch cancels.

    def list_page(self, query: JobQuery) -> JobPage:
        """One page of jobs in `query.order`, starting after `query.after`, with their API-only fields."""
        columns: list[Any] = [c for c in pipeline_jobs.c if c.name != "spec"]
        if query.spec is SpecMode.RAW:  # the text as stored: a list page can pass it through without decoding it
            columns.append(sa.cast(pipeline_jobs.c.spec, sa.Text).label("spec_text"))
        elif query.spec is SpecMode.DECODED:
            columns.append(pipeline_jobs.c.spec)
        stmt = sa.select(*columns)
        if query.parent is not None:
            stmt = stmt.where(pipeline_jobs.c.parent == query.parent)
        if query.where is not None:
            stmt = stmt.where(listing.where(query.where, self.engine.dialect.name))
        if query.after is not None:
            stmt = stmt.where(listing.keyset(query.order, query.after))
        stmt = stmt.order_by(*listing.order_by(query.order)).limit(query.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            page = rows[: query.limit]
            by_job: dict[str, dict[str, str]] = {r.job_id: {} for r in page}
            if page:
                found = sa.select(labels).where(labels.c.job_id.in_(list(by_job))).order_by(labels.c.key)
                for label in conn.execute(found):
                    by_job[label.job_id][label.key] = label.value
        jobs = tuple(job_record(r, by_job[r.job_id], r.spec if query.spec is SpecMode.DECODED else {}) for r in page)
        raw = {r.job_id: r.spec_text for r in page} if query.spec is SpecMode.RAW else None
        return JobPage(jobs, {r.job_id: api_extra(r) for r in page}, len(rows) > query.limit, raw)

    def resource(self, job_id: str, with_tasks: bool = False) -> Resource:
        """What the API renders of a job: the job, its tasks if asked for, its API-only fields; NotFound."""
        with self.engine.connect() as conn:
            job, extra = read_job_and_extra(conn, job_id)
            return Resource(job, tuple(read_tasks(conn, job_id, None)) if with_tasks else None, extra)

    def delete_jobs(self, job_ids: Sequence[str], op: OperationRecord | None = None) -> None:
        """Delete ended jobs with all their tasks and record `op`; all or nothing (NotFound, FailedPrecondition)."""
        ended = [s.value for s in PipelineState if s.terminal]
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(pipeline_jobs.c.job_id, pipeline_jobs.c.parent, pipeline_jobs.c.state)
                                 .where(pipeline_jobs.c.job_id.in_(job_ids)))
            states = {r.job_id: (r.parent, PipelineState(r.state)) for r in found}
            for job_id in job_ids:
                if job_id not in states:
                    raise NotFound(f"pipeline job {job_id!r} not found")
                parent, state = states[job_id]
                if not state.terminal:
                    # Vertex: a job must have ended before it can be deleted.
                    raise FailedPrecondition(
                        f"the pipeline job {parent}/pipelineJobs/{job_id} is in state {state.value} and cannot be "
                        "deleted; cancel it and delete it once it has ended")
            gone = conn.execute(pipeline_jobs.delete().where(  # tasks, history, labels: ON DELETE CASCADE
                pipeline_jobs.c.job_id.in_(job_ids), pipeline_jobs.c.state.in_(ended)))
            if gone.rowcount != len(set(job_ids)):
                raise Aborted("a job changed while it was being deleted; nothing was deleted")
            if op is not None:
                insert_operation(conn, op)

    def cancel_jobs(self, job_ids: Sequence[str], now: datetime) -> list[JobRecord]:
        """Ask to cancel every job that has not ended (all exist, or NotFound and nothing changes); returns them."""
        ended = [s.value for s in PipelineState if s.terminal]
        with self.engine.begin() as conn:
            live = [j.job_id for j in (read_job(conn, job_id) for job_id in job_ids) if not j.state.terminal]
            if live:
                conn.execute(pipeline_jobs.update().where(
                    pipeline_jobs.c.job_id.in_(live), pipeline_jobs.c.state.not_in(ended),
                    pipeline_jobs.c.cancel_requested.is_(False),
                ).values(cancel_requested=True, update_time=now))
            return [read_job(conn, job_id) for job_id in live]



@dataclass(frozen=True)
class ApiFields:
    """The API-only PipelineJob fields stored with a job (serviceAccount, network, ..., templateUri)."""

    extra: JsonObject = field(default_factory=dict)
    template_uri: str = ""
    template_version: str = ""

    def json(self) -> JsonObject:
        """The fields as the resource shows them (what Store.resource reads back as `extra`)."""
        return api_extra(self)

    def columns(self) -> dict[str, Any]:
        """The pipeline_jobs columns they are kept in (templateUri and its version are filterable)."""
        return {"extra": self.extra or None, "template_uri": self.template_uri,
                "template_version": self.template_version}


@dataclass(frozen=True)
class Resource:
    """A job as the API renders it (Store.resource)."""

    job: JobRecord
    tasks: tuple[TaskRecord, ...] | None
    extra: JsonObject


@dataclass(frozen=True)
class Applied:
    """What one apply() changed: the job row (when a SetJob was among the actions) and the touched tasks."""

    job: JobRecord | None
    tasks: list[TaskRecord]



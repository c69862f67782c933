"""The execution cache in SQL: one entry per (pipeline, key), the newest SUCCEEDED execution."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sluice.domain.caching import CacheHit
from sluice.domain.records import Values
from sluice.store.rows import utc
from sluice.store.tables import cache_entries, pipeline_jobs, tasks

c = cache_entries.c


@dataclass(frozen=True)
class CacheEntry:
    """One row of the cache, as `sluice cache list` shows it."""

    pipeline_name: str
    key: str
    job_name: str
    task_name: str
    create_time: datetime


def record(conn: Connection, job_id: str, task_id: int, key: str, now: datetime) -> None:
    """Keep task `task_id`'s outputs (it just SUCCEEDED) under `key`, replacing an older entry."""
    row = conn.execute(
        sa.select(tasks.c.name, tasks.c.outputs, pipeline_jobs.c.pipeline_name, pipeline_jobs.c.parent)
        .join(pipeline_jobs, pipeline_jobs.c.job_id == tasks.c.job_id)
        .where(tasks.c.task_id == task_id)
    ).one()
    conn.execute(cache_entries.delete().where(c.pipeline_name == row.pipeline_name, c.cache_key == key))
    conn.execute(cache_entries.insert().values(
        pipeline_name=row.pipeline_name, cache_key=key, job_id=job_id,
        job_name=f"{row.parent}/pipelineJobs/{job_id}", task_id=task_id, task_name=row.name,
        outputs=row.outputs, create_time=now,
    ))


def lookup(conn: Connection, pipeline_name: str, keys: Iterable[str], since: datetime | None) -> dict[str, CacheHit]:
    """The entries of `pipeline_name` for `keys`, created at or after `since` (None: any age)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    query = sa.select(cache_entries).where(c.pipeline_name == pipeline_name, c.cache_key.in_(wanted))
    if since is not None:
        query = query.where(c.create_time >= since)
    return {
        row.cache_key: CacheHit(row.cache_key, row.job_id, row.task_id, Values.from_json(row.outputs))
        for row in conn.execute(query)
    }


def entries(conn: Connection, pipeline_name: str | None) -> list[CacheEntry]:
    """Every entry (of one pipeline), newest first."""
    query = sa.select(cache_entries).order_by(c.create_time.desc())
    if pipeline_name is not None:
        query = query.where(c.pipeline_name == pipeline_name)
    return [CacheEntry(r.pipeline_name, r.cache_key, r.job_name, r.task_name, utc(r.create_time))
            for r in conn.execute(query)]


def clear(conn: Connection, pipeline_name: str | None) -> int:
    """Forget every entry (of one pipeline); how many were removed."""
    query = cache_entries.delete()
    if pipeline_name is not None:
        query = query.where(c.pipeline_name == pipeline_name)
    return conn.execute(query).rowcount

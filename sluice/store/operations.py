"""Long-running operations in SQL: written with the change they report, read back by id or page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sluice.domain.operation import OperationRecord
from sluice.errors import NotFound
from sluice.store.rows import utc
from sluice.store.tables import operations

# A page of operations starts after (create_time, op_id) of the last one of the page before.
OperationCursor = tuple[datetime, int]


def insert_operation(conn: Connection, op: OperationRecord) -> None:
    """Store `op` inside the caller's transaction (so it commits or rolls back with the change it reports)."""
    conn.execute(operations.insert().values(
        op_id=op.op_id, parent=op.parent, job_id=op.job_id, metadata_type=op.metadata_type, done=op.done,
        response=op.response, error=op.error, create_time=op.create_time, update_time=op.update_time,
    ))


def _record(row: Any) -> OperationRecord:
    return OperationRecord(
        op_id=row.op_id, parent=row.parent, metadata_type=row.metadata_type, create_time=utc(row.create_time),
        update_time=utc(row.update_time), done=row.done, response=row.response, error=row.error,
        job_id=row.job_id,
    )


class OperationLog:
    """The operations of every parent, newest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, op: OperationRecord) -> OperationRecord:
        """Store a new operation."""
        with self.engine.begin() as conn:
            insert_operation(conn, op)
        return op

    def get(self, op_id: int) -> OperationRecord:
        """The operation `op_id`; NotFound when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(operations).where(operations.c.op_id == op_id)).first()
        if row is None:
            raise NotFound(f"operation {op_id} not found")
        return _record(row)

    def page(self, parent: str, job_id: str | None = None, done: bool | None = None,
             after: OperationCursor | None = None, limit: int = 100) -> tuple[list[OperationRecord], bool]:
        """Operations under `parent` (of one job when `job_id` is given), newest first; and whether more follow."""
        query = sa.select(operations).where(operations.c.parent == parent)
        if job_id is not None:
            query = query.where(operations.c.job_id == job_id)
        if done is not None:
            query = query.where(operations.c.done == done)
        if after is not None:
            created, op_id = after
            query = query.where(operations.c.create_time <= created, sa.or_(
                operations.c.create_time < created,
                sa.and_(operations.c.create_time == created, operations.c.op_id < op_id)))
        query = query.order_by(operations.c.create_time.desc(), operations.c.op_id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    def delete(self, op_id: int) -> None:
        """Forget the operation (its outcome is not undone); NotFound when there is none."""
        with self.engine.begin() as conn:
            if conn.execute(operations.delete().where(operations.c.op_id == op_id)).rowcount != 1:
                raise NotFound(f"operation {op_id} not found")

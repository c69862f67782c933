"""A JobQuery (domain/listing.py) as SQL: the filter tree, the order, and the keyset condition of a page.

Every comparison is two-valued (never SQL NULL), so NOT, AND and OR mean what they say even on unset times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from sluice.domain.listing import (
    All,
    AnyOf,
    Compare,
    Cursor,
    Filter,
    JobField,
    LabelIs,
    LabelMatch,
    Match,
    Not,
    Op,
    OrderKey,
)
from sluice.store.tables import labels, pipeline_jobs

# Unset start/end times order as the far future: a job that has not ended sorts after every ended one.
_UNSET = datetime(9999, 12, 31, tzinfo=UTC)


def _column(field: JobField) -> ColumnElement[Any]:
    return pipeline_jobs.c[field.value]


def order_expression(field: JobField) -> ColumnElement[Any]:
    """What the rows are ordered by for `field` (unset times replaced by _UNSET)."""
    column = _column(field)
    if field.nullable:
        return sa.func.coalesce(column, sa.literal(_UNSET, type_=column.type))
    return column


def order_by(order: tuple[OrderKey, ...]) -> list[ColumnElement[Any]]:
    """The ORDER BY terms."""
    return [order_expression(k.field).desc() if k.descending else order_expression(k.field).asc() for k in order]


def _after(key: OrderKey, value: Any) -> ColumnElement[bool]:
    expression = order_expression(key.field)
    after: ColumnElement[bool] = expression < value if key.descending else expression > value
    return after


def keyset(order: tuple[OrderKey, ...], cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after `cursor` in `order`: (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..."""
    values = [_UNSET if v is None and k.field.nullable else v for k, v in zip(order, cursor, strict=True)]
    branches = []
    for index, key in enumerate(order):
        equal = [order_expression(k.field) == v for k, v in zip(order[:index], values[:index], strict=True)]
        branches.append(sa.and_(*equal, _after(key, values[index])))
    first = order_expression(order[0].field)
    # A plain range on the first key as well, so that the database seeks in its index instead of scanning.
    start = first <= values[0] if order[0].descending else first >= values[0]
    return sa.and_(start, sa.or_(*branches))


def glob(column: ColumnElement[Any], pattern: str, dialect: str) -> ColumnElement[bool]:
    """Case-sensitive match where `*` is the only wildcard (SQLite GLOB, otherwise LIKE with escapes)."""
    if dialect == "sqlite":
        escaped = "".join(f"[{c}]" if c in "?[" else c for c in pattern)
        return column.op("GLOB", is_comparison=True)(escaped)
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return column.like(escaped, escape="\\")


def _label(key: str, value: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    query = sa.select(sa.literal(1)).select_from(labels).where(
        labels.c.job_id == pipeline_jobs.c.job_id, labels.c.key == key)
    if value is not None:
        query = query.where(value)
    return query.exists()


def _compare(field: JobField, op: Op, value: Any) -> ColumnElement[bool]:
    column = _column(field)
    compared: ColumnElement[bool] = {
        Op.EQ: column == value, Op.NE: column != value, Op.LT: column < value,
        Op.LE: column <= value, Op.GT: column > value, Op.GE: column >= value,
    }[op]
    if not field.nullable:
        return compared
    # An unset time differs from every value and is neither before nor after any.
    return sa.or_(column.is_(None), compared) if op is Op.NE else sa.and_(column.is_not(None), compared)


def where(node: Filter, dialect: str) -> ColumnElement[bool]:
    """The WHERE condition for a filter tree."""
    match node:
        case Compare(field, op, value):
            return _compare(field, op, value)
        case Match(field, pattern):
            return glob(_column(field), pattern, dialect)
        case LabelIs(key, value, negated):
            present = _label(key, labels.c.value == value)
            return sa.not_(present) if negated else present
        case LabelMatch(key, pattern):
            return _label(key) if pattern == "*" else _label(key, glob(labels.c.value, pattern, dialect))
        case All(parts):
            return sa.and_(*(where(p, dialect) for p in parts))
        case AnyOf(parts):
            return sa.or_(*(where(p, dialect) for p in parts))
        case Not(part):
            return sa.not_(where(part, dialect))
    raise TypeError(f"not a filter node: {node!r}")

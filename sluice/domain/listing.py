"""What a list request asks the store for: a filter tree over job fields, an order, and where the page starts.

The API parses AIP-160 text into these records (api/filters.py) and the store compiles them to SQL
(store/listing.py); neither side sees the other's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import JobRecord


class JobField(str, Enum):
    """A filterable or orderable PipelineJob field, by the store's column name."""

    JOB_ID = "job_id"  # pipeline_job_user_id: the id part of the name
    DISPLAY_NAME = "display_name"
    PIPELINE_NAME = "pipeline_name"  # pipelineSpec.pipelineInfo.name
    STATE = "state"
    CREATE_TIME = "create_time"
    UPDATE_TIME = "update_time"
    START_TIME = "start_time"
    END_TIME = "end_time"
    TEMPLATE_URI = "template_uri"
    TEMPLATE_VERSION = "template_version"  # templateMetadata.version

    @property
    def is_time(self) -> bool:
        """Timestamp fields compare with < > <= >= too."""
        return self in _TIMES

    @property
    def nullable(self) -> bool:
        """Unset until the job starts or ends."""
        return self in (JobField.START_TIME, JobField.END_TIME)


_TIMES = frozenset({JobField.CREATE_TIME, JobField.UPDATE_TIME, JobField.START_TIME, JobField.END_TIME})


class Op(str, Enum):
    """A comparison."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True)
class Compare:
    """`field op value`; for a time field `value` is a datetime, for STATE the PipelineState name."""

    field: JobField
    op: Op
    value: str | datetime


@dataclass(frozen=True)
class Match:
    """`field:"pattern"`: `*` matches any run of characters, everything else is literal (case-sensitive)."""

    field: JobField
    pattern: str


@dataclass(frozen=True)
class LabelIs:
    """`labels.key = value` (negated: the job has no such label with that value)."""

    key: str
    value: str
    negated: bool = False


@dataclass(frozen=True)
class LabelMatch:
    """`labels.key:"pattern"`; the pattern `*` alone asks only that the label is present."""

    key: str
    pattern: str


@dataclass(frozen=True)
class All:
    """Every part holds."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Filter


Filter = Compare | Match | LabelIs | LabelMatch | All | AnyOf | Not


@dataclass(frozen=True)
class OrderKey:
    """One `orderBy` term."""

    field: JobField
    descending: bool = False


# A page starts after the row whose order-key values these are (None for an unset time).
Cursor = tuple[str | datetime | None, ...]


class SpecMode(Enum):
    """How a page carries each job's pipelineSpec."""

    NONE = "none"  # left out (a readMask without it)
    DECODED = "decoded"  # as a JSON object in JobRecord.spec
    RAW = "raw"  # as its stored JSON text in JobPage.raw_specs, not decoded


@dataclass(frozen=True)
class JobQuery:
    """One page of jobs under `parent` (None: every parent). `order` ends with a unique key (JOB_ID)."""

    parent: str | None
    order: tuple[OrderKey, ...]
    where: Filter | None = None
    after: Cursor | None = None
    limit: int = 100
    spec: SpecMode = SpecMode.DECODED


@dataclass(frozen=True)
class JobPage:
    """A page of jobs in order, the API-only fields of each (`extras[job_id]`), and whether more follow."""

    jobs: tuple[JobRecord, ...]
    extras: dict[str, JsonObject]
    more: bool
    raw_specs: dict[str, str] | None = None  # with JobQuery.raw_spec: each job's pipelineSpec as JSON text

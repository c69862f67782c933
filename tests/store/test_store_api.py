"""The Store methods behind the API (pages, filters, extras, deletes, batch cancels, operations), on both backends."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from sluice.domain.actions import NewTask, SetJob
from sluice.domain.listing import (
    All,
    AnyOf,
    Compare,
    Filter,
    JobField,
    JobQuery,
    LabelIs,
    LabelMatch,
    Match,
    Not,
    Op,
    OrderKey,
    SpecMode,
)
from sluice.domain.operation import OperationRecord
from sluice.domain.records import JobRecord, TaskKind
from sluice.domain.states import PipelineState, TaskState
from sluice.errors import FailedPrecondition, NotFound
from sluice.store.store import ApiFields, Store
from tests.store.conftest import T0

PARENT = "projects/p/locations/l"
NEWEST_FIRST = (OrderKey(JobField.CREATE_TIME, True), OrderKey(JobField.JOB_ID, True))


def make_job(job_id: str, at: datetime, display: str = "d", labels: dict[str, str] | None = None,
             parent: str = PARENT) -> JobRecord:
    return JobRecord(
        job_id=job_id, numeric_id=abs(hash(job_id)) % 2**62 + 1, name=f"{parent}/pipelineJobs/{job_id}",
        uuid="u", display_name=display, pipeline_name="pipe", state=PipelineState.QUEUED, create_time=at,
        update_time=at, spec={"pipelineInfo": {"name": "pipe"}}, runtime_config={}, parameters={},
        output_dir="/out", labels=labels or {},
    )


def finish(store: Store, job_id: str, state: PipelineState = PipelineState.SUCCEEDED,
           at: datetime = T0) -> None:
    moves = [SetJob(PipelineState.QUEUED, PipelineState.PENDING), SetJob(PipelineState.PENDING, PipelineState.RUNNING),
             NewTask(abs(hash(job_id)) % 2**40, None, "", "pipe", "root", TaskKind.DAG, TaskState.RUNNING)]
    if state is not PipelineState.RUNNING:
        moves.append(SetJob(PipelineState.RUNNING, state))
    store.apply(job_id, moves, at)


@pytest.fixture
def jobs(store: Store) -> Store:
    """Five jobs, a second apart: a-0 .. a-4 (a-4 newest) plus one under another parent."""
    for i in range(5):
        labels = {"env": "dev" if i % 2 == 0 else "prod", **({"team": "ml"} if i < 2 else {})}
        extra = ApiFields({"network": "n"}, "https://x/t.yaml", "sha256:ab") if i == 2 else None
        store.create_job(make_job(f"a-{i}", T0 + timedelta(seconds=i), display=f"step {i} [x]_%", labels=labels),
                         extra)
    store.create_job(make_job("other", T0, parent="projects/q/locations/l"))
    finish(store, "a-1", PipelineState.SUCCEEDED, T0 + timedelta(minutes=1))
    finish(store, "a-3", PipelineState.FAILED, T0 + timedelta(minutes=2))
    return store


def ids(store: Store, where: Filter | None = None, order: tuple[OrderKey, ...] = NEWEST_FIRST) -> list[str]:
    page = store.list_page(JobQuery(PARENT, order, where, limit=100))
    return [j.job_id for j in page.jobs]


def test_default_order_is_newest_first_under_the_parent(jobs: Store) -> None:
    assert ids(jobs) == ["a-4", "a-3", "a-2", "a-1", "a-0"]


def test_keyset_pages_cover_every_row_once(jobs: Store) -> None:
    for order in (NEWEST_FIRST, (OrderKey(JobField.END_TIME), OrderKey(JobField.JOB_ID)),
                  (OrderKey(JobField.END_TIME, True), OrderKey(JobField.JOB_ID, True))):
        seen, after, more = [], None, True
        while more:
            page = jobs.list_page(JobQuery(PARENT, order, after=after, limit=2))
            seen += [j.job_id for j in page.jobs]
            more = page.more
            last = page.jobs[-1]
            after = tuple(getattr(last, k.field.value) for k in order)
        assert seen == ids(jobs, order=order)
        assert sorted(seen) == ["a-0", "a-1", "a-2", "a-3", "a-4"]
    # Unset end times sort after every set one.
    assert ids(jobs, order=(OrderKey(JobField.END_TIME), OrderKey(JobField.JOB_ID)))[:2] == ["a-1", "a-3"]


@pytest.mark.parametrize(("where", "expected"), [
    (LabelIs("env", "dev"), ["a-4", "a-2", "a-0"]),
    (LabelIs("env", "dev", negated=True), ["a-3", "a-1"]),
    (LabelMatch("team", "*"), ["a-1", "a-0"]),
    (LabelMatch("env", "p*"), ["a-3", "a-1"]),
    (Compare(JobField.STATE, Op.EQ, PipelineState.SUCCEEDED.value), ["a-1"]),
    (Compare(JobField.STATE, Op.NE, PipelineState.QUEUED.value), ["a-3", "a-1"]),
    (Compare(JobField.CREATE_TIME, Op.GE, T0 + timedelta(seconds=3)), ["a-4", "a-3"]),
    (Compare(JobField.CREATE_TIME, Op.EQ, T0 + timedelta(seconds=3)), ["a-3"]),
    (Compare(JobField.END_TIME, Op.LT, T0 + timedelta(minutes=2)), ["a-1"]),
    (Not(Compare(JobField.END_TIME, Op.LT, T0 + timedelta(minutes=2))), ["a-4", "a-3", "a-2", "a-0"]),
    (Compare(JobField.END_TIME, Op.NE, T0 + timedelta(minutes=2)), ["a-4", "a-2", "a-1", "a-0"]),
    (Match(JobField.DISPLAY_NAME, "*[x]_%"), ["a-4", "a-3", "a-2", "a-1", "a-0"]),
    (Match(JobField.DISPLAY_NAME, "step ?*"), []),  # ? is literal, not a wildcard
    (Match(JobField.DISPLAY_NAME, "STEP*"), []),  # case-sensitive on both backends
    (Match(JobField.DISPLAY_NAME, "step 2*"), ["a-2"]),
    (Match(JobField.DISPLAY_NAME, "step 2"), []),  # no wildcard: the whole value
    (Compare(JobField.JOB_ID, Op.EQ, "a-2"), ["a-2"]),
    (All((LabelIs("env", "dev"), Not(LabelMatch("team", "*")))), ["a-4", "a-2"]),
    (AnyOf((Compare(JobField.JOB_ID, Op.EQ, "a-0"), Compare(JobField.JOB_ID, Op.EQ, "a-4"))), ["a-4", "a-0"]),
    (Compare(JobField.TEMPLATE_URI, Op.EQ, "https://x/t.yaml"), ["a-2"]),
    (Compare(JobField.TEMPLATE_VERSION, Op.EQ, "sha256:ab"), ["a-2"]),
])
def test_filters(jobs: Store, where: Filter, expected: list[str]) -> None:
    assert ids(jobs, where) == expected


def test_extras_round_trip_and_come_with_pages(store: Store) -> None:
    store.create_job(make_job("bare", T0 - timedelta(seconds=1)))
    assert store.resource("bare").extra == {}
    store.create_job(make_job("a-0", T0),
                     ApiFields({"serviceAccount": "sa@x", "reservedIpRanges": ["r1"]}, "https://h/t.yaml", "v1"))
    expected = {"serviceAccount": "sa@x", "reservedIpRanges": ["r1"], "templateUri": "https://h/t.yaml",
                "templateMetadata": {"version": "v1"}}
    assert store.resource("a-0").extra == expected
    page = store.list_page(JobQuery(PARENT, NEWEST_FIRST, spec=SpecMode.NONE))
    assert page.extras == {"a-0": expected, "bare": {}}
    assert page.jobs[0].spec == {}
    assert page.jobs[0] == replace(store.get_job("a-0"), spec={})
    with pytest.raises(NotFound):
        store.resource("nope")


def test_pages_can_carry_the_stored_spec_text(store: Store) -> None:
    job = replace(make_job("a-0", T0), spec={"pipelineInfo": {"name": "pipe"}, "x": [1, 2.5, "é"]})
    store.create_job(job)
    page = store.list_page(JobQuery(PARENT, NEWEST_FIRST, spec=SpecMode.RAW))
    assert page.raw_specs is not None and json.loads(page.raw_specs["a-0"]) == job.spec
    assert page.jobs[0].spec == {}


def op(op_id: int, at: datetime = T0, job_id: str | None = None) -> OperationRecord:
    return OperationRecord(op_id, PARENT, "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
                           at, at, done=True, response={"@type": "type.googleapis.com/google.protobuf.Empty"},
                           job_id=job_id)


def test_delete_is_all_or_nothing(jobs: Store) -> None:
    with pytest.raises(FailedPrecondition, match="a-0 is in state PIPELINE_STATE_QUEUED"):
        jobs.delete_jobs(["a-1", "a-0"], op(1))
    with pytest.raises(NotFound, match="nope"):
        jobs.delete_jobs(["a-1", "nope"], op(1))
    assert jobs.get_job("a-1").state is PipelineState.SUCCEEDED
    with pytest.raises(NotFound):
        jobs.operations.get(1)
    jobs.delete_jobs(["a-1", "a-3"], op(1, job_id="a-1"))
    assert ids(jobs) == ["a-4", "a-2", "a-0"]
    with pytest.raises(NotFound):
        jobs.snapshot("a-1")
    assert jobs.operations.get(1) == op(1, job_id="a-1")


def test_batch_cancel_skips_ended_jobs_and_is_atomic(jobs: Store) -> None:
    with pytest.raises(NotFound):
        jobs.cancel_jobs(["a-0", "nope"], T0)
    assert not jobs.get_job("a-0").cancel_requested
    cancelled = jobs.cancel_jobs(["a-0", "a-1", "a-2"], T0 + timedelta(hours=1))
    assert [j.job_id for j in cancelled] == ["a-0", "a-2"]
    assert all(j.cancel_requested and j.update_time == T0 + timedelta(hours=1) for j in cancelled)
    assert not jobs.get_job("a-1").cancel_requested


def test_operations_pages_newest_first(store: Store) -> None:
    for i in range(5):
        store.operations.add(op(100 + i, T0 + timedelta(seconds=i // 2), job_id="j" if i == 2 else None))
    first, more = store.operations.page(PARENT, limit=3)
    assert [o.op_id for o in first] == [104, 103, 102] and more
    last = first[-1]
    rest, more = store.operations.page(PARENT, after=(last.create_time, last.op_id), limit=3)
    assert [o.op_id for o in rest] == [101, 100] and not more
    assert [o.op_id for o in store.operations.page(PARENT, job_id="j")[0]] == [102]
    assert store.operations.page("projects/x/locations/l")[0] == []
    store.operations.delete(102)
    with pytest.raises(NotFound):
        store.operations.delete(102)
    assert store.operations.get(101).create_time.tzinfo is not None

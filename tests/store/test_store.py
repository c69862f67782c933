"""The Store contract, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sluice.domain.actions import Launch, NewTask, SetJob, SetTask
from sluice.domain.listing import JobField, JobQuery, OrderKey
from sluice.domain.records import Artifact, JobRecord, TaskKind, Values
from sluice.domain.states import IllegalTransition, PipelineState, TaskState
from sluice.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from sluice.store import schema
from sluice.store import store as store_module
from sluice.store.schema import SchemaTooNew
from sluice.store.store import Store
from tests.store.conftest import T0


def make_job(job_id: str = "job-a", at: datetime = T0) -> JobRecord:
    return JobRecord(
        job_id=job_id, numeric_id=abs(hash(job_id)) % 2**62 + 1,
        name=f"projects/p/locations/l/pipelineJobs/{job_id}", uuid="u-1", display_name="Déjà vu",
        pipeline_name="pipe", state=PipelineState.QUEUED, create_time=at, update_time=at,
        spec={"pipelineInfo": {"name": "pipe"}, "n": [1, 2.5]}, runtime_config={"parameterValues": {"x": 1}},
        parameters={"x": 1}, output_dir="/out", labels={"team": "ml", "env": "dev"},
    )


def leaf(task_id: int, key: str, state: TaskState = TaskState.PENDING, parent: int | None = 1) -> NewTask:
    return NewTask(task_id, parent, key, key, f"comp-{key}", TaskKind.CONTAINER, state,
                   inputs=Values(parameters={"a": 1}))


def started(store: Store) -> None:
    store.create_job(make_job())
    store.apply("job-a", [
        SetJob(PipelineState.QUEUED, PipelineState.PENDING),
        SetJob(PipelineState.PENDING, PipelineState.RUNNING),
        NewTask(1, None, "", "pipe", "root", TaskKind.DAG, TaskState.RUNNING),
    ], T0)


def test_job_round_trip(store: Store) -> None:
    job = make_job()
    store.create_job(job)
    loaded = store.get_job("job-a")
    assert loaded == job
    assert loaded.create_time.tzinfo is not None


def test_duplicate_id_is_already_exists_and_keeps_the_first(store: Store) -> None:
    store.create_job(make_job())
    with pytest.raises(AlreadyExists) as info:
        store.create_job(replace(make_job(), display_name="other"))
    assert info.value.field == "pipelineJobId"
    assert store.get_job("job-a").display_name == "Déjà vu"


def test_missing_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_job("nope")
    with pytest.raises(NotFound):
        store.snapshot("nope")


NEWEST_FIRST = (OrderKey(JobField.CREATE_TIME, True), OrderKey(JobField.JOB_ID, True))


def listed(store: Store, parent: str | None = None, limit: int = 100) -> list[str]:
    return [j.job_id for j in store.list_page(JobQuery(parent, NEWEST_FIRST, limit=limit)).jobs]


def test_list_is_newest_first(store: Store) -> None:
    for i, job_id in enumerate(["a-1", "a-2", "a-3"]):
        store.create_job(make_job(job_id, T0 + timedelta(seconds=i)))
    assert listed(store) == ["a-3", "a-2", "a-1"]
    assert listed(store, limit=1) == ["a-3"]
    assert listed(store, parent="projects/other/locations/l") == []


def test_transitions_are_stored_with_their_history(store: Store) -> None:
    started(store)
    art = Artifact("model", "/out/job-a/2/model", "system.Model", metadata={"acc": 0.9}, artifact_id="2-model")
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
    store.apply("job-a", [leaf(2, "train"), Launch(2)], t1)
    store.apply("job-a", [SetTask(2, TaskState.RUNNING, TaskState.SUCCEEDED,
                                  outputs=Values({"Output": 3}, {"model": [art]}), detail={"image": "py"})], t2)

    snap = store.snapshot("job-a")
    assert snap.job.state is PipelineState.RUNNING
    assert snap.job.start_time == T0
    root, train = snap.tasks
    assert (root.seq, train.seq) == (1, 2)
    assert train.parent_id == 1 and train.attempt == 1
    assert train.state is TaskState.SUCCEEDED
    assert (train.start_time, train.end_time) == (t1, t2)
    assert train.outputs == Values({"Output": 3}, {"model": [art]})
    assert train.detail == {"image": "py"}
    assert [(h.state, h.update_time) for h in train.history] == [
        (TaskState.PENDING, t1), (TaskState.RUNNING, t1), (TaskState.SUCCEEDED, t2)]


def test_a_failed_compare_and_set_writes_nothing_of_the_batch(store: Store) -> None:
    started(store)
    store.apply("job-a", [leaf(2, "train")], T0)
    with pytest.raises(Aborted):
        store.apply("job-a", [leaf(3, "other"), SetTask(2, TaskState.RUNNING, TaskState.SUCCEEDED)], T0)
    snap = store.snapshot("job-a")
    assert [t.task_id for t in snap.tasks] == [1, 2]
    assert snap.tasks[1].state is TaskState.PENDING
    assert len(snap.tasks[1].history) == 1


def test_creating_a_task_twice_is_aborted(store: Store) -> None:
    started(store)
    store.apply("job-a", [leaf(2, "train")], T0)
    with pytest.raises(Aborted):
        store.apply("job-a", [leaf(2, "train")], T0)


def test_stale_job_write_is_rejected(store: Store) -> None:
    started(store)
    with pytest.raises(Aborted):
        store.apply("job-a", [SetJob(PipelineState.PENDING, PipelineState.RUNNING)], T0)


def test_illegal_moves_never_reach_the_database(store: Store) -> None:
    started(store)
    store.apply("job-a", [leaf(2, "train", TaskState.SUCCEEDED)], T0)
    with pytest.raises(IllegalTransition):
        store.apply("job-a", [SetTask(2, TaskState.SUCCEEDED, TaskState.RUNNING)], T0)


def test_cancel_request(store: Store) -> None:
    started(store)
    assert store.request_cancel("job-a", T0).cancel_requested
    store.apply("job-a", [SetJob(PipelineState.RUNNING, PipelineState.CANCELLING),
                          SetJob(PipelineState.CANCELLING, PipelineState.CANCELLED)], T0)
    with pytest.raises(FailedPrecondition, match="cannot be cancelled"):
        store.request_cancel("job-a", T0)


def test_state_survives_reopening(db_url: str) -> None:
    first = Store(db_url)
    started(first)
    first.close()
    second = Store(db_url)  # migrations run again: a no-op at head
    assert second.snapshot("job-a").tasks[0].state is TaskState.RUNNING
    head = ScriptDirectory(str(Path(store_module.__file__).parent / "migrations")).get_current_head()
    with second.engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == head
    second.close()


def test_a_database_from_a_newer_sluice_is_refused(db_url: str) -> None:
    Store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="9999"):
        Store(db_url)


def test_the_fast_path_knows_alembics_head() -> None:
    """schema.HEAD lets a current database open without Alembic; it must be the newest migration."""
    assert ScriptDirectory(str(schema.MIGRATIONS)).get_current_head() == schema.HEAD

"""The planner on plain records: what it decides for each stored state (no store, no processes)."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kfp import dsl

from sluice.domain.actions import Launch, NewTask, SetJob, SetTask, Terminate, task_id_for
from sluice.domain.caching import CacheHit
from sluice.domain.ir import PipelineSpecView
from sluice.domain.outcome import Outcome
from sluice.domain.planner import plan, settle
from sluice.domain.records import JobRecord, TaskKind, TaskRecord, Values
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.tree import Tree
from tests.conftest import Compile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NUM = 77


@dsl.component(base_image="python:3.11")
def step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="diamond")
def diamond(x: int = 1) -> int:
    a = step(x=x).set_display_name("a")
    b = step(x=a.output).set_display_name("b")
    c = step(x=a.output).set_display_name("c")
    d = step(x=b.output).set_display_name("d").after(c)
    return d.output


@pytest.fixture
def spec(compile_pipeline: Compile) -> PipelineSpecView:
    return parse_spec(compile_pipeline(diamond))


def job(state: PipelineState = PipelineState.RUNNING, **changes: Any) -> JobRecord:
    base = JobRecord("j", NUM, "projects/p/locations/l/pipelineJobs/j", "u", "j", "diamond", state, T0, T0,
                     {}, {}, {"x": 1}, "/out")
    return replace(base, **changes)


ROOT_ID = task_id_for(NUM, None, "")
NAMES = {"step": "a", "step-2": "b", "step-3": "c", "step-4": "d"}


def root(state: TaskState = TaskState.RUNNING) -> TaskRecord:
    return TaskRecord(ROOT_ID, "j", 1, None, "", "diamond", "root", TaskKind.DAG, state, T0,
                      inputs=Values({"x": 1}))


def child(key: str, state: TaskState, seq: int, output: int | None = None) -> TaskRecord:
    outputs = Values({"Output": output}) if output is not None else Values()
    return TaskRecord(task_id_for(NUM, ROOT_ID, key), "j", seq, ROOT_ID, key, NAMES[key],
                      f"comp-{key}", TaskKind.CONTAINER, state, T0, outputs=outputs)


def test_a_queued_job_starts_with_its_root_dag(spec: PipelineSpecView) -> None:
    actions = plan(job(PipelineState.QUEUED), Tree.of(()), spec, 4, T0)
    assert actions[:2] == [SetJob(PipelineState.QUEUED, PipelineState.PENDING),
                           SetJob(PipelineState.PENDING, PipelineState.RUNNING)]
    new_root = actions[2]
    assert isinstance(new_root, NewTask)
    assert (new_root.task_id, new_root.kind, new_root.state) == (ROOT_ID, TaskKind.DAG, TaskState.RUNNING)
    assert new_root.inputs.parameters == {"x": 1}


def test_only_tasks_whose_upstream_ended_are_created(spec: PipelineSpecView) -> None:
    (created,) = plan(job(), Tree.of((root(),)), spec, 4, T0)
    assert isinstance(created, NewTask)
    assert created.key == "step" and created.name == "a"
    assert created.state is TaskState.PENDING
    assert created.inputs.parameters == {"x": 1}
    assert created.detail["image"] == "python:3.11"
    assert len(str(created.detail["cacheKey"])) == 64  # compiled tasks cache by default, as on Vertex


def test_outputs_flow_to_the_tasks_that_become_ready(spec: PipelineSpecView) -> None:
    actions = plan(job(), Tree.of((root(), child("step", TaskState.SUCCEEDED, 2, output=2))), spec, 4, T0)
    created = {a.name: a for a in actions if isinstance(a, NewTask)}
    assert set(created) == {"b", "c"}
    assert created["b"].inputs.parameters == {"x": 2}


def test_pending_leaves_launch_up_to_the_free_slots(spec: PipelineSpecView) -> None:
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), child("step-2", TaskState.PENDING, 3),
             child("step-3", TaskState.PENDING, 4))
    assert [a for a in plan(job(), Tree.of(tasks), spec, 1, T0) if isinstance(a, Launch)] == [
        Launch(tasks[2].task_id)]
    assert len([a for a in plan(job(), Tree.of(tasks), spec, 5, T0) if isinstance(a, Launch)]) == 2
    assert [a for a in plan(job(), Tree.of(tasks), spec, 0, T0) if isinstance(a, Launch)] == []


def test_downstream_of_a_failure_is_not_triggered_and_the_job_fails(spec: PipelineSpecView) -> None:
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), child("step-2", TaskState.FAILED, 3),
             child("step-3", TaskState.SUCCEEDED, 4, 3))
    (d,) = plan(job(), Tree.of(tasks), spec, 4, T0)
    assert isinstance(d, NewTask) and d.name == "d" and d.state is TaskState.NOT_TRIGGERED

    done = (*tasks, child("step-4", TaskState.NOT_TRIGGERED, 5))
    (finish_root,) = plan(job(), Tree.of(done), spec, 4, T0)
    assert isinstance(finish_root, SetTask) and finish_root.state is TaskState.FAILED
    assert finish_root.error is not None and "[b]" in str(finish_root.error["message"])

    (finish_job,) = plan(job(), Tree.of((replace(root(), state=TaskState.FAILED), *done[1:])), spec, 4, T0)
    assert isinstance(finish_job, SetJob) and finish_job.state is PipelineState.FAILED
    assert finish_job.error == {"code": 9, "message":
                                "The DAG failed because some tasks failed. The failed tasks are: [b]."}


def test_a_finished_dag_carries_its_outputs_and_the_job_succeeds(spec: PipelineSpecView) -> None:
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), child("step-2", TaskState.SUCCEEDED, 3, 3),
             child("step-3", TaskState.SUCCEEDED, 4, 3), child("step-4", TaskState.SUCCEEDED, 5, 4))
    (finish,) = plan(job(), Tree.of(tasks), spec, 4, T0)
    assert finish == SetTask(ROOT_ID, TaskState.RUNNING, TaskState.SUCCEEDED, outputs=Values({"Output": 4}))
    (end,) = plan(job(), Tree.of((replace(root(), state=TaskState.SUCCEEDED), *tasks[1:])), spec, 4, T0)
    assert end == SetJob(PipelineState.RUNNING, PipelineState.SUCCEEDED)
    assert plan(job(PipelineState.SUCCEEDED), Tree.of(tasks), spec, 4, T0) == []


def test_cancel_stops_pending_terminates_running_and_creates_nothing(spec: PipelineSpecView) -> None:
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), child("step-2", TaskState.RUNNING, 3),
             child("step-3", TaskState.PENDING, 4))
    actions = plan(job(cancel_requested=True), Tree.of(tasks), spec, 4, T0)
    assert actions == [SetJob(PipelineState.RUNNING, PipelineState.CANCELLING),
                       SetTask(tasks[3].task_id, TaskState.PENDING, TaskState.CANCELLED),
                       Terminate(tasks[2].task_id)]

    ended = (root(), tasks[1], replace(tasks[2], state=TaskState.CANCELLED),
             replace(tasks[3], state=TaskState.CANCELLED))
    cancelling = job(PipelineState.CANCELLING, cancel_requested=True)
    (finish,) = plan(cancelling, Tree.of(ended), spec, 4, T0)
    assert isinstance(finish, SetTask) and finish.state is TaskState.CANCELLED
    (end,) = plan(cancelling, Tree.of((replace(root(), state=TaskState.CANCELLED), *ended[1:])), spec, 4, T0)
    assert end.state is PipelineState.CANCELLED and end.error == {  # type: ignore[union-attr]
        "code": 1, "message": "The pipeline job was cancelled."}


def test_a_queued_job_cancelled_before_it_starts(spec: PipelineSpecView) -> None:
    (end,) = plan(job(PipelineState.QUEUED, cancel_requested=True), Tree.of(()), spec, 4, T0)
    assert isinstance(end, SetJob) and end.state is PipelineState.CANCELLED


def test_fail_fast_starts_nothing_after_a_failure(spec: PipelineSpecView) -> None:
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), child("step-2", TaskState.FAILED, 3),
             child("step-3", TaskState.PENDING, 4))
    actions = plan(job(fail_fast=True), Tree.of(tasks), spec, 4, T0)
    assert actions == [SetTask(tasks[3].task_id, TaskState.PENDING, TaskState.CANCELLED)]


def test_settle_turns_outcomes_into_transitions() -> None:
    running = replace(child("step", TaskState.RUNNING, 2), detail={"image": "i"})
    (ok,) = settle(running, Outcome(outputs=Values({"Output": 1}), exit_code=0, log_path="/l/1", process="p/1"), T0)
    assert ok == SetTask(running.task_id, TaskState.RUNNING, TaskState.SUCCEEDED, outputs=Values({"Output": 1}),
                         detail={"image": "i", "lastLog": "/l/1", "process": "p/1"})
    (bad,) = settle(running, Outcome(error="boom", exit_code=1, log_path="/l/1", process="p/1"), T0)
    assert bad.state is TaskState.FAILED and bad.error == {"code": 9, "message": "boom"}
    assert bad.detail is not None and bad.detail["failedAttempts"] == ["p/1"]
    (cancelled,) = settle(replace(running, state=TaskState.CANCELLING), Outcome(cancelled=True), T0)
    assert cancelled.expected is TaskState.CANCELLING and cancelled.state is TaskState.CANCELLED


def test_a_cache_hit_is_taken_even_when_no_slot_is_free(spec: PipelineSpecView) -> None:
    waiting = replace(child("step-2", TaskState.PENDING, 3), detail={"cacheKey": "k2"})
    cached = replace(child("step-3", TaskState.PENDING, 4), detail={"cacheKey": "k3"})
    tasks = (root(), child("step", TaskState.SUCCEEDED, 2, 2), waiting, cached)
    hit = CacheHit("k3", "earlier-job", 99, Values({"Output": 3}))
    actions = plan(job(), Tree.of(tasks), spec, 0, T0, dirty=set(), cache_hits={cached.task_id: hit})
    assert [(type(a).__name__, a.task_id) for a in actions] == [("SetTask", cached.task_id)]
    (skip,) = actions
    assert isinstance(skip, SetTask) and skip.state is TaskState.SKIPPED and skip.outputs == Values({"Output": 3})

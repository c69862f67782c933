"""Reruns: reuse what SUCCEEDED in the original job, run the rest again, with per-task overrides."""

from pathlib import Path
from typing import Any

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Output

from sluice.domain.caching import with_caching
from sluice.domain.listing import JobField, JobQuery, OrderKey
from sluice.domain.rerun import RerunRequest, TaskRerunConfig
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import Submission
from sluice.errors import InvalidArgument
from sluice.jobs import submit
from sluice.runtime.assembly import Runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile, RunSpec, start_in_thread, task
from tests.support import wait_until

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def produce(n: int, marker: str, data: Output[Dataset]) -> int:
    with open(marker, "a") as f:
        f.write("produce\n")
    with open(data.path, "w") as f:
        f.write(str(n))
    return n + 1


@dsl.component(base_image=IMAGE)
def check(x: int, ok: bool) -> int:
    if not ok:
        raise ValueError(f"not ok with {x}")
    return x * 2


@dsl.pipeline(name="rerunnable")
def rerunnable(n: int = 1, ok: bool = False, marker: str = "") -> int:
    made = produce(n=n, marker=marker)
    return check(x=made.outputs["Output"], ok=ok).output


@pytest.fixture
def spec(compile_pipeline: Compile) -> dict[str, Any]:
    return with_caching(compile_pipeline(rerunnable), enabled=False)  # reuse must come from the rerun alone


def runs(marker: Path) -> int:
    return marker.read_text().count("produce")


def test_rerun_reuses_succeeded_tasks_and_runs_the_failed_one_with_an_override(
        spec: dict[str, Any], run_spec: RunSpec, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    original = run_spec(spec, {"marker": str(marker)})
    assert original.job.state is PipelineState.FAILED and runs(marker) == 1

    configs = (TaskRerunConfig(task_name="check", parameter_values={"ok": True}),)
    rerun = run_spec(spec, {"marker": str(marker)}, rerun=RerunRequest(original.job.numeric_id, configs))

    assert rerun.job.state is PipelineState.SUCCEEDED, rerun.job.error
    assert runs(marker) == 1  # produce was reused, not run
    reused, first = task(rerun, "produce"), task(original, "produce")
    assert reused.state is TaskState.SKIPPED and reused.outputs == first.outputs  # same URIs, same values
    assert reused.detail["cachedFrom"] == {"jobId": original.job.job_id, "taskId": str(first.task_id)}
    assert task(rerun, "check").outputs.parameters["Output"] == 4
    assert rerun.job.rerun == {"originalPipelineJobId": str(original.job.numeric_id),
                               "pipelineTaskRerunConfigs": [{"taskName": "check",
                                                             "inputs": {"parameterValues": {"ok": True}}}]}


def test_a_changed_parameter_reruns_only_what_it_reaches_and_skip_task_false_forces_a_run(
        spec: dict[str, Any], run_spec: RunSpec, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    original = run_spec(spec, {"marker": str(marker)})
    request = RerunRequest(original.job.numeric_id)
    fixed = run_spec(spec, {"marker": str(marker), "ok": True}, rerun=request)
    assert fixed.job.state is PipelineState.SUCCEEDED and runs(marker) == 1
    assert task(fixed, "produce").state is TaskState.SKIPPED

    forced = RerunRequest(fixed.job.numeric_id, (TaskRerunConfig(task_name="produce", skip_task=False),))
    again = run_spec(spec, {"marker": str(marker), "ok": True}, rerun=forced)
    assert task(again, "produce").state is TaskState.SUCCEEDED and runs(marker) == 2
    # produce ran again with the same inputs, so check's inputs are the same: reused
    assert task(again, "check").state is TaskState.SKIPPED


def test_bad_references_are_invalid_arguments_naming_the_field(
        spec: dict[str, Any], run_spec: RunSpec, runtime: Runtime, settings: Any, tmp_path: Path) -> None:
    original = run_spec(spec, {"marker": str(tmp_path / "m")})
    view = parse_spec(spec)

    def rerun(request: RerunRequest) -> InvalidArgument:
        with pytest.raises(InvalidArgument) as info:
            submit(runtime.store, settings, Submission(spec=view, rerun=request), utc_now())
        return info.value

    assert rerun(RerunRequest(12345)).field == "originalPipelineJobId"
    bad_name = RerunRequest(original.job.numeric_id, (TaskRerunConfig(task_name="nope"),))
    assert rerun(bad_name).field == "pipelineTaskRerunConfigs[0].taskName"
    bad_id = RerunRequest(original.job.numeric_id, (TaskRerunConfig(task_name="check"), TaskRerunConfig(task_id=7)))
    assert rerun(bad_id).field == "pipelineTaskRerunConfigs[1].taskId"
    assert len(runtime.store.list_page(JobQuery(None, (OrderKey(JobField.JOB_ID, True),))).jobs) == 1  # nothing stored


@dsl.component(base_image=IMAGE)
def link(x: int, marker: str, name: str) -> int:
    with open(marker, "a") as f:
        f.write(name + "\n")
    return x + 1


@dsl.pipeline(name="chain-of-three")
def chain_of_three(x: int = 0, marker: str = "") -> int:
    one = link(x=x, marker=marker, name="one").set_display_name("one")
    two = link(x=one.output, marker=marker, name="two").set_display_name("two")
    return link(x=two.output, marker=marker, name="three").set_display_name("three").output


def test_skip_downstream_reuses_what_follows_a_changed_task(compile_pipeline: Compile, run_spec: RunSpec,
                                                            tmp_path: Path) -> None:
    spec = with_caching(compile_pipeline(chain_of_three), enabled=False)
    marker = tmp_path / "marker"
    original = run_spec(spec, {"marker": str(marker)})
    assert task(original, "chain-of-three").outputs.parameters["Output"] == 3

    changed = RerunRequest(original.job.numeric_id, (TaskRerunConfig(task_name="link", parameter_values={"x": 10}),))
    plain = run_spec(spec, {"marker": str(marker)}, rerun=changed)
    assert marker.read_text().splitlines()[3:] == ["one", "two", "three"]  # the change reaches everything after
    assert task(plain, "chain-of-three").outputs.parameters["Output"] == 13

    kept = RerunRequest(original.job.numeric_id, (
        TaskRerunConfig(task_name="link", parameter_values={"x": 10}, skip_downstream=True),))
    downstream_kept = run_spec(spec, {"marker": str(marker)}, rerun=kept)
    assert marker.read_text().splitlines()[6:] == ["one"]  # two and three keep their original results
    assert task(downstream_kept, "two").state is TaskState.SKIPPED
    assert task(downstream_kept, "chain-of-three").outputs.parameters["Output"] == 3


def test_rerun_of_a_cancelled_job(compile_pipeline: Compile, run_spec: RunSpec, runtime: Runtime, settings: Any,
                                  tmp_path: Path) -> None:
    spec = with_caching(compile_pipeline(chain_of_three), enabled=False)
    marker = tmp_path / "marker"
    job, worker = start_in_thread(runtime, settings, spec, {"marker": str(marker)})
    wait_until(marker.exists, 60, "the first task never started")
    runtime.store.request_cancel(job.job_id, utc_now())
    worker.join(30)
    assert not worker.is_alive()
    cancelled = runtime.store.snapshot(job.job_id)
    assert cancelled.job.state is PipelineState.CANCELLED
    done = {t.name for t in cancelled.tasks if t.state is TaskState.SUCCEEDED and t.parent_id is not None}

    rerun = run_spec(spec, {"marker": str(marker)}, rerun=RerunRequest(cancelled.job.numeric_id))
    assert rerun.job.state is PipelineState.SUCCEEDED
    assert task(rerun, "chain-of-three").outputs.parameters["Output"] == 3
    assert {t.name for t in rerun.tasks if t.state is TaskState.SKIPPED} == done

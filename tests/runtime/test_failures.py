"""End to end: failing tasks, what they do to the rest of the job, and fail-fast.

Pipelines are compiled by the real kfp compiler and run with real subprocesses.
"""

# Components import inside their bodies: kfp ships only the function's source to the task.

import re
from pathlib import Path
from typing import Optional

from kfp import dsl
from kfp.dsl import OutputPath

from sluice.config import Settings
from sluice.domain.records import Snapshot, TaskRecord
from sluice.domain.states import PipelineState, TaskState
from tests.conftest import Compile, RunSpec, run_on, task

IMAGE = "python:3.11"
FAIL_FAST = {"failurePolicy": "PIPELINE_FAILURE_POLICY_FAIL_FAST"}


def _root(snapshot: Snapshot) -> TaskRecord:
    return next(t for t in snapshot.tasks if t.parent_id is None)


def _log(t: TaskRecord) -> str:
    path = t.detail.get("lastLog")
    assert path, f"{t.name} has no log: {t.detail}"
    assert Path(str(path)).is_file(), path
    return Path(str(path)).read_text()


def _never_ran(t: TaskRecord) -> None:
    assert t.attempt == 0, (t.name, t.attempt)
    assert t.outputs.parameters == {} and t.outputs.artifacts == {}, (t.name, t.outputs)
    assert "lastLog" not in t.detail, (t.name, t.detail)
    assert t.start_time is None, f"{t.name} ({t.state.name}) never ran but has start_time {t.start_time}"


@dsl.component(base_image=IMAGE)
def explode(message: str) -> str:
    print("about to fail")
    raise ValueError(message)


@dsl.component(base_image=IMAGE)
def echo(text: str) -> str:
    return text


@dsl.component(base_image=IMAGE)
def nap(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "rested"


# ---------------------------------------------------------------------------------------------------------
# 10. Fail-slow (the default): downstream tasks are not triggered, independent branches go on


@dsl.pipeline(name="fail-slow")
def fail_slow_pipeline(message: str = "boom-42"):
    bad = explode(message=message)
    downstream = echo(text=bad.output).set_display_name("downstream")
    echo(text=downstream.output).set_display_name("downstream-of-downstream")
    echo(text="ordered").set_display_name("after-only").after(bad)
    slow = nap(seconds=1.0).set_display_name("independent")
    echo(text=slow.output).set_display_name("independent-next")


def test_failed_task_fails_the_job_and_only_its_downstream(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(fail_slow_pipeline), {"message": "boom-42"})

    assert snapshot.job.state is PipelineState.FAILED
    bad = task(snapshot, "explode")
    assert bad.state is TaskState.FAILED
    assert bad.attempt == 1 and bad.start_time is not None and bad.end_time is not None
    assert bad.error is not None and bad.error["message"]
    assert "status of 1" in bad.error["message"], bad.error
    log = _log(bad)
    assert "about to fail" in log
    assert "ValueError: boom-42" in log

    for name in ("downstream", "downstream-of-downstream", "after-only"):
        t = task(snapshot, name)
        assert t.state is TaskState.NOT_TRIGGERED, (name, t.state)
        _never_ran(t)

    # The independent branch runs to its end, even though it was still running when `explode` failed.
    independent, nxt = task(snapshot, "independent"), task(snapshot, "independent-next")
    assert independent.state is TaskState.SUCCEEDED
    assert nxt.state is TaskState.SUCCEEDED
    assert nxt.outputs.parameters == {"Output": "rested"}
    assert bad.end_time < nxt.start_time  # started after the failure: fail-slow keeps going

    root = _root(snapshot)
    assert root.state is TaskState.FAILED
    assert snapshot.job.error is not None
    assert "explode" in snapshot.job.error["message"]
    for name in ("downstream", "independent", "independent-next"):
        assert f"{name}," not in snapshot.job.error["message"] and f"{name}]" not in snapshot.job.error["message"]


# ---------------------------------------------------------------------------------------------------------
# 11. A container component's exit status and its log


@dsl.container_component
def exit_three():
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
    )


@dsl.pipeline(name="exit-status")
def exit_pipeline():
    exit_three()


def test_container_exit_status_and_log(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(exit_pipeline))

    assert snapshot.job.state is PipelineState.FAILED
    failed = task(snapshot, "exit-three")
    assert failed.state is TaskState.FAILED
    assert failed.error is not None
    message = failed.error["message"]
    assert "status" in message and re.search(r"\b3\b", message), message
    log = _log(failed)
    assert "to-stdout\n" in log
    assert "to-stderr\n" in log
    assert failed.detail.get("failedAttempts"), failed.detail
    assert "exit-three" in (snapshot.job.error or {}).get("message", "")


@dsl.container_component
def forgets_output(out: OutputPath(str)):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", "echo wrote nothing to $0"], args=[out])


@dsl.container_component
def needs_value(out: OutputPath(str), maybe: Optional[str] = None):  # noqa: UP045
    # Refers to an optional input without IfPresent: it cannot be resolved when no value is given.
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'echo "$0" > "$1"'], args=[maybe, out])


@dsl.pipeline(name="bad-outputs")
def bad_outputs_pipeline():
    forgets_output()
    needs_value()


def test_missing_output_and_unresolvable_placeholder_fail_the_task(
    compile_pipeline: Compile, run_spec: RunSpec
) -> None:
    snapshot = run_spec(compile_pipeline(bad_outputs_pipeline))

    assert snapshot.job.state is PipelineState.FAILED
    forgot = task(snapshot, "forgets-output")
    assert forgot.state is TaskState.FAILED
    assert forgot.error is not None and "out" in forgot.error["message"], forgot.error
    assert "wrote nothing to" in _log(forgot)

    unresolved = task(snapshot, "needs-value")
    assert unresolved.state is TaskState.FAILED
    assert unresolved.error is not None and "maybe" in unresolved.error["message"], unresolved.error
    message = (snapshot.job.error or {}).get("message", "")
    assert "forgets-output" in message and "needs-value" in message


# ---------------------------------------------------------------------------------------------------------
# 12. Fail-fast: nothing new starts after a failure


@dsl.pipeline(name="fail-fast")
def fail_fast_pipeline():
    explode(message="fast")
    slow = nap(seconds=2.0).set_display_name("slow")
    echo(text=slow.output).set_display_name("after-slow")


def test_fail_fast_starts_nothing_after_a_failure(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(fail_fast_pipeline), runtime_config=FAIL_FAST)

    assert snapshot.job.fail_fast is True
    assert snapshot.job.state is PipelineState.FAILED
    bad = task(snapshot, "explode")
    assert bad.state is TaskState.FAILED
    assert bad.end_time is not None
    slow = task(snapshot, "slow")
    assert slow.start_time is not None and slow.start_time < bad.end_time  # it was already running
    assert slow.state in (TaskState.SUCCEEDED, TaskState.CANCELLED)

    after = [t for t in snapshot.tasks if t.name == "after-slow"]
    assert all(t.state is TaskState.CANCELLED for t in after), [(t.name, t.state) for t in after]
    for t in after:
        _never_ran(t)
    started_later = [t.name for t in snapshot.tasks if t.start_time is not None and t.start_time > bad.end_time]
    assert started_later == []
    assert _root(snapshot).state is TaskState.FAILED
    assert "explode" in (snapshot.job.error or {}).get("message", "")


def test_fail_slow_runs_what_fail_fast_would_not(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(fail_fast_pipeline))

    assert snapshot.job.fail_fast is False
    assert snapshot.job.state is PipelineState.FAILED
    assert task(snapshot, "slow").state is TaskState.SUCCEEDED
    after = task(snapshot, "after-slow")
    assert after.state is TaskState.SUCCEEDED
    assert after.outputs.parameters == {"Output": "rested"}


@dsl.pipeline(name="fail-fast-queue")
def fail_fast_queue_pipeline():
    explode(message="first")
    nap(seconds=0.2).set_display_name("queued-1")
    nap(seconds=0.2).set_display_name("queued-2")


def test_fail_fast_cancels_tasks_waiting_for_a_slot(
    compile_pipeline: Compile, tmp_path: Path, envs_dir: Path
) -> None:
    # One slot: the tasks are created PENDING together and start one after another.
    settings = Settings(root=tmp_path / "serial", envs_dir=envs_dir, max_parallel=1, cancel_grace_seconds=2.0)
    snapshot = run_on(settings, compile_pipeline(fail_fast_queue_pipeline), runtime_config=FAIL_FAST)

    assert snapshot.job.state is PipelineState.FAILED
    bad = task(snapshot, "explode")
    assert bad.state is TaskState.FAILED and bad.end_time is not None
    queued = [task(snapshot, "queued-1"), task(snapshot, "queued-2")]
    started_later = [t.name for t in queued if t.start_time is not None and t.start_time > bad.end_time]
    assert started_later == []
    not_started = [t for t in queued if t.start_time is None]
    assert not_started, "with one slot, at least one task was still waiting when `explode` failed"
    for t in not_started:
        assert t.state is TaskState.CANCELLED, (t.name, t.state)
        _never_ran(t)

"""Cancelling a running job: pending tasks never start, running ones are stopped, exit handlers still run."""

import time
from pathlib import Path

from kfp import dsl

from sluice.config import Settings
from sluice.domain.states import PipelineState, TaskState
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile, start_in_thread, task
from tests.support import wait_until

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def hang(marker: str) -> None:
    import time

    with open(marker, "w") as f:
        f.write("started")
    time.sleep(120)


@dsl.component(base_image=IMAGE)
def later() -> None:
    pass


@dsl.component(base_image=IMAGE)
def cleanup(status: dsl.PipelineTaskFinalStatus) -> str:
    return status.state


@dsl.pipeline(name="cancel-me")
def cancel_me(marker: str) -> None:
    handler = cleanup().set_display_name("cleanup")
    with dsl.ExitHandler(handler, name="body"):
        hang(marker=marker)
        later().set_display_name("waiting")  # no slot for it while hang runs (max_parallel=1)


def test_cancel_a_running_job(compile_pipeline: Compile, tmp_path: Path, envs_dir: Path) -> None:
    settings = Settings(root=tmp_path / "root", envs_dir=envs_dir, max_parallel=1, cancel_grace_seconds=1)
    rt = open_runtime(settings)
    marker = tmp_path / "marker"
    job, worker = start_in_thread(rt, settings, compile_pipeline(cancel_me), {"marker": str(marker)})
    wait_until(marker.exists, 60, "the task never started")
    started = time.monotonic()
    rt.store.request_cancel(job.job_id, utc_now())
    worker.join(timeout=30)
    assert not worker.is_alive()
    snapshot = rt.store.snapshot(job.job_id)
    rt.close()

    assert time.monotonic() - started < 15
    assert snapshot.job.state is PipelineState.CANCELLED
    assert snapshot.job.error == {"code": 1, "message": "The pipeline job was cancelled."}
    hung = task(snapshot, "hang")
    assert [h.state for h in hung.history][-3:] == [TaskState.CANCEL_PENDING, TaskState.CANCELLING,
                                                     TaskState.CANCELLED]
    waiting = task(snapshot, "waiting")
    assert waiting.state is TaskState.CANCELLED and waiting.attempt == 0 and waiting.start_time is None
    assert task(snapshot, "body").state is TaskState.CANCELLED
    assert task(snapshot, "cleanup").outputs.parameters["Output"] == "CANCELLED"  # the exit handler ran

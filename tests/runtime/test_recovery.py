"""Crash recovery: an orchestrator killed with SIGKILL mid-run loses nothing; another takes the job over."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kfp import dsl

from sluice.config import Settings
from sluice.domain.planner import INTERRUPTED
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile, task
from tests.support import alive

IMAGE = "python:3.11"
DRIVER = """
import sys
from sluice.config import Settings
from sluice.runtime.assembly import open_runtime
rt = open_runtime(Settings(root=sys.argv[1], envs_dir=sys.argv[2], lease_seconds=1.5))
rt.orchestrator.run_job(sys.argv[3])
"""


@dsl.component(base_image=IMAGE)
def first(marker: str) -> str:
    with open(marker, "a") as f:
        f.write("first\n")
    return "a"


@dsl.component(base_image=IMAGE)
def second(marker: str, x: str) -> str:
    import os
    import time

    with open(marker, "a") as f:
        f.write(f"second {os.getpid()}\n")
    if sum(1 for line in open(marker) if line.startswith("second")) == 1:
        time.sleep(120)  # the first attempt hangs until its orchestrator dies
    return x + "b"


@dsl.pipeline(name="crashy")
def crashy(marker: str) -> str:
    return second(marker=marker, x=first(marker=marker).output).output


def test_a_killed_orchestrator_is_taken_over(compile_pipeline: Compile, tmp_path: Path, envs_dir: Path) -> None:
    root, marker = tmp_path / "root", tmp_path / "marker"
    settings = Settings(root=root, envs_dir=envs_dir, lease_seconds=1.5)
    rt = open_runtime(settings)
    config = {"parameterValues": {"marker": str(marker)}}
    sub = Submission(spec=parse_spec(compile_pipeline(crashy)), runtime_config=config)
    job = submit(rt.store, settings, sub, utc_now())
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(root), str(envs_dir), job.job_id])
    try:
        deadline = time.monotonic() + 60
        while "second" not in (marker.read_text() if marker.exists() else ""):
            assert driver.poll() is None and time.monotonic() < deadline, "the first orchestrator never got going"
            time.sleep(0.1)
        hung_pid = int(marker.read_text().split("second ")[1].split()[0])
        assert rt.orchestrator.run_job(job.job_id).state is PipelineState.RUNNING  # held by the other: hands off
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert alive(hung_pid)  # the task outlived its orchestrator

        deadline = time.monotonic() + 30
        final = rt.orchestrator.run_job(job.job_id)
        while final.state is PipelineState.RUNNING and time.monotonic() < deadline:  # the lease expires first
            time.sleep(0.3)
            final = rt.orchestrator.run_job(job.job_id)
    finally:
        if driver.poll() is None:
            driver.kill()
    snapshot = rt.store.snapshot(job.job_id)
    rt.close()

    assert final.state is PipelineState.SUCCEEDED, final.error
    assert marker.read_text().count("first") == 1  # what had SUCCEEDED is never run again
    assert not alive(hung_pid)  # the orphaned attempt was stopped
    b = task(snapshot, "second")
    assert b.outputs.parameters["Output"] == "ab" and b.attempt == 2
    states = [h.state for h in b.history]
    assert states == [TaskState.PENDING, TaskState.RUNNING, TaskState.FAILED, TaskState.PENDING,
                      TaskState.RUNNING, TaskState.SUCCEEDED]
    assert b.history[2].error == {"code": 10, "message": INTERRUPTED}

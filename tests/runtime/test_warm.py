"""The warm executor: lightweight components run as forks of a pre-imported interpreter, indistinguishably.

Every test runs the same pipeline warm (the default) and cold (`warm_executor=False`) and compares what
the component saw and what the task ended as; a component reports its parent process, which proves
which way it ran.
"""

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from kfp import dsl

from sluice.config import Settings
from sluice.domain.records import Snapshot
from sluice.domain.states import PipelineState, TaskState
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile, run_on, start_in_thread, task
from tests.support import wait_until

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def observe(x: int) -> NamedTuple("Seen", total=int, parent=str, argv=list, path1=str, cwd=str, main=str,
                                   env=str, stdout_tty=bool, encoding=str, random=float, modules=bool):
    import os
    import random
    import sys

    print("to stdout", x)
    print("to stderr", x, file=sys.stderr)
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        parent = [os.path.basename(a.decode()) for a in f.read().split(b"\0") if a]
    argv = [a for a in sys.argv[1:] if not a.startswith(("{", "/"))]  # the executor input and paths vary
    return (x + 1, " ".join(parent[:2]), argv, sys.path[1], os.getcwd(),
            f"{sys.modules['__main__'].__spec__.name} {__name__}",
            os.environ.get("SEEN_VAR", ""), sys.stdout.isatty(), sys.stdout.encoding, random.random(),
            "sluice" in sys.modules)


@dsl.pipeline(name="warm-and-cold")
def observe_pipeline() -> None:
    observe(x=1).set_env_variable("SEEN_VAR", "a value; $(not shell)")
    observe(x=2).set_env_variable("SEEN_VAR", "two")


@dsl.component(base_image=IMAGE)
def fail_with(how: str) -> None:
    import os
    import signal
    import sys

    if how == "raise":
        raise ValueError("boom from the component")
    if how == "exit":
        sys.exit(3)
    if how == "signal":
        os.kill(os.getpid(), signal.SIGKILL)


@dsl.pipeline(name="failures")
def failures_pipeline() -> None:
    for how in ("raise", "exit", "signal"):
        fail_with(how=how).set_display_name(how).set_retry(0)


def _settings(tmp_path: Path, envs_dir: Path, warm: bool) -> Settings:
    return Settings(root=tmp_path / ("warm" if warm else "cold"), envs_dir=envs_dir, max_parallel=2,
                    cancel_grace_seconds=1, warm_executor=warm)


def _log(snapshot: Snapshot, name: str) -> str:
    return Path(str(task(snapshot, name).detail["lastLog"])).read_text()


def test_a_warm_task_sees_what_a_cold_one_sees(compile_pipeline: Compile, tmp_path: Path, envs_dir: Path) -> None:
    spec = compile_pipeline(observe_pipeline)
    runs = {warm: run_on(_settings(tmp_path, envs_dir, warm), spec) for warm in (True, False)}
    seen = {}
    for warm, snapshot in runs.items():
        assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
        for name in ("observe", "observe-2"):
            out = dict(task(snapshot, name).outputs.parameters)
            assert out.pop("cwd") == out.pop("path1")  # `-m` put it first; kfp then put the module's dir before it
            seen[(warm, name)] = out
            log = _log(snapshot, name)
            assert f"to stdout {out['total'] - 1}" in log and f"to stderr {out['total'] - 1}" in log, log
    assert seen[(True, "observe")]["parent"] == "python3.11 warm_server.py"  # forked by the warm executor
    assert seen[(False, "observe")]["parent"] == "sh -ec"  # started by kfp's launcher script
    assert seen[(True, "observe")]["random"] != seen[(True, "observe-2")]["random"]  # reseeded in each fork
    for name in ("observe", "observe-2"):
        warm, cold = seen[(True, name)], seen[(False, name)]
        for key in ("parent", "random"):
            warm.pop(key), cold.pop(key)
        assert warm == cold
    assert seen[(True, "observe")] == {
        "total": 2, "argv": ["--component_module_path", "--executor_input", "--function_to_execute", "observe"],
        "main": "kfp.dsl.executor_main ephemeral_component",
        "env": "a value; $(not shell)", "stdout_tty": False, "encoding": "utf-8", "modules": False,
    }


def test_failures_end_the_same_warm_and_cold(compile_pipeline: Compile, tmp_path: Path, envs_dir: Path) -> None:
    spec = compile_pipeline(failures_pipeline)
    ended = {}
    for warm in (True, False):
        snapshot = run_on(_settings(tmp_path, envs_dir, warm), spec)
        assert snapshot.job.state is PipelineState.FAILED
        for how in ("raise", "exit", "signal"):
            t = task(snapshot, how)
            assert t.state is TaskState.FAILED
            ended[(warm, how)] = t.error["message"]
        assert "ValueError: boom from the component" in _log(snapshot, "raise")
        assert "Traceback (most recent call last)" in _log(snapshot, "raise")
    for how in ("raise", "exit", "signal"):
        assert ended[(True, how)] == ended[(False, how)]
    assert ended[(True, "exit")] == "The task's command exited with a non-zero status of 3."
    assert ended[(True, "signal")] == "The task's command exited with a non-zero status of 137."


@dsl.component(base_image=IMAGE)
def hang(marker: str) -> None:
    import os
    import signal
    import sys
    import time

    def clean_up(*_: object) -> None:
        with open(marker + ".cleaned", "w") as f:
            f.write("cleaned up")
        sys.exit(0)

    signal.signal(signal.SIGTERM, clean_up)
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)


@dsl.pipeline(name="hang")
def hang_pipeline(marker: str) -> None:
    hang(marker=marker)


@pytest.mark.parametrize("warm", [True, False])
def test_cancelling_stops_the_component_after_its_grace_period(
    compile_pipeline: Compile, tmp_path: Path, envs_dir: Path, warm: bool
) -> None:
    settings = _settings(tmp_path, envs_dir, warm)
    rt = open_runtime(settings)
    marker = tmp_path / "pid"
    job, worker = start_in_thread(rt, settings, compile_pipeline(hang_pipeline), {"marker": str(marker)})
    wait_until(lambda: marker.exists() and marker.read_text(), 60, "the component never started")
    pid = int(marker.read_text())
    assert Path(f"/proc/{pid}").exists()
    rt.store.request_cancel(job.job_id, utc_now())
    worker.join(timeout=30)
    try:
        assert not worker.is_alive()
        assert rt.store.snapshot(job.job_id).job.state is PipelineState.CANCELLED
    finally:
        rt.close()
    # the warm executor reaps its child right after it dies
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 2, "the component's process outlived the cancel")
    assert Path(f"{marker}.cleaned").read_text() == "cleaned up"  # it had its grace period to end on SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

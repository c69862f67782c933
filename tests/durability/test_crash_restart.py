"""`kill -9` of a single SQLite `sluice server` mid-run, then a restart on the same root and database:
every job SUCCEEDED, nothing that had SUCCEEDED ran again, interrupted attempts are recorded and run again."""

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from tests.durability.conftest import (
    EXPECTED_OUTPUT,
    LEAVES,
    STORED_MID_RUN,
    Launch,
    Markers,
    State,
    TaskState,
    engine_for,
    interruptions,
    kill9,
    live_processes,
    submit,
    task_states,
    wait_all,
)

JOBS = 20


def _mid_run(markers: Markers) -> bool:
    """Some sleeping tasks (b, c) have ended and some are running."""
    attempts = [a for runs in markers.read().attempts().values() for a in runs if a.task in ("b", "c")]
    return sum(a.end is not None for a in attempts) >= 4 and sum(a.end is None for a in attempts) >= 2


def test_crash_restart(launch: Launch, durable_spec: dict[str, Any], markers: Markers, tmp_path: Path) -> None:
    root = tmp_path / "root"
    db_url = f"sqlite:///{root / 'sluice.db'}"
    first = launch("first", root, db_url)
    ids = [f"crash-{i:02d}" for i in range(JOBS)]
    names = [submit(first.client(), durable_spec, job_id, markers.path, tmp_path / "artifacts") for job_id in ids]

    deadline = time.monotonic() + 90
    while not _mid_run(markers):
        assert time.monotonic() < deadline, f"never mid-run:\n{first.log_text()[-3000:]}"
        time.sleep(0.05)
    kill9(first)

    engine = engine_for(db_url)
    stored = task_states(engine)  # as the dead server left them: nobody writes now
    engine.dispose()
    succeeded_before = {k for k, s in stored.items() if s == "SUCCEEDED"}
    interrupted = {k for k, s in stored.items() if s in STORED_MID_RUN}
    left_running = {a.pid for runs in markers.read().attempts().values() for a in runs if a.end is None}
    assert succeeded_before and interrupted

    second = launch("second", root, db_url)
    client = second.client()
    jobs = wait_all(client, names, 120, second.log_text)
    attempts = markers.read().attempts()
    started_before = {k: [a for a in runs if a.where == "first"] for k, runs in attempts.items()}

    figures = {"succeeded before the kill": len(succeeded_before), "interrupted": len(interrupted),
               "interrupted, process started before the kill": sum(bool(started_before.get(k)) for k in interrupted),
               "still running at the kill": len(left_running),
               "started twice": sorted(f"{job}/{task}" for (job, task), runs in attempts.items() if len(runs) > 1)}
    print(f"\ncrash-restart: {figures}")

    assert not markers.of("overlap"), markers.of("overlap")  # never two attempts of one task at once
    for name, job in jobs.items():
        job_id = name.rsplit("/", 1)[1]
        assert job.state == State.PIPELINE_STATE_SUCCEEDED, (job_id, job.state.name, job.error.message)
        tasks = {t.task_name: t for t in job.job_detail.task_details}
        assert set(tasks) == {"durable", *LEAVES}, (job_id, sorted(tasks))  # taskDetails complete
        assert all(t.state == TaskState.SUCCEEDED for t in tasks.values()), {n: t.state.name for n, t in tasks.items()}
        assert tasks["d"].execution.metadata["output:out"] == EXPECTED_OUTPUT
        for leaf in LEAVES:
            key, task = (job_id, leaf), tasks[leaf]
            runs = attempts.get(key, [])
            starts = [s for s in task.pipeline_task_status if s.state == TaskState.RUNNING]
            assert runs, f"{key} never ran"
            if key in succeeded_before:  # outputs reused: never run again, no trace of the crash
                assert len(runs) == 1 and runs[0].where == "first", (key, runs)
                assert interruptions(task) == 0 and len(starts) == 1, (key, task.pipeline_task_status)
            elif key in interrupted:
                # FAILED(interrupted) then PENDING, then a new attempt that ran on the restarted server
                assert interruptions(task) == 1, (key, [(s.state.name, s.error.message) for s in
                                                        task.pipeline_task_status])
                failed = next(s for s in task.pipeline_task_status if s.state == TaskState.FAILED)
                assert failed.error.code == 10
                assert len(starts) == 2 and len(runs) == len(started_before.get(key, [])) + 1, (key, runs)
                assert runs[-1].where == "second", (key, runs)
            else:  # not started before the kill: ran once, on the restarted server
                assert len(runs) == 1 and runs[0].where == "second" and interruptions(task) == 0, (key, runs)
            for earlier, later in itertools.pairwise(runs):
                assert earlier.end is None or earlier.end <= later.start, (key, runs)

    # what the killed server left running was stopped, and every other attempt has ended
    assert not live_processes(left_running), live_processes(left_running)
    assert not live_processes(markers.pids()), live_processes(markers.pids())


def test_a_cancel_requested_before_the_crash_is_honoured_after_it(launch: Launch, durable_spec: dict[str, Any],
                                                                   markers: Markers, tmp_path: Path) -> None:
    root = tmp_path / "root"
    db_url = f"sqlite:///{root / 'sluice.db'}"
    first = launch("first", root, db_url)
    client = first.client()
    names = [submit(client, durable_spec, f"cancel-{i}", markers.path, tmp_path / "artifacts",
                    b_seconds=120.0, c_seconds=120.0) for i in range(3)]
    deadline = time.monotonic() + 60
    while len([a for runs in markers.read().attempts().values() for a in runs if a.task in ("b", "c")]) < 6:
        assert time.monotonic() < deadline, f"b and c never started:\n{first.log_text()[-3000:]}"
        time.sleep(0.05)
    for name in names:
        client.cancel_pipeline_job(name=name)
    kill9(first)  # at once: the orchestrator had a few ms at most to act on the request
    hung = markers.read().pids()

    second = launch("second", root, db_url)
    jobs = wait_all(second.client(), names, 60, second.log_text)
    attempts = markers.read().attempts()
    for name, job in jobs.items():
        job_id = name.rsplit("/", 1)[1]
        assert job.state == State.PIPELINE_STATE_CANCELLED, (job_id, job.state.name)
        tasks = {t.task_name: t.state for t in job.job_detail.task_details}
        assert tasks["a"] == TaskState.SUCCEEDED
        assert tasks["b"] == tasks["c"] == TaskState.CANCELLED, {n: s.name for n, s in tasks.items()}
        assert tasks.get("d", TaskState.CANCELLED) == TaskState.CANCELLED  # d never had its turn
        assert len(attempts[(job_id, "b")]) == len(attempts[(job_id, "c")]) == 1  # not run again after the crash
        assert (job_id, "d") not in attempts
    assert not live_processes(hung), live_processes(hung)  # the 120 s sleeps of the killed server were stopped


def test_a_second_server_on_one_sqlite_file_is_refused(launch: Launch, tmp_path: Path) -> None:
    root = tmp_path / "root"
    db_url = f"sqlite:///{root / 'sluice.db'}"
    first = launch("first", root, db_url)
    with pytest.raises(AssertionError, match="exited with") as refused:  # launch() saw it exit: the log follows
        launch("second", tmp_path / "other-root", db_url)
    assert "SQLite" in str(refused.value) and "PostgreSQL" in str(refused.value), refused.value
    assert first.process.poll() is None  # the first one is unharmed
    assert first.client().list_pipeline_jobs(parent="projects/p/locations/l").pipeline_jobs == []

"""Two `sluice server` replicas on one PostgreSQL database; one is `kill -9`ed mid-run and the other finishes
every job: no task attempt runs on both, and the lease takeover time is measured."""

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.durability.conftest import (
    EXPECTED_OUTPUT,
    LEASE_SECONDS,
    LEAVES,
    STORED_JOB_ENDED,
    STORED_MID_RUN,
    Attempt,
    Launch,
    Markers,
    Replica,
    State,
    TaskState,
    engine_for,
    interruptions,
    job_rows,
    kill9,
    live_processes,
    submit,
    task_states,
    wait_all,
)

JOBS = 50
RECORDED_FAILURES = sa.text(
    "select t.job_id, t.name from tasks t join task_status_history h on h.task_id = t.task_id "
    "where h.state = 'FAILED'")


def _owned_by(owner: str | None, pid: int) -> bool:
    return owner is not None and f":{pid}:" in owner  # owner = host:pid:random


@dataclass
class AtKill:
    """What the killed replica left behind, read from the database and the markers right after the kill."""

    held: set[str]  # jobs whose lease it held
    succeeded: set[tuple[str, str]]  # tasks of those jobs that had SUCCEEDED
    interrupted: set[tuple[str, str]]  # tasks of those jobs that were RUNNING
    orphans: dict[tuple[str, str], int]  # task → pid of its process that was still running
    stored: dict[tuple[str, str], str]


@dataclass
class Takeover:
    """Seconds from the kill until ..."""

    first_taken: float | None = None  # ... the other replica held one of the jobs
    first_change: float | None = None  # ... a task of one of those jobs changed state
    all_taken: float | None = None  # ... it held all of them
    alive_after_recovery: dict[tuple[str, str], int] = field(default_factory=dict)  # orphans not stopped

    def __str__(self) -> str:
        def s(value: float | None) -> str:
            return "never" if value is None else f"{value:.2f} s"
        return f"first job taken {s(self.first_taken)}, first task change {s(self.first_change)}, " \
               f"all taken {s(self.all_taken)}"


def _wait_mid_run(markers: Markers, a: Replica) -> None:
    """Jobs have ended, and replica A is running sleeping tasks of jobs it holds."""
    deadline = time.monotonic() + 90
    while True:
        runs = [r for rs in markers.read().attempts().values() for r in rs]
        a_running = [r for r in runs if r.where == "A" and r.end is None and r.task == "c"]
        if sum(r.end is not None for r in runs) >= 20 and len(a_running) >= 3:
            return
        assert time.monotonic() < deadline, f"never mid-run:\n{a.log_text()[-3000:]}"
        time.sleep(0.05)


def _left_behind(engine: sa.Engine, markers: Markers, pid: int) -> AtKill:
    held = {j for j, (state, owner) in job_rows(engine).items()
            if _owned_by(owner, pid) and state not in STORED_JOB_ENDED}
    stored = task_states(engine)  # A's jobs stay frozen until their lease expires
    return AtKill(
        held,
        {k for k, s in stored.items() if k[0] in held and s == "SUCCEEDED"},
        {k for k, s in stored.items() if k[0] in held and s in STORED_MID_RUN},
        {(r.tag, r.task): r.pid for rs in markers.read().attempts().values() for r in rs
         if r.where == "A" and r.end is None},
        stored,
    )


def _watch_takeover(engine: sa.Engine, left: AtKill, pid: int, killed: float) -> Takeover:
    """Poll the database until the other replica holds every job of the killed one and recovered its tasks."""
    seen = Takeover()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows, now = job_rows(engine), time.monotonic() - killed
        taken = {j for j in left.held if rows[j][1] is not None and not _owned_by(rows[j][1], pid)}
        if taken and seen.first_taken is None:
            seen.first_taken = now
        if seen.first_change is None and any(s != left.stored.get(k) for k, s in task_states(engine).items()
                                             if k[0] in left.held):
            seen.first_change = now
        if seen.all_taken is None and all(j in taken or rows[j][0] in STORED_JOB_ENDED for j in left.held):
            seen.all_taken = now
        with engine.connect() as conn:
            recovered = {(r.job_id, r.name) for r in conn.execute(RECORDED_FAILURES)}
        for key, orphan in left.orphans.items():  # the interruption is recorded: A's process must be gone
            if key in recovered and key not in seen.alive_after_recovery and live_processes({orphan}):
                time.sleep(0.5)  # a SIGKILL is not instant
                if live_processes({orphan}):
                    seen.alive_after_recovery[key] = orphan
        if seen.all_taken is not None and all(k in recovered for k in left.orphans if k in left.interrupted):
            break
        time.sleep(0.02)
    return seen


def _check_task(key: tuple[str, str], task: Any, runs: list[Attempt], left: AtKill) -> None:
    assert runs and runs[-1].end is not None, (key, runs)
    for earlier, later in itertools.pairwise(runs):  # never two at once (a killed attempt leaves no end line)
        assert earlier.end is None or earlier.end <= later.start, (key, runs)
    if key in left.interrupted:  # retried on B, the interruption recorded
        assert runs[-1].where == "B" and len([r for r in runs if r.where == "A"]) <= 1, (key, runs)
        assert interruptions(task) == 1, (key, [(s.state.name, s.error.message) for s in task.pipeline_task_status])
    else:  # ran once, on one replica; a task of A's jobs that had SUCCEEDED was not run again
        assert len(runs) == 1 and interruptions(task) == 0, (key, runs)
        if key[0] in left.held:
            assert runs[0].where == ("A" if key in left.succeeded else "B"), (key, runs)


def test_two_replicas_on_postgresql(launch: Launch, pg_url: str, durable_spec: dict[str, Any], markers: Markers,
                                    tmp_path: Path) -> None:
    # slots to spare (the tasks sleep): an interrupted task is retried as soon as its job is taken over
    a = launch("A", tmp_path / "root-a", pg_url, max_parallel=16)
    b = launch("B", tmp_path / "root-b", pg_url, max_parallel=16)
    clients = [a.client(), b.client()]
    out = tmp_path / "artifacts"  # shared, like a bucket
    ids = [f"rep-{i:02d}" for i in range(JOBS)]
    names = [submit(clients[i % 2], durable_spec, job_id, markers.path, out, b_seconds=1.0, c_seconds=5.0)
             for i, job_id in enumerate(ids)]
    engine = engine_for(pg_url)

    _wait_mid_run(markers, a)
    kill9(a)
    killed = time.monotonic()
    left = _left_behind(engine, markers, a.pid)
    assert left.held and left.interrupted and left.orphans
    takeover = _watch_takeover(engine, left, a.pid, killed)
    print(f"\nlease takeover after kill -9 (lease {LEASE_SECONDS} s, {len(left.held)} jobs held by the killed "
          f"replica): {takeover}")

    jobs = wait_all(clients[1], names, 150, b.log_text)
    attempts = markers.read().attempts()
    print(f"replicas: all {JOBS} jobs ended {time.monotonic() - killed:.1f} s after the kill; "
          f"{len(left.succeeded)} tasks of the killed replica's jobs had SUCCEEDED, {len(left.interrupted)} were "
          f"interrupted ({len(left.orphans)} with a process still running at the kill); started twice: "
          f"{sorted(f'{j}/{t}' for (j, t), rs in attempts.items() if len(rs) > 1)}")

    assert takeover.first_taken is not None and takeover.first_taken <= LEASE_SECONDS + 3, takeover
    assert takeover.all_taken is not None and takeover.all_taken <= LEASE_SECONDS + 5, takeover
    overlaps = markers.of("overlap")
    assert not overlaps, (f"{len(overlaps)} attempts started while an attempt of the same task still ran: "
                          f"{[(m.tag, m.task, m.where) for m in overlaps]}")
    assert not takeover.alive_after_recovery, \
        f"attempts of the killed replica still running after the takeover recorded them interrupted: " \
        f"{takeover.alive_after_recovery}"
    for name, job in jobs.items():
        job_id = name.rsplit("/", 1)[1]
        assert job.state == State.PIPELINE_STATE_SUCCEEDED, (job_id, job.state.name, job.error.message)
        tasks = {t.task_name: t for t in job.job_detail.task_details}
        assert set(tasks) == {"durable", *LEAVES}, (job_id, sorted(tasks))
        assert all(t.state == TaskState.SUCCEEDED for t in tasks.values()), {n: t.state.name for n, t in tasks.items()}
        assert tasks["d"].execution.metadata["output:out"] == EXPECTED_OUTPUT
        for leaf in LEAVES:
            _check_task((job_id, leaf), tasks[leaf], attempts.get((job_id, leaf), []), left)

    rows = job_rows(engine)
    engine.dispose()
    assert sorted(rows) == sorted(ids)
    assert all(owner is None for _, owner in rows.values()), rows  # every lease given back
    assert b.process.poll() is None
    assert not live_processes(markers.pids()), live_processes(markers.pids())

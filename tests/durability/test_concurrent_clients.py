"""Many clients creating, cancelling and deleting jobs at once on two replicas of one PostgreSQL database:
the store ends consistent (no job lost, no duplicate ids, every LRO done, nothing stuck)."""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1

from tests.durability.conftest import (
    PARENT,
    Launch,
    Markers,
    Replica,
    State,
    TaskState,
    engine_for,
    live_processes,
    submit,
    wait_all,
)
from tests.support import wait_for

THREADS = 8
JOBS_PER_THREAD = 6
CONTESTED = 8  # ids that every thread tries to create at the same moment


@dataclass
class Ledger:
    """What the clients did and saw (shared by the threads)."""

    created: list[str] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)  # a cancel request was accepted
    deleted: dict[str, str] = field(default_factory=dict)  # job name → its delete operation
    operations: list[str] = field(default_factory=list)
    contested: dict[str, list[str]] = field(default_factory=dict)  # id → outcome of each create
    errors: list[str] = field(default_factory=list)  # anything a client should never see
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: Callable[["Ledger"], None]) -> None:
        with self.lock:
            what(self)


def _expected(exc: gexc.GoogleAPICallError) -> bool:
    """FAILED_PRECONDITION (HTTP 400, as on Vertex): a cancel of an ended job, a delete of a running one."""
    try:
        status = exc.response.json()["error"]["status"] if exc.response is not None else None
    except ValueError:
        status = None
    return isinstance(exc, gexc.BadRequest) and status == "FAILED_PRECONDITION"


def _client_thread(index: int, replicas: list[Replica], spec: dict[str, Any], markers: Markers, out: Path,
                   ledger: Ledger, barrier: threading.Barrier) -> None:
    rng = random.Random(index)
    clients = [r.client() for r in replicas]

    def pick() -> aiplatform_v1.PipelineServiceClient:
        return rng.choice(clients)

    try:
        for n in range(CONTESTED):  # everybody creates the same id at once, half on each replica
            job_id = f"contested-{n}"
            barrier.wait(30)
            try:
                name = submit(clients[index % 2], spec, job_id, markers.path, out, b_seconds=0.1, c_seconds=0.1)
                ledger.note(lambda lg, name=name, job_id=job_id: (lg.created.append(name),
                                                                   lg.contested.setdefault(job_id, []).append("ok")))
            except gexc.Conflict:
                ledger.note(lambda lg, job_id=job_id: lg.contested.setdefault(job_id, []).append("409"))
            except Exception as exc:  # anything but 409 is a bug (a 500, a dropped connection)
                ledger.note(lambda lg, job_id=job_id, exc=exc: lg.contested.setdefault(job_id, []).append(
                    f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"))

        mine: list[tuple[str, str]] = []
        for n in range(JOBS_PER_THREAD):
            action = rng.choice(["leave", "cancel-now", "cancel-later", "delete", "delete-now", "batch"])
            name = submit(pick(), spec, f"cc-{index}-{n}", markers.path, out,
                          b_seconds=rng.uniform(0.1, 1.5), c_seconds=rng.uniform(0.1, 1.5))
            ledger.note(lambda lg, name=name: lg.created.append(name))
            mine.append((name, action))
            if action == "cancel-now":
                _cancel(pick(), name, ledger)
            elif action == "delete-now":  # running: refused, FAILED_PRECONDITION
                try:
                    pick().delete_pipeline_job(name=name)
                    ledger.note(lambda lg, name=name: lg.errors.append(f"deleted {name} while it ran"))
                except gexc.GoogleAPICallError as exc:
                    if not _expected(exc):
                        ledger.note(lambda lg, exc=exc: lg.errors.append(f"delete-now: {exc!r}"))
        for name, action in mine:
            if action == "cancel-later":
                time.sleep(rng.uniform(0, 1))
                _cancel(pick(), name, ledger)
        batch = [name for name, action in mine if action == "batch"]
        if batch:  # cancel them together, then delete them together once they have ended
            op = pick().batch_cancel_pipeline_jobs(parent=PARENT, names=batch)
            ledger.note(lambda lg, op=op: lg.operations.append(op.operation.name))
            for job in op.result(timeout=30).pipeline_jobs:
                ledger.note(lambda lg, job=job: lg.cancelled.add(job.name))
            for name in batch:
                wait_for(pick(), name, timeout=60)
            op = pick().batch_delete_pipeline_jobs(parent=PARENT, names=batch)
            ledger.note(lambda lg, op=op: (lg.operations.append(op.operation.name),
                                           lg.deleted.update(dict.fromkeys(batch, op.operation.name))))
        for name, action in mine:
            if action in ("delete", "delete-now"):
                wait_for(pick(), name, timeout=60)
                op = pick().delete_pipeline_job(name=name)
                ledger.note(lambda lg, name=name, op=op: (lg.operations.append(op.operation.name),
                                                          lg.deleted.__setitem__(name, op.operation.name)))
    except Exception as exc:  # reported by the test, with the thread it came from
        ledger.note(lambda lg, exc=exc: lg.errors.append(f"thread {index}: {exc!r}"))


def _cancel(client: aiplatform_v1.PipelineServiceClient, name: str, ledger: Ledger) -> None:
    try:
        client.cancel_pipeline_job(name=name)
        ledger.note(lambda lg: lg.cancelled.add(name))
    except gexc.GoogleAPICallError as exc:  # it had ended already
        if not _expected(exc):
            ledger.note(lambda lg, exc=exc: lg.errors.append(f"cancel {name}: {exc!r}"))


def _listed(client: aiplatform_v1.PipelineServiceClient) -> list[str]:
    names: list[str] = []
    request = aiplatform_v1.ListPipelineJobsRequest(parent=PARENT, page_size=7)
    for job in client.list_pipeline_jobs(request=request):
        names.append(job.name)
    return names


def test_concurrent_clients(launch: Launch, pg_url: str, durable_spec: dict[str, Any], markers: Markers,
                            tmp_path: Path) -> None:
    replicas = [launch("A", tmp_path / "root-a", pg_url), launch("B", tmp_path / "root-b", pg_url)]
    ledger, barrier = Ledger(), threading.Barrier(THREADS)
    threads = [threading.Thread(target=_client_thread, args=(i, replicas, durable_spec, markers,
                                                             tmp_path / "artifacts", ledger, barrier))
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not ledger.errors, ledger.errors

    created = ledger.created
    assert len(created) == len(set(created)) == CONTESTED + THREADS * JOBS_PER_THREAD  # one job per contested id
    kept = [n for n in created if n not in ledger.deleted]
    print(f"\nconcurrent clients: {len(created)} created, {len(ledger.cancelled)} cancel requests accepted, "
          f"{len(ledger.deleted)} deleted, {len(ledger.operations)} operations")
    clients = [r.client() for r in replicas]
    jobs = wait_all(clients[0], kept, 90, replicas[0].log_text)  # nothing stuck non-terminal
    for name, job in jobs.items():
        tasks = {t.task_name: t.state for t in job.job_detail.task_details}
        if name in ledger.cancelled and job.state == State.PIPELINE_STATE_CANCELLED:
            assert job.error.code == 1, (name, job.error)
        elif name in ledger.cancelled:  # the cancel came after its last task had ended: nothing was stopped
            assert job.state in (State.PIPELINE_STATE_SUCCEEDED, State.PIPELINE_STATE_FAILED), (name, job.state.name)
            assert TaskState.CANCELLED not in tasks.values(), (name, {n: s.name for n, s in tasks.items()})
        else:
            assert job.state == State.PIPELINE_STATE_SUCCEEDED, (name, job.state.name, job.error.message)
        assert all(s not in (TaskState.RUNNING, TaskState.PENDING, TaskState.CANCEL_PENDING, TaskState.CANCELLING)
                   for s in tasks.values()), (name, job.state.name, {n: s.name for n, s in tasks.items()})
    for client in clients:  # any replica answers for any job
        for name in kept:
            assert int(client.get_pipeline_job(name=name).state) == int(jobs[name].state)
        for name in ledger.deleted:
            try:
                client.get_pipeline_job(name=name)
                raise AssertionError(f"{name} was deleted but is still there")
            except gexc.NotFound:
                pass
        for op_name in ledger.operations:  # every LRO is done, on every replica
            op = client.get_operation({"name": op_name})
            assert op.done and not op.error.code, (op_name, op)
        listed = _listed(client)
        assert len(listed) == len(set(listed)), "a job was listed twice"
        assert sorted(listed) == sorted(kept)

    engine = engine_for(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select job_id, state, owner from pipeline_jobs")).all()
        orphans = conn.execute(sa.text(
            "select count(*) from tasks where job_id not in (select job_id from pipeline_jobs)")).scalar_one()
        history = conn.execute(sa.text(
            "select count(*) from task_status_history where job_id not in (select job_id from pipeline_jobs)"
        )).scalar_one()
    assert sorted(r.job_id for r in rows) == sorted(n.rsplit("/", 1)[1] for n in kept)
    assert orphans == 0 and history == 0
    deadline = time.monotonic() + 10
    while any(r.owner is not None for r in rows) and time.monotonic() < deadline:  # leases given back
        time.sleep(0.2)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select job_id, state, owner from pipeline_jobs")).all()
    engine.dispose()
    assert all(r.owner is None for r in rows), [(r.job_id, r.owner) for r in rows if r.owner]
    time.sleep(0.5)
    assert not live_processes(markers.pids()), live_processes(markers.pids())

    # the same id created at once by every client: one job, everybody else ALREADY_EXISTS (409), never a 500
    bad = {job_id: [o for o in outcomes if o not in ("ok", "409")] for job_id, outcomes in ledger.contested.items()}
    assert not any(bad.values()), bad
    for job_id, outcomes in ledger.contested.items():
        assert sorted(outcomes) == ["409"] * (THREADS - 1) + ["ok"], (job_id, outcomes)

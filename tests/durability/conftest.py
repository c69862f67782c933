"""Durability under faults with real processes: `sluice server` subprocesses that are `kill -9`ed mid-run.

Every task of the fixture pipeline appends `start` and `end` lines to a marker file (job, task, time, pid,
replica), so a test can count how often each task started, on which replica, and whether two attempts of
one task ever ran at once (each attempt also takes an exclusive `flock` for its lifetime and writes an
`overlap` line when an earlier attempt of the same task still holds it).
"""

import contextlib
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.auth.credentials as gac
import pytest
import sqlalchemy as sa
import yaml
from google.cloud import aiplatform_v1
from kfp import compiler, dsl

from sluice.domain.caching import with_caching
from sluice.domain.states import PipelineState
from sluice.domain.states import TaskState as StoredTaskState
from tests.support import fresh_postgres_database, start_sluice_server, stop_process

IMAGE = "python:3.11"
LEASE_SECONDS = 3.0
State = aiplatform_v1.PipelineState
TaskState = aiplatform_v1.PipelineTaskDetail.State
ENDED = {int(State.PIPELINE_STATE_SUCCEEDED), int(State.PIPELINE_STATE_FAILED), int(State.PIPELINE_STATE_CANCELLED)}
# The same states as the store keeps them (job_rows, task_states read the columns)
STORED_JOB_ENDED = frozenset(s.value for s in PipelineState if s.terminal)
STORED_MID_RUN = frozenset(s.value for s in (StoredTaskState.RUNNING, StoredTaskState.CANCEL_PENDING,
                                             StoredTaskState.CANCELLING))  # an attempt in flight
LEAVES = ("a", "b", "c", "d")
EXPECTED_OUTPUT = "abacd"  # d's output: b's ("ab") + c's ("ac") + "d"

# One task attempt: stdlib Python, run by the task environment's interpreter. argv: name tag marker seconds up1 up2 out
STEP = r"""
import fcntl, os, sys, time
name, tag, marker, seconds, up1, up2, out = sys.argv[1:8]
where = os.environ.get("SLUICE_TEST_REPLICA", "?")
def line(kind):
    with open(marker, "a") as f:
        f.write(f"{kind} {tag} {name} {time.time():.6f} {os.getpid()} {where}\n")
lock = open(f"{marker}.{tag}.{name}.lock", "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    line("overlap")
line("start")
time.sleep(float(seconds))
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    f.write(up1 + up2 + name)
line("end")
"""


@dsl.container_component
def step(name: str, tag: str, marker: str, seconds: float, up1: str, up2: str,
         out: dsl.OutputPath(str)):  # type: ignore[valid-type]
    return dsl.ContainerSpec(image=IMAGE, command=["python3", "-c", STEP],
                             args=[name, tag, marker, seconds, up1, up2, out])


@dsl.pipeline(name="durable")
def durable(tag: str, marker: str, b_seconds: float = 1.5, c_seconds: float = 1.5) -> str:
    a = step(name="a", tag=tag, marker=marker, seconds=0.0, up1="", up2="").set_display_name("a")
    b = step(name="b", tag=tag, marker=marker, seconds=b_seconds, up1=a.output, up2="").set_display_name("b")
    c = step(name="c", tag=tag, marker=marker, seconds=c_seconds, up1=a.output, up2="").set_display_name("c")
    d = step(name="d", tag=tag, marker=marker, seconds=0.0, up1=b.output, up2=c.output).set_display_name("d")
    return d.output


@pytest.fixture(scope="session")
def durable_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fixture pipeline compiled by the real kfp compiler, with caching off (every task really runs)."""
    path = tmp_path_factory.mktemp("durable") / "durable.yaml"
    compiler.Compiler().compile(durable, str(path))
    spec: dict[str, Any] = with_caching(yaml.safe_load(path.read_text()), enabled=False)
    return spec


# --- servers ---------------------------------------------------------------------------------------------


@dataclass
class Replica:
    """One running `sluice server` process."""

    name: str
    url: str
    root: Path
    db_url: str
    log: Path
    process: "subprocess.Popen[bytes]"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self) -> aiplatform_v1.PipelineServiceClient:
        """The low-level v1 REST client of the Google library, pointed at this replica."""
        return aiplatform_v1.PipelineServiceClient(
            transport="rest", client_options={"api_endpoint": self.url}, credentials=gac.AnonymousCredentials())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def kill9(replica: Replica) -> float:
    """SIGKILL the server process itself (not a wrapper: the console script is the Python process); the time."""
    assert replica.process.poll() is None, f"{replica.name} died before the kill:\n{replica.log_text()}"
    argv = _cmdline(replica.pid)
    assert "server" in argv and any(a.endswith("sluice") for a in argv), argv  # the real server process
    os.kill(replica.pid, signal.SIGKILL)
    killed = time.time()
    replica.process.wait(10)
    assert replica.process.returncode == -signal.SIGKILL
    return killed


def stop(replica: Replica, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL when it does not stop in time."""
    stop_process(replica.process, timeout)


Launch = Callable[..., Replica]


@pytest.fixture
def launch(envs_dir: Path) -> Iterator[Launch]:
    """Start `sluice server` processes (stopped at the end): launch(name, root, db_url, max_parallel=...)."""
    started: list[Replica] = []

    def _launch(name: str, root: Path, db_url: str, max_parallel: int = 8) -> Replica:
        log = root / f"server-{name}.log"
        variables = {"SLUICE_ENVS_DIR": str(envs_dir), "SLUICE_MAX_PARALLEL": str(max_parallel),
                     "SLUICE_LEASE_SECONDS": str(LEASE_SECONDS), "SLUICE_CANCEL_GRACE_SECONDS": "2",
                     "SLUICE_TEST_REPLICA": name}
        url, process = start_sluice_server(root, db_url, log, variables, 60, f"sluice server {name}")
        replica = Replica(name, url, root, db_url, log, process)
        started.append(replica)
        return replica

    yield _launch
    for replica in started:
        stop(replica)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped at the end). PostgreSQL must be up: a skipped run would hide bugs."""
    with fresh_postgres_database("sluice_dur") as name:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"


def engine_for(db_url: str) -> sa.Engine:
    """A plain SQLAlchemy engine on a server's database, to look at the rows as they are."""
    if db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url.removeprefix("postgresql://")
    return sa.create_engine(db_url, poolclass=sa.pool.NullPool)


def task_states(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """(job id, task name) → stored state, for the tasks that run a command."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select job_id, name, state from tasks where kind = 'container'"))
        return {(r.job_id, r.name): r.state for r in rows}


def job_rows(engine: sa.Engine) -> dict[str, tuple[str, str | None]]:
    """job id → (state, owner) as stored."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select job_id, state, owner from pipeline_jobs"))
        return {r.job_id: (r.state, r.owner) for r in rows}


# --- jobs ------------------------------------------------------------------------------------------------

PARENT = "projects/durability/locations/us-central1"


def submit(client: aiplatform_v1.PipelineServiceClient, spec: dict[str, Any], job_id: str, marker: Path,
           output_dir: Path, parent: str = PARENT, **params: Any) -> str:
    """Create one job of the fixture pipeline whose tag is its id; its name."""
    job = aiplatform_v1.PipelineJob(pipeline_spec=spec, runtime_config={
        "gcs_output_directory": output_dir.as_uri(),
        "parameter_values": {"tag": job_id, "marker": str(marker), **params},
    })
    created = client.create_pipeline_job(parent=parent, pipeline_job=job, pipeline_job_id=job_id)
    name: str = created.name
    return name


def wait_all(client: aiplatform_v1.PipelineServiceClient, names: list[str], timeout: float,
             why: Callable[[], str] = str) -> dict[str, Any]:
    """Poll until every job has ended; name → PipelineJob."""
    deadline = time.monotonic() + timeout
    done: dict[str, Any] = {}
    while True:
        for name in names:
            if name not in done:
                job = client.get_pipeline_job(name=name)
                if int(job.state) in ENDED:
                    done[name] = job
        if len(done) == len(names):
            return done
        if time.monotonic() > deadline:
            stuck = {n.rsplit("/", 1)[1]: client.get_pipeline_job(name=n).state.name for n in names if n not in done}
            raise AssertionError(f"{len(stuck)} jobs never ended in {timeout} s: {stuck}\n{why()}")
        time.sleep(0.3)


def interruptions(task: Any) -> int:
    """How many attempts of a task the pipelineTaskStatus shows as interrupted (FAILED, "interrupted")."""
    return sum(1 for s in task.pipeline_task_status
               if s.state == TaskState.FAILED and "interrupted" in s.error.message)


# --- markers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    kind: str  # start, end, overlap
    tag: str  # the job id
    task: str
    at: float  # time.time()
    pid: int
    where: str  # the replica


@dataclass
class Attempt:
    """One process of one task, from its marker lines."""

    tag: str
    task: str
    pid: int
    where: str
    start: float
    end: float | None = None


@dataclass
class Markers:
    """The marker file of a test and what its lines say."""

    path: Path
    marks: list[Mark] = field(default_factory=list)

    def read(self) -> "Markers":
        text = self.path.read_text() if self.path.exists() else ""
        self.marks = []
        for raw in text.splitlines():
            kind, tag, task, at, pid, where = raw.split()
            self.marks.append(Mark(kind, tag, task, float(at), int(pid), where))
        return self

    def of(self, kind: str) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind]

    def attempts(self) -> dict[tuple[str, str], list[Attempt]]:
        """(job, task) → its processes in start order."""
        by_pid: dict[int, Attempt] = {}
        for m in self.marks:
            if m.kind == "start":
                by_pid[m.pid] = Attempt(m.tag, m.task, m.pid, m.where, m.at)
            elif m.kind == "end":
                by_pid[m.pid].end = m.at
        found: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
        for attempt in sorted(by_pid.values(), key=lambda a: a.start):
            found[(attempt.tag, attempt.task)].append(attempt)
        return found

    def pids(self) -> set[int]:
        return {m.pid for m in self.marks}


def live_processes(groups: set[int]) -> dict[int, str]:
    """Processes (not zombies) that are in, or lead, one of the process groups `groups`: pid → command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        pid = int(entry.name)
        if state != "Z" and (pgrp in groups or pid in groups):
            found[pid] = " ".join(_cmdline(pid))[:200]
    return found


@pytest.fixture
def markers(tmp_path: Path) -> Iterator[Markers]:
    """The test's marker file; task processes still alive at the end are killed (after the test's checks)."""
    found = Markers(tmp_path / "marks" / "marker.txt")
    found.path.parent.mkdir(parents=True)
    yield found
    for group in found.read().pids():  # each attempt leads its own process group
        if live_processes({group}):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)

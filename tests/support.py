"""Helpers several test packages share: a free port, a fresh PostgreSQL database, waiting for a condition."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import requests
from google.cloud import aiplatform_v1

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SLUICE = Path(sys.executable).parent / "sluice"
_Job = aiplatform_v1.PipelineState
ENDED_JOB_STATES = (_Job.PIPELINE_STATE_SUCCEEDED, _Job.PIPELINE_STATE_FAILED, _Job.PIPELINE_STATE_CANCELLED)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty database on the local PostgreSQL, yield its name, drop it (connections and all).

    PostgreSQL must be up: a skipped PostgreSQL run would hide bugs, so a refused connection fails the test.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (PID 1 of a sandbox may never reap reparented children)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], object], seconds: float, what: str, every: float = 0.02) -> None:
    """Poll `condition` until it is true; fail naming `what` if it is not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} (not within {seconds:g} s)"
        time.sleep(every)


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Callable[[], str], seconds: float,
                       what: str = "sluice server") -> None:
    """Poll `url`/openapi.json until the server answers; fail with its log if it exits or stays silent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log()}")
        try:
            requests.get(f"{url}/openapi.json", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"{what} did not answer in {seconds:.0f} s:\n{log()}")


def start_sluice_server(root: Path, db_url: str, log: Path, variables: dict[str, str], seconds: float,
                        what: str = "sluice server", args: Sequence[str] = ()) -> tuple[str, subprocess.Popen[bytes]]:
    """`sluice server [args]` on a free port with `variables` added to this environment (SLUICE_DB_URL left
    out: the database is `db_url`), its output appended to `log`; its URL and process once it answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SLUICE_DB_URL"} | variables
    command = [str(SLUICE), "server", "--port", str(port), "--root", str(root), "--db", db_url, *args]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, lambda: log.read_text(errors="replace"), seconds, what)
    return url, process


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, then wait; the exit code (killed, and -9, when it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9


def wait_for(client: Any, name: str, states: Any = ENDED_JOB_STATES, timeout: float = 90) -> Any:
    """Poll GetPipelineJob until the job is in one of `states`."""
    deadline = time.monotonic() + timeout
    wanted = {int(s) for s in states}  # v1 and v1beta1 enums do not compare equal to each other
    while True:
        job = client.get_pipeline_job(name=name)
        if int(job.state) in wanted:
            return job
        assert time.monotonic() < deadline, f"{name} still {job.state.name} after {timeout} s"
        time.sleep(0.1)



def sluice_env(root: Path, **variables: str) -> dict[str, str]:
    """This environment without any SLUICE_* or terminal-size setting, on `root`, plus `variables`: what a
    `sluice` subprocess of a test sees (a developer's SLUICE_DB_URL must not reach it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_") and k not in ("COLUMNS", "LINES")}
    return {**env, "SLUICE_ROOT": str(root), **variables}

"""Drives every unfinished job of the store from this process: resumes them at start, picks up new ones."""

from __future__ import annotations

import fcntl
import logging
import threading
from typing import IO

from sqlalchemy.engine import URL

from sluice.errors import FailedPrecondition
from sluice.runtime.orchestrator import Orchestrator
from sluice.store.store import Store, sqlite_file

log = logging.getLogger(__name__)


def _sqlite_runner_lock(url: URL) -> IO[str] | None:
    """SQLite has one writer: a second process running jobs on the same file is refused, not slowed down.

    (`sluice run` next to a server is fine: each job is driven by the holder of its lease.) Several
    replicas need PostgreSQL.
    """
    path = sqlite_file(url)
    if path is None:
        return None
    lock = open(f"{path}.runner.lock", "w")  # noqa: SIM115 - held open while the runner lives
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise FailedPrecondition(
            f"another Sluice server is already running jobs on the SQLite file {path}; SQLite allows "
            "one such process. Use PostgreSQL (SLUICE_DB_URL=postgresql://...) to run several replicas."
        ) from None
    return lock


class JobRunner:
    """One thread per unfinished job, each running Orchestrator.run_job until the job ends."""

    def __init__(self, store: Store, orchestrator: Orchestrator, poll_seconds: float = 0.5) -> None:
        self.store = store
        self.orchestrator = orchestrator
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._jobs: dict[str, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._lock: IO[str] | None = None

    def start(self) -> None:
        """Start watching the store for jobs to run; FailedPrecondition if another runner uses this SQLite file."""
        self._lock = _sqlite_runner_lock(self.store.engine.url)
        self._thread = threading.Thread(target=self._loop, name="sluice-runner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for new jobs now (call after creating one)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop driving jobs; their state stays in the store for the next start to resume."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for thread in list(self._jobs.values()):
            thread.join(timeout)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for job_id in self.store.active_job_ids():
                    thread = self._jobs.get(job_id)
                    if thread is None or not thread.is_alive():
                        self._jobs[job_id] = self._spawn(job_id)
            except Exception:  # a store hiccup must not end the loop
                log.exception("looking for jobs to run failed")
            self._jobs = {k: t for k, t in self._jobs.items() if t.is_alive()}
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _spawn(self, job_id: str) -> threading.Thread:
        def drive() -> None:
            try:
                self.orchestrator.run_job(job_id, self._stop)
            except Exception:
                log.exception("orchestrating job %s failed", job_id)

        thread = threading.Thread(target=drive, name=f"sluice-job-{job_id}", daemon=True)
        thread.start()
        return thread

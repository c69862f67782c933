"""The claim → plan → act loop for a job. It holds nothing it cannot rebuild from the store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime

from sluice.domain.actions import Action, Launch, SetTask, Terminate
from sluice.domain.outcome import Outcome
from sluice.domain.planner import plan, settle
from sluice.domain.records import JobRecord, Snapshot, TaskRecord
from sluice.domain.spec import parse_spec
from sluice.domain.states import TaskState
from sluice.errors import Aborted
from sluice.runtime.launcher import Launcher
from sluice.store.store import Store

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Orchestrator:
    """Drives jobs to their end: plans, stores the plan, launches attempts, settles their outcomes."""

    def __init__(self, store: Store, launcher: Launcher, max_parallel: int, clock: Clock = utc_now,
                 poll_seconds: float = 0.2) -> None:
        self.store = store
        self.launcher = launcher
        self.max_parallel = max_parallel
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="sluice-task")

    def run_job(self, job_id: str, stop: threading.Event | None = None) -> JobRecord:
        """Run `job_id` until it ends (or `stop` is set); returns the stored job."""
        spec = parse_spec(self.store.get_job(job_id).spec)
        running: dict[Future[Outcome], int] = {}
        while stop is None or not stop.is_set():
            snapshot = self.store.snapshot(job_id)
            if snapshot.job.state.terminal and not running:
                return snapshot.job
            actions = plan(snapshot, spec, self.max_parallel - len(running), self.clock())
            if actions:
                self._act(snapshot, spec, actions, running)
                continue
            if not running:
                # Nothing to run and nothing running: only a cancel request or a new plan can change this.
                threading.Event().wait(self.poll_seconds)
                continue
            done, _ = wait(running, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                self._settle(job_id, running.pop(future), future)
        return self.store.get_job(job_id)

    def _act(self, snapshot: Snapshot, spec: object, actions: list[Action],
             running: dict[Future[Outcome], int]) -> None:
        try:
            self.store.apply(snapshot.job.job_id, actions, self.clock())
        except Aborted:
            return  # somebody else moved the job on; plan again from the store
        by_id = {t.task_id: t for t in snapshot.tasks}
        for action in actions:
            if isinstance(action, Launch):
                task = by_id.get(action.task_id) or self._task(snapshot.job.job_id, action.task_id)
                started = replace(task, state=TaskState.RUNNING, attempt=task.attempt + 1)
                running[self._pool.submit(self.launcher.run, spec, snapshot.job, started)] = action.task_id  # type: ignore[arg-type]
            elif isinstance(action, Terminate):
                self._terminate(snapshot.job.job_id, action.task_id)

    def _task(self, job_id: str, task_id: int) -> TaskRecord:
        return next(t for t in self.store.snapshot(job_id).tasks if t.task_id == task_id)

    def _terminate(self, job_id: str, task_id: int) -> None:
        self.store.apply(job_id, [SetTask(task_id, TaskState.CANCEL_PENDING, TaskState.CANCELLING)], self.clock())
        threading.Thread(target=self.launcher.terminate, args=(task_id,), daemon=True).start()

    def _settle(self, job_id: str, task_id: int, future: Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except Exception as exc:
            outcome = Outcome(error=f"Sluice could not run the task: {exc!r}")
        for _ in range(5):
            task = self._task(job_id, task_id)
            try:
                self.store.apply(job_id, settle(task, outcome, self.clock()), self.clock())
                return
            except Aborted:
                continue  # the task moved (cancel) between reading and writing; settle against the new state

    def close(self) -> None:
        """Stop accepting work; running attempts are left to finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)

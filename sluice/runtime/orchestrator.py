"""The plan → act loop for a job. It holds nothing it cannot rebuild from the store.

The loop keeps a view of the job's rows that it updates from what each store write returns (the rows
as written), so a job of thousands of tasks is read once, not once per event. When a write is
rejected (another writer moved the job on) the view is dropped and read again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from sluice.domain.actions import Action, Launch, SetTask, Terminate
from sluice.domain.caching import CacheHit
from sluice.domain.ir import PipelineSpecView
from sluice.domain.outcome import Outcome
from sluice.domain.planner import plan, recover, settle
from sluice.domain.records import CACHE_KEY, GROUP_KINDS, JobRecord, Snapshot
from sluice.domain.rerun import RerunPlan, parse_rerun, plan_rerun
from sluice.domain.spec import parse_spec
from sluice.domain.states import TaskState
from sluice.domain.tree import Tree
from sluice.errors import Aborted
from sluice.runtime.artifacts import still_there
from sluice.runtime.launcher import Launcher
from sluice.store.store import Applied, Store

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass
class _View:
    """The orchestrator's current picture of one job, kept equal to the stored rows."""

    job: JobRecord
    tree: Tree = field(default_factory=Tree)
    dirty: set[int] | None = None  # tasks changed since the last plan; None: plan everything
    cache_checked: set[int] = field(default_factory=set)  # PENDING leaves already looked up in the cache

    @staticmethod
    def of(snapshot: Snapshot) -> _View:
        return _View(snapshot.job, Tree.of(snapshot.tasks))

    def update(self, applied: Applied) -> None:
        if applied.job is not None:
            self.job = applied.job
        for task in applied.tasks:
            self.tree.put(task)
            if self.dirty is not None:
                self.dirty.add(task.task_id)
                if task.parent_id is not None:
                    self.dirty.add(task.parent_id)

    def take_dirty(self) -> set[int] | None:
        dirty, self.dirty = self.dirty, set()
        return dirty


class Orchestrator:
    """Drives jobs to their end: plans, stores the plan, launches attempts, settles their outcomes."""

    def __init__(self, store: Store, launcher: Launcher, max_parallel: int, clock: Clock = utc_now,
                 poll_seconds: float = 0.2, cache_max_age: timedelta | None = None,
                 lease: timedelta = timedelta(seconds=30), owner: str | None = None) -> None:
        self.store = store
        self.lease = lease
        # who holds a job's lease: unique per orchestrator, readable in the database
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.cache_max_age = cache_max_age
        self.launcher = launcher
        self.max_parallel = max_parallel
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="sluice-task")
        self._slots_lock = threading.Lock()
        self._in_flight = 0

    def run_job(self, job_id: str, stop: threading.Event | None = None) -> JobRecord:
        """Run `job_id` until it ends (or `stop` is set, or another orchestrator holds it); returns the job."""
        if not self.store.claim(job_id, self.owner, self.clock(), self.lease):
            return self.store.get_job(job_id)  # another orchestrator drives it
        try:
            return self._drive(job_id, stop)
        finally:
            self.store.release(job_id, self.owner)

    def _drive(self, job_id: str, stop: threading.Event | None) -> JobRecord:
        view = self._reload(job_id)
        spec = parse_spec(view.job.spec)
        rerun = self._rerun_plan(view.job)
        view = self._recover(view)
        running: dict[Future[Outcome], int] = {}
        renewed = self.clock()
        while stop is None or not stop.is_set():
            if self.clock() - renewed > self.lease / 3:
                if not self.store.claim(job_id, self.owner, self.clock(), self.lease):
                    break  # lost the lease (this process stalled): the new holder continues
                renewed = self.clock()
            state, cancel = self.store.job_flags(job_id)
            if cancel != view.job.cancel_requested or state is not view.job.state:
                view = self._reload(job_id)  # changed by someone else (a cancel request)
            if view.job.state.terminal and not running:
                return view.job
            hits = self._cache_hits(view, spec)
            actions = plan(view.job, view.tree, spec, self._free_slots(), self.clock(), view.take_dirty(), hits,
                           rerun)
            if actions:
                view = self._act(view, spec, actions, running)
                continue
            if not running:
                # Nothing runs and nothing can start yet: a backoff or a cancel request will change that.
                threading.Event().wait(self.poll_seconds)
                continue
            done, _ = wait(running, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
            for future in done:
                view = self._settle(view, running.pop(future), future)
        return self.store.get_job(job_id)

    def _reload(self, job_id: str) -> _View:
        return _View.of(self.store.snapshot(job_id))

    def _free_slots(self) -> int:
        # max_parallel counts attempts of every job this orchestrator drives: a task is RUNNING in the
        # store only once it has a worker, never while it waits for one.
        with self._slots_lock:
            return self.max_parallel - self._in_flight

    def _free_slot(self, _future: Future[Outcome]) -> None:
        with self._slots_lock:
            self._in_flight -= 1

    def _rerun_plan(self, job: JobRecord) -> RerunPlan | None:
        request = parse_rerun(job.rerun) if job.rerun else None
        if request is None:
            return None
        return plan_rerun(request, self.store.snapshot_by_numeric_id(request.original_numeric_id))

    def _recover(self, view: _View) -> _View:
        """Attempts a dead orchestrator left running: stop their processes, then run them again."""
        moves = {t.task_id: recover(t) for t in view.tree.by_id.values() if t.kind not in GROUP_KINDS}
        actions = []
        for task_id, acts in moves.items():
            if not acts:
                continue  # recover() decides which attempts were left in flight
            task = view.tree.by_id[task_id]
            if not self.launcher.kill_orphan(task):
                log.warning("task %s of job %s may still run on the host that ran it (%s): it is run again here",
                            task.task_id, view.job.job_id, task.process)
            actions.extend(acts)
        if actions and self._apply(view, actions) is None:
            return self._reload(view.job.job_id)
        return view

    def _cache_hits(self, view: _View, spec: PipelineSpecView) -> dict[int, CacheHit]:
        """Earlier executions for the PENDING leaves not looked up yet; a hit whose artifacts are gone is a miss.

        A leaf becomes PENDING by a write, so only the changed rows (all rows after a reload) can be new ones:
        the work per planning step does not grow with the number of leaves waiting for a slot.
        """
        keys: dict[int, str] = {}
        pending = view.tree.pending_leaves
        candidates = pending if view.dirty is None else [t for t in view.dirty if t in pending]
        for task_id in candidates:
            key = view.tree.by_id[task_id].detail.get(CACHE_KEY)
            if isinstance(key, str) and task_id not in view.cache_checked:
                keys[task_id] = key
        if not keys:
            return {}
        view.cache_checked.update(keys)
        since = self.clock() - self.cache_max_age if self.cache_max_age is not None else None
        found = self.store.cache_lookup(spec.name, list(keys.values()), since)
        return {task_id: found[key] for task_id, key in keys.items()
                if key in found and still_there(found[key].outputs.artifacts)}

    def _apply(self, view: _View, actions: list[Action]) -> _View | None:
        try:
            view.update(self.store.apply(view.job.job_id, actions, self.clock(), self.owner))
        except Aborted:
            return None
        return view

    def _act(self, view: _View, spec: PipelineSpecView, actions: list[Action],
             running: dict[Future[Outcome], int]) -> _View:
        if self._apply(view, actions) is None:
            return self._reload(view.job.job_id)  # somebody else moved the job on
        for action in actions:
            if isinstance(action, Launch):
                task = view.tree.by_id[action.task_id]
                started = partial(self.store.record_process, view.job.job_id, task.task_id, task.attempt)
                future = self._pool.submit(self.launcher.run, spec, view.job, task, started)
                with self._slots_lock:
                    self._in_flight += 1
                future.add_done_callback(self._free_slot)
                running[future] = action.task_id
            elif isinstance(action, Terminate):
                self._apply(view, [SetTask(action.task_id, TaskState.CANCEL_PENDING, TaskState.CANCELLING)])
                threading.Thread(target=self.launcher.terminate, args=(action.task_id,), daemon=True).start()
        return view

    def _settle(self, view: _View, task_id: int, future: Future[Outcome]) -> _View:
        try:
            outcome = future.result()
        except Exception as exc:  # a launcher bug must fail the task, not the server
            outcome = Outcome(error=f"Sluice could not run the task: {exc!r}")
        for _ in range(5):
            if self._apply(view, settle(view.tree.by_id[task_id], outcome, self.clock())) is not None:
                return view
            # the task moved (a cancel) between reading and writing: settle against the stored state
            view = self._reload(view.job.job_id)
        return view

    def close(self) -> None:
        """Stop accepting work; running attempts are left to finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)


"""plan(snapshot, spec, slots, now) → the next actions for one job. The only place that decides.

Like graphlib's TopologicalSorter it hands out work step by step: every call looks at the stored state
only, so a restarted orchestrator continues where the last one stopped. A task row is created when its
upstream tasks have ended; leaves wait PENDING until a slot is free; groups (DAGs, loops, iterations)
end when their children have. Conditions, loops, exit handlers and retries are cases of this one loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sluice.domain.actions import Action, CacheResult, Launch, NewTask, SetJob, SetTask, Terminate, task_id_for
from sluice.domain.caching import CacheHit, fingerprint
from sluice.domain.conditions import ExpressionError, condition_holds
from sluice.domain.inputs import InputError, resolve_inputs
from sluice.domain.ir import ContainerExecutor, Dag, PipelineSpecView, TaskSpec
from sluice.domain.jsontypes import JsonObject
from sluice.domain.loops import loop_steps
from sluice.domain.outcome import Outcome
from sluice.domain.records import (
    CACHE_KEY,
    CACHED_FROM,
    FAILED_ATTEMPTS,
    GROUP_KINDS,
    IMAGE,
    LAST_LOG,
    NOT_BEFORE,
    PROCESS,
    RERUN_DOWNSTREAM,
    RETRY,
    RUNS_AFTER_FAILURE,
    JobRecord,
    TaskKind,
    TaskRecord,
    Values,
    task_path,
)
from sluice.domain.rerun import RerunPlan
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.status import dag_failed, error, failed_names, finish_group
from sluice.domain.tree import Tree
from sluice.errors import Code

_JOB_END = {
    TaskState.SUCCEEDED: PipelineState.SUCCEEDED,
    TaskState.FAILED: PipelineState.FAILED,
    TaskState.CANCELLED: PipelineState.CANCELLED,
}


@dataclass(frozen=True)
class Step:
    """What one planning pass knows besides the rows."""

    spec: PipelineSpecView
    job: JobRecord
    now: datetime
    stopping: bool  # cancel requested, or fail-fast after a failure: start nothing new but exit handlers
    cache_hits: Mapping[int, CacheHit]  # PENDING leaves whose outputs an earlier execution already has
    rerun: RerunPlan | None  # what this job may reuse of the job it reruns


def plan(job: JobRecord, tree: Tree, spec: PipelineSpecView, slots: int, now: datetime,
         dirty: Iterable[int] | None = None, cache_hits: Mapping[int, CacheHit] | None = None,
         rerun: RerunPlan | None = None) -> list[Action]:
    """The actions that move the job on; an empty list means: wait for a running task or a backoff.

    `dirty` names the tasks whose rows changed since the last call (None: look at everything). Only
    their groups are planned again, so the work per event does not grow with the job. `cache_hits`
    are the earlier executions found (by the orchestrator) for PENDING leaves' cache keys.
    """
    if job.state.terminal:
        return []
    if job.state in (PipelineState.QUEUED, PipelineState.PENDING):
        return _start(job, spec)
    actions: list[Action] = []
    if job.cancel_requested and job.state is PipelineState.RUNNING:
        actions.append(SetJob(job.state, PipelineState.CANCELLING))
    stopping = job.cancel_requested or (job.fail_fast and tree.failed_leaves > 0)
    step = Step(spec, job, now, stopping, cache_hits or {}, rerun)
    for task in _groups_to_plan(tree, None if step.stopping else dirty):
        if task.state is TaskState.NOT_TRIGGERED and task.kind is TaskKind.DAG:
            actions.extend(_not_triggered_below(step, task, tree))
        elif task.state is TaskState.RUNNING and task.kind is TaskKind.LOOP:
            spec_task = dag_of(spec, tree.by_id[task.parent_id or 0]).tasks[task.key]
            actions.extend(loop_steps(spec, spec_task, task, tree, job.numeric_id, step.stopping))
        elif task.state is TaskState.RUNNING:
            actions.extend(_plan_dag(step, task, tree))
    actions.extend(_leaves(tree, slots, step))
    root = tree.by_id.get(tree.root_id) if tree.root_id is not None else None
    if root is not None and root.state.terminal and not actions:
        actions.append(_finish_job(job, root, tree))
    return actions


def _groups_to_plan(tree: Tree, dirty: Iterable[int] | None) -> list[TaskRecord]:
    ids = tree.group_ids() if dirty is None else dirty
    groups = (tree.by_id[i] for i in ids if i in tree.by_id)
    return sorted((g for g in groups if g.kind in GROUP_KINDS), key=lambda t: t.seq)


def _start(job: JobRecord, spec: PipelineSpecView) -> list[Action]:
    if job.cancel_requested:
        return [SetJob(job.state, PipelineState.CANCELLED, error(Code.CANCELLED, "The pipeline job was cancelled."))]
    root = NewTask(
        task_id=task_id_for(job.numeric_id, None, ""),
        parent_id=None,
        key="",
        name=spec.name,
        component="root",
        kind=TaskKind.DAG,
        state=TaskState.RUNNING,
        inputs=Values(parameters=dict(job.parameters)),
    )
    moves = [SetJob(job.state, PipelineState.PENDING)] if job.state is PipelineState.QUEUED else []
    return [*moves, SetJob(PipelineState.PENDING, PipelineState.RUNNING), root]


def dag_of(spec: PipelineSpecView, task: TaskRecord) -> Dag:
    """The DAG a group task runs (the root's, or its component's)."""
    comp = spec.root if task.parent_id is None else spec.component(task.component)
    assert comp.dag is not None
    return comp.dag


def _plan_dag(step: Step, dag_task: TaskRecord, tree: Tree) -> list[Action]:
    dag = dag_of(step.spec, dag_task)
    children = tree.children.get(dag_task.task_id, {})
    actions: list[Action] = []
    waiting = False
    for key, task in dag.tasks.items():
        if key in children:
            continue
        upstream = task.upstream
        if step.stopping and not (task.all_upstream_completed and all(d in children for d in upstream)):
            continue  # never created: nothing new starts after a cancel or a fail-fast failure
        if upstream <= children.keys() and all(children[d].state.terminal for d in upstream):
            new = _new_task(step, dag_task, task, children)
            if step.rerun is not None and new.kind not in GROUP_KINDS and new.state is TaskState.PENDING:
                new = _reuse(step.rerun, new, task, children, tree, dag_task)
            actions.append(new)
        else:
            waiting = True
    if not actions and not waiting and tree.all_children_ended(dag_task.task_id):
        actions.append(_finish_dag(dag, dag_task, children))
    return actions


def _reuse(rerun: RerunPlan, new: NewTask, task: TaskSpec, siblings: Mapping[str, TaskRecord], tree: Tree,
           parent: TaskRecord) -> NewTask:
    """A rerun's leaf: SKIPPED with the original's outputs when it may be reused, else as planned (overridden)."""
    parent_path = task_path(parent, tree.by_id) if parent.parent_id is not None else ""
    path = f"{parent_path}.{task.key}" if parent_path else task.key
    override = rerun.overrides.get(path)
    original = rerun.succeeded.get(path)
    inputs = new.inputs
    if override is not None and (override.parameter_values or override.artifacts):
        inputs = Values({**inputs.parameters, **override.parameter_values}, {**inputs.artifacts, **override.artifacts})
    forced = any(siblings[d].detail.get(RERUN_DOWNSTREAM) for d in task.upstream if d in siblings)
    detail = dict(new.detail)
    if forced or (override is not None and override.skip_downstream):
        detail[RERUN_DOWNSTREAM] = True
    wanted = override is None or (override.skip_task is not False and inputs == new.inputs)
    if original is not None and wanted and (forced or original.inputs == inputs):
        detail[CACHED_FROM] = {"jobId": rerun.original_job_id, "taskId": str(original.task_id)}
        detail.pop(CACHE_KEY, None)
        return replace(new, state=TaskState.SKIPPED, inputs=inputs, outputs=original.outputs, detail=detail)
    if inputs != new.inputs:
        detail.pop(CACHE_KEY, None)  # overridden inputs: the computed key no longer describes the task
    return replace(new, inputs=inputs, detail=detail)


def _not_triggered_below(step: Step, dag_task: TaskRecord, tree: Tree) -> list[Action]:
    """The tasks of a group that was not triggered are shown NOT_TRIGGERED too, all the way down."""
    children = tree.children.get(dag_task.task_id, {})
    dag = dag_of(step.spec, dag_task)
    return [replace(_base_task(step, dag_task, task), state=TaskState.NOT_TRIGGERED)
            for key, task in dag.tasks.items() if key not in children]


def _triggered(task: TaskSpec, siblings: Mapping[str, TaskRecord]) -> bool:
    """Vertex's default trigger strategy, ALL_UPSTREAM_TASKS_SUCCEEDED.

    An upstream task that was NOT_TRIGGERED (a false condition) still satisfies an ordering-only
    dependency (`.after()`), as a skipped step does on KFP's backends; a task that needs its data cannot run.
    """
    if task.all_upstream_completed:
        return True
    data = task.data_upstream
    for dep in task.upstream:
        state = siblings[dep].state
        if not (state.succeeded or (state is TaskState.NOT_TRIGGERED and dep not in data)):
            return False
    return True


def _base_task(step: Step, parent: TaskRecord, task: TaskSpec) -> NewTask:
    """The row of `task` under `parent`, PENDING, before its trigger and inputs are looked at."""
    comp = step.spec.component(task.component)
    kind = TaskKind.LOOP if task.iterator else TaskKind.DAG
    detail: JsonObject = {}
    if comp.executor is not None:
        executor = step.spec.executors[comp.executor]
        kind = TaskKind.CONTAINER if isinstance(executor, ContainerExecutor) else TaskKind.IMPORTER
        if isinstance(executor, ContainerExecutor):
            detail[IMAGE] = executor.image
    if task.all_upstream_completed:
        detail[RUNS_AFTER_FAILURE] = True
    if task.retry is not None:
        detail[RETRY] = {"max": task.retry.max_retry_count, "backoff": task.retry.backoff_seconds,
                         "factor": task.retry.backoff_factor, "cap": task.retry.backoff_max_seconds}
    task_id = task_id_for(step.job.numeric_id, parent.task_id, task.key)
    return NewTask(task_id, parent.task_id, task.key, task.name, task.component, kind, TaskState.PENDING,
                   detail=detail)


def _new_task(step: Step, parent: TaskRecord, task: TaskSpec, siblings: Mapping[str, TaskRecord]) -> NewTask:
    base = _base_task(step, parent, task)
    kind = base.kind
    if not _triggered(task, siblings):
        return replace(base, state=TaskState.NOT_TRIGGERED)
    try:
        inputs = resolve_inputs(step.spec, step.job, task, base.task_id, parent, siblings)
        if task.condition and not condition_holds(task.condition, inputs.parameters):
            return replace(base, state=TaskState.NOT_TRIGGERED, inputs=inputs)
    except (InputError, ExpressionError) as exc:
        return replace(base, state=TaskState.FAILED, error=error(Code.INVALID_ARGUMENT, str(exc)))
    if kind in GROUP_KINDS:
        return replace(base, state=TaskState.RUNNING, inputs=inputs)
    executor = step.spec.executors[step.spec.component(task.component).executor or ""]
    if task.enable_cache and isinstance(executor, ContainerExecutor):
        key = fingerprint(step.spec.name, task, step.spec.component(task.component), executor, inputs)
        base = replace(base, detail={**base.detail, CACHE_KEY: key})
    return replace(base, state=TaskState.PENDING, inputs=inputs)


def _leaves(tree: Tree, slots: int, step: Step) -> list[Action]:
    actions: list[Action] = []
    for task_id in list(tree.pending_leaves):
        task = tree.by_id[task_id]
        after_failure = bool(task.detail.get(RUNS_AFTER_FAILURE))
        hit = step.cache_hits.get(task_id)
        if step.stopping and not after_failure:
            actions.append(SetTask(task_id, TaskState.PENDING, TaskState.CANCELLED))
        elif hit is not None and hit.key == task.detail.get(CACHE_KEY):
            source: JsonObject = {"jobId": hit.job_id, "taskId": str(hit.task_id)}
            detail: JsonObject = {**task.detail, CACHED_FROM: source}
            actions.append(SetTask(task_id, TaskState.PENDING, TaskState.SKIPPED, outputs=hit.outputs, detail=detail))
        elif slots > 0 and _due(task, step.now):
            actions.append(Launch(task_id))
            slots -= 1
        elif slots <= 0 and not step.stopping and not step.cache_hits:
            break  # nothing more to launch; a cache hit further on must still be taken, whatever the slots
    if step.job.cancel_requested:
        for task_id in sorted(tree.running_leaves, key=lambda i: tree.by_id[i].seq):
            if not tree.by_id[task_id].detail.get(RUNS_AFTER_FAILURE):
                actions.append(Terminate(task_id))
    return actions


def _due(task: TaskRecord, now: datetime) -> bool:
    not_before = task.detail.get(NOT_BEFORE)
    return not isinstance(not_before, str) or datetime.fromisoformat(not_before) <= now


def _finish_dag(dag: Dag, dag_task: TaskRecord, children: Mapping[str, TaskRecord]) -> SetTask:
    # A task never created (its DAG was stopped before it could start) counts as cancelled.
    return finish_group(dag_task.task_id, list(children.values()), len(children) < len(dag.tasks), "DAG",
                        lambda: dag_outputs(dag, children))


def dag_outputs(dag: Dag, children: Mapping[str, TaskRecord]) -> Values:
    """A finished DAG's outputs: for each, the first selector whose producer ran (OneOf picks the branch)."""
    params: JsonObject = {}
    for name, selectors in dag.parameter_outputs.items():
        for sel in selectors:
            producer = children.get(sel.producer)
            if producer and producer.state.succeeded and sel.output_key in producer.outputs.parameters:
                params[name] = producer.outputs.parameters[sel.output_key]
                break
    artifacts = {}
    for name, selectors in dag.artifact_outputs.items():
        for sel in selectors:
            producer = children.get(sel.producer)
            if producer and producer.state.succeeded and producer.outputs.artifacts.get(sel.output_key):
                artifacts[name] = list(producer.outputs.artifacts[sel.output_key])
                break
    return Values(parameters=params, artifacts=artifacts)


def _finish_job(job: JobRecord, root: TaskRecord, tree: Tree) -> SetJob:
    state = _JOB_END.get(root.state, PipelineState.FAILED)
    if state is PipelineState.SUCCEEDED:
        return SetJob(job.state, state)
    if state is PipelineState.CANCELLED:
        return SetJob(job.state, state, error(Code.CANCELLED, "The pipeline job was cancelled."))
    failed = failed_names(t for t in tree.by_id.values() if t.kind not in GROUP_KINDS) or [root.name]
    return SetJob(job.state, state, dag_failed(failed))


def settle(task: TaskRecord, outcome: Outcome, now: datetime) -> list[Action]:
    """What a finished attempt means for its task: success, a retry after backoff, or failure."""
    detail = dict(task.detail)
    detail[LAST_LOG] = outcome.log_path
    if outcome.process:
        detail[PROCESS] = outcome.process
    if outcome.cancelled:
        return [SetTask(task.task_id, task.state, TaskState.CANCELLED,
                        error=error(Code.CANCELLED, "The task was cancelled."), detail=detail)]
    if outcome.error is None:
        done: list[Action] = [SetTask(task.task_id, task.state, TaskState.SUCCEEDED, outputs=outcome.outputs,
                                      detail=detail)]
        key = task.detail.get(CACHE_KEY)
        return [*done, CacheResult(task.task_id, key)] if isinstance(key, str) else done
    failed = detail.get(FAILED_ATTEMPTS)
    detail[FAILED_ATTEMPTS] = [*(failed if isinstance(failed, list) else []), outcome.process or outcome.log_path]
    failure = SetTask(task.task_id, task.state, TaskState.FAILED,
                      error=error(Code.FAILED_PRECONDITION, outcome.error), detail=detail)
    delay = _retry_delay(task)
    if delay is None or task.state is not TaskState.RUNNING:
        return [failure]
    retry = dict(detail)
    retry[NOT_BEFORE] = (now + timedelta(seconds=delay)).isoformat()
    return [failure, SetTask(task.task_id, TaskState.FAILED, TaskState.PENDING, detail=retry)]


def _retry_delay(task: TaskRecord) -> float | None:
    """Seconds before the next attempt (backoffDuration·factor^(n-1), capped), None when none remain."""
    policy = task.detail.get(RETRY)
    if not isinstance(policy, dict):
        return None
    retries_used = task.attempt - 1
    if retries_used >= int(policy.get("max", 0) or 0):  # type: ignore[arg-type]
        return None
    backoff = float(policy.get("backoff", 0) or 0)  # type: ignore[arg-type]
    factor = float(policy.get("factor", 2) or 2)  # type: ignore[arg-type]
    cap = float(policy.get("cap", 3600) or 3600)  # type: ignore[arg-type]
    return min(backoff * factor**retries_used, cap)


INTERRUPTED = "The orchestrator running this attempt stopped; the attempt was interrupted and is run again."


def recover(task: TaskRecord) -> list[Action]:
    """An attempt left running by an orchestrator that died (its process group has been stopped).

    A RUNNING attempt is recorded FAILED with the interruption and its task goes back to PENDING for a
    new attempt (an interruption is not the task's fault, so this does not depend on its retry policy);
    an attempt that was being cancelled is CANCELLED.
    """
    if task.state in (TaskState.CANCEL_PENDING, TaskState.CANCELLING):
        return [SetTask(task.task_id, task.state, TaskState.CANCELLED,
                        error=error(Code.CANCELLED, "The task was cancelled."))]
    if task.state is not TaskState.RUNNING:
        return []
    failed = SetTask(task.task_id, TaskState.RUNNING, TaskState.FAILED, error=error(Code.ABORTED, INTERRUPTED))
    return [failed, SetTask(task.task_id, TaskState.FAILED, TaskState.PENDING)]

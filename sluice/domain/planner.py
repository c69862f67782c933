"""plan(snapshot, spec, slots) → the next actions for one job. The only place that decides.

Like graphlib's TopologicalSorter it hands out work step by step: every call looks at the stored state
only, so a restarted orchestrator continues where the last one stopped. Tasks are created when their
upstream tasks have ended; leaves wait PENDING until a slot is free; a DAG ends when its tasks have.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from sluice.domain.actions import Action, Launch, NewTask, SetJob, SetTask, Terminate, task_id_for
from sluice.domain.inputs import InputError, resolve_inputs
from sluice.domain.ir import ContainerExecutor, Dag, PipelineSpecView, TaskSpec
from sluice.domain.jsontypes import JsonObject
from sluice.domain.outcome import Outcome
from sluice.domain.records import JobRecord, Snapshot, TaskKind, TaskRecord, Values
from sluice.domain.states import PipelineState, TaskState
from sluice.errors import Code

_JOB_END = {
    TaskState.SUCCEEDED: PipelineState.SUCCEEDED,
    TaskState.FAILED: PipelineState.FAILED,
    TaskState.CANCELLED: PipelineState.CANCELLED,
}


def error(code: Code, message: str) -> JsonObject:
    """A google.rpc.Status value."""
    return {"code": int(code), "message": message}


@dataclass
class _Tree:
    """The job's task rows indexed for planning."""

    by_id: dict[int, TaskRecord]
    children: dict[int, dict[str, TaskRecord]]

    @staticmethod
    def of(tasks: Iterable[TaskRecord]) -> _Tree:
        by_id = {t.task_id: t for t in tasks}
        children: dict[int, dict[str, TaskRecord]] = defaultdict(dict)
        for t in by_id.values():
            if t.parent_id is not None:
                children[t.parent_id][t.key] = t
        return _Tree(by_id, children)


def plan(snapshot: Snapshot, spec: PipelineSpecView, slots: int) -> list[Action]:
    """The actions that move the job on; an empty list means: wait for a running task to end."""
    job = snapshot.job
    if job.state.terminal:
        return []
    if job.state in (PipelineState.QUEUED, PipelineState.PENDING):
        return _start(job, spec)
    actions: list[Action] = []
    if job.cancel_requested and job.state is PipelineState.RUNNING:
        actions.append(SetJob(job.state, PipelineState.CANCELLING))
    tree = _Tree.of(snapshot.tasks)
    stopping = job.cancel_requested or (
        job.fail_fast and any(t.state is TaskState.FAILED and t.kind is not TaskKind.DAG for t in snapshot.tasks)
    )
    for task in sorted(tree.by_id.values(), key=lambda t: t.seq):
        if task.kind is TaskKind.DAG and task.state is TaskState.RUNNING:
            actions.extend(_plan_dag(spec, job, task, tree, stopping))
    actions.extend(_leaves(tree, slots, stopping, job.cancel_requested))
    root = next((t for t in tree.by_id.values() if t.parent_id is None), None)
    if root is not None and root.state.terminal and not actions:
        actions.append(_finish_job(job, root, tree))
    return actions


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


def _dag_of(spec: PipelineSpecView, task: TaskRecord) -> Dag:
    comp = spec.root if task.parent_id is None else spec.component(task.component)
    assert comp.dag is not None
    return comp.dag


def _plan_dag(
    spec: PipelineSpecView, job: JobRecord, dag_task: TaskRecord, tree: _Tree, stopping: bool
) -> list[Action]:
    dag = _dag_of(spec, dag_task)
    children = tree.children.get(dag_task.task_id, {})
    actions: list[Action] = []
    if not stopping:
        for key, task in dag.tasks.items():
            if key not in children and _upstream_ended(task, children):
                actions.append(_new_task(spec, job, dag_task, task, children))
    pending_creation = [k for k in dag.tasks if k not in children]
    waiting = bool(actions) or (pending_creation and not stopping)
    if not waiting and all(c.state.terminal for c in children.values()):
        actions.append(_finish_dag(dag, dag_task, children))
    return actions


def _upstream(task: TaskSpec) -> set[str]:
    deps = set(task.dependent_tasks)
    deps |= {s.producer for s in task.parameters.values() if s.producer}
    deps |= {s.final_status_of for s in task.parameters.values() if s.final_status_of}
    deps |= {s.producer for s in task.artifacts.values() if s.producer}
    return deps


def _upstream_ended(task: TaskSpec, children: Mapping[str, TaskRecord]) -> bool:
    return all(dep in children and children[dep].state.terminal for dep in _upstream(task))


def _new_task(
    spec: PipelineSpecView, job: JobRecord, parent: TaskRecord, task: TaskSpec, siblings: Mapping[str, TaskRecord]
) -> NewTask:
    comp = spec.component(task.component)
    task_id = task_id_for(job.numeric_id, parent.task_id, task.key)
    kind = TaskKind.DAG
    detail: JsonObject = {}
    if comp.executor is not None:
        executor = spec.executors[comp.executor]
        kind = TaskKind.CONTAINER if isinstance(executor, ContainerExecutor) else TaskKind.IMPORTER
        if isinstance(executor, ContainerExecutor):
            detail["image"] = executor.image
    base = NewTask(task_id, parent.task_id, task.key, task.name, task.component, kind, TaskState.PENDING,
                   detail=detail)
    upstream = [siblings[d] for d in sorted(_upstream(task))]
    if not task.all_upstream_completed and not all(u.state.succeeded for u in upstream):
        # Vertex's default trigger strategy is ALL_UPSTREAM_TASKS_SUCCEEDED: this task can never run.
        return replace(base, state=TaskState.NOT_TRIGGERED)
    try:
        inputs = resolve_inputs(spec, job, task, task_id, parent, siblings)
    except InputError as exc:
        return replace(base, state=TaskState.FAILED, error=error(Code.INVALID_ARGUMENT, str(exc)))
    state = TaskState.RUNNING if kind is TaskKind.DAG else TaskState.PENDING
    return replace(base, state=state, inputs=inputs)


def _leaves(tree: _Tree, slots: int, stopping: bool, cancelling: bool) -> list[Action]:
    actions: list[Action] = []
    leaves = sorted((t for t in tree.by_id.values() if t.kind is not TaskKind.DAG), key=lambda t: t.seq)
    for task in leaves:
        if task.state is TaskState.PENDING:
            if stopping:
                actions.append(SetTask(task.task_id, TaskState.PENDING, TaskState.CANCELLED))
            elif slots > 0:
                actions.append(Launch(task.task_id))
                slots -= 1
        elif task.state is TaskState.RUNNING and cancelling:
            actions.append(Terminate(task.task_id))
    return actions


def _finish_dag(dag: Dag, dag_task: TaskRecord, children: Mapping[str, TaskRecord]) -> SetTask:
    failed = sorted(c.name for c in children.values() if c.state is TaskState.FAILED)
    if failed:
        message = f"The DAG failed because some tasks failed. The failed tasks are: [{', '.join(failed)}]."
        return SetTask(dag_task.task_id, TaskState.RUNNING, TaskState.FAILED,
                       error=error(Code.FAILED_PRECONDITION, message))
    if any(c.state is TaskState.CANCELLED for c in children.values()) or len(children) < len(dag.tasks):
        return SetTask(dag_task.task_id, TaskState.RUNNING, TaskState.CANCELLED,
                       error=error(Code.CANCELLED, "The DAG was cancelled."))
    return SetTask(dag_task.task_id, TaskState.RUNNING, TaskState.SUCCEEDED, outputs=_dag_outputs(dag, children))


def _dag_outputs(dag: Dag, children: Mapping[str, TaskRecord]) -> Values:
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


def _finish_job(job: JobRecord, root: TaskRecord, tree: _Tree) -> SetJob:
    state = _JOB_END.get(root.state, PipelineState.FAILED)
    if state is PipelineState.SUCCEEDED:
        return SetJob(job.state, state)
    if state is PipelineState.CANCELLED:
        return SetJob(job.state, state, error(Code.CANCELLED, "The pipeline job was cancelled."))
    failed = sorted(t.name for t in tree.by_id.values() if t.state is TaskState.FAILED and t.kind is not TaskKind.DAG)
    message = f"The DAG failed because some tasks failed. The failed tasks are: [{', '.join(failed)}]."
    return SetJob(job.state, state, error(Code.FAILED_PRECONDITION, message))


def settle(task: TaskRecord, outcome: Outcome) -> SetTask:
    """What a finished attempt means for its task: a failed task is data, not an exception."""
    detail = dict(task.detail)
    detail["lastLog"] = outcome.log_path
    if outcome.process:
        detail["process"] = outcome.process
    if outcome.cancelled:
        return SetTask(task.task_id, task.state, TaskState.CANCELLED,
                       error=error(Code.CANCELLED, "The task was cancelled."), detail=detail)
    if outcome.error is None:
        return SetTask(task.task_id, task.state, TaskState.SUCCEEDED, outputs=outcome.outputs, detail=detail)
    failed = detail.get("failedAttempts")
    detail["failedAttempts"] = [*(failed if isinstance(failed, list) else []), outcome.process or outcome.log_path]
    return SetTask(task.task_id, task.state, TaskState.FAILED,
                   error=error(Code.FAILED_PRECONDITION, outcome.error), detail=detail)

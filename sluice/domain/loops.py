"""ParallelFor: a loop task's iterations, how many may run at once, and the gathered (Collected) outputs."""

from __future__ import annotations

import json

from sluice.domain.actions import Action, NewTask, SetTask, task_id_for
from sluice.domain.ir import PipelineSpecView, TaskSpec
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.records import ITERATION_INDEX, Artifact, TaskKind, TaskRecord, Values
from sluice.domain.states import TaskState
from sluice.domain.status import error, finish_group
from sluice.domain.tree import Tree
from sluice.domain.values import normalise_numbers
from sluice.errors import Code


def _items(task: TaskSpec, loop: TaskRecord) -> list[Json] | list[Artifact] | str:
    """The items to iterate over, or an error message."""
    it = task.iterator
    assert it is not None
    if it.over_artifacts:
        return list(loop.inputs.artifacts.get(it.input_name or "", []))
    value: Json = it.raw_items if it.raw_items is not None else loop.inputs.parameters.get(it.input_name or "")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return f"the loop items are not a JSON list: {value!r}"
    if not isinstance(value, list):
        return f"the loop items must be a list, got {json.dumps(value)}"
    return [normalise_numbers(v) for v in value]


def _body_inputs(spec: PipelineSpecView, loop: TaskRecord) -> set[str]:
    """The loop DAG's inputs that its own tasks read."""
    dag = spec.component(loop.component).dag
    assert dag is not None
    used = {s.component_input for t in dag.tasks.values() for s in t.parameters.values() if s.component_input}
    return used | {s.component_input for t in dag.tasks.values() for s in t.artifacts.values() if s.component_input}


def _iteration(job_numeric_id: int, loop: TaskRecord, task: TaskSpec, index: int, item: Json | Artifact,
               used: set[str]) -> NewTask:
    assert task.iterator is not None
    name = task.iterator.item_input
    # Each iteration gets the loop's inputs, but not the list it iterates over unless the body uses it:
    # copying that into every iteration would make a loop of n items store n² values.
    dropped = set() if task.iterator.input_name in used else {task.iterator.input_name}
    params = {k: v for k, v in loop.inputs.parameters.items() if k not in dropped}
    artifacts = {k: v for k, v in loop.inputs.artifacts.items() if k not in dropped}
    if isinstance(item, Artifact):
        artifacts[name] = [item]
    else:
        params[name] = item
    key = f"iteration-{index}"
    return NewTask(task_id_for(job_numeric_id, loop.task_id, key), loop.task_id, key, f"{loop.name}-{key}",
                   loop.component, TaskKind.ITERATION, TaskState.PENDING, inputs=Values(params, artifacts),
                   detail={ITERATION_INDEX: index})


def loop_steps(spec: PipelineSpecView, task: TaskSpec, loop: TaskRecord, tree: Tree, job_numeric_id: int,
               stopping: bool) -> list[Action]:
    """Create the iterations once, start them up to parallelismLimit, finish the loop when they have ended."""
    assert task.iterator is not None
    iterations = tree.children.get(loop.task_id, {})
    if not iterations:
        items = _items(task, loop)
        if isinstance(items, str):
            return [SetTask(loop.task_id, TaskState.RUNNING, TaskState.FAILED,
                            error=error(Code.INVALID_ARGUMENT, items))]
        if items and not stopping:
            used = _body_inputs(spec, loop)
            return [_iteration(job_numeric_id, loop, task, i, item, used) for i, item in enumerate(items)]
        return [_finish(spec, loop, [])]
    running = tree.counts[loop.task_id][TaskState.RUNNING]
    limit = task.iterator.parallelism or len(iterations)
    actions: list[Action] = []
    for it_id in tree.pending_children.get(loop.task_id, {}):
        if stopping:
            actions.append(SetTask(it_id, TaskState.PENDING, TaskState.CANCELLED))
        elif running < limit:
            actions.append(SetTask(it_id, TaskState.PENDING, TaskState.RUNNING))
            running += 1
        else:
            break
    if not actions and tree.all_children_ended(loop.task_id):
        ordered = sorted(iterations.values(), key=lambda t: int(t.detail.get(ITERATION_INDEX, 0)))  # type: ignore[arg-type]
        actions.append(_finish(spec, loop, ordered))
    return actions


def _finish(spec: PipelineSpecView, loop: TaskRecord, iterations: list[TaskRecord]) -> SetTask:
    return finish_group(loop.task_id, iterations, False, "loop", lambda: _collected(spec, loop, iterations))


def _collected(spec: PipelineSpecView, loop: TaskRecord, iterations: list[TaskRecord]) -> Values:
    """dsl.Collected: each loop output gathers the iterations' values in iteration order."""
    comp = spec.component(loop.component)
    params: JsonObject = {
        name: [it.outputs.parameters[name] for it in iterations if name in it.outputs.parameters]
        for name in comp.outputs.parameters
    }
    artifacts = {
        name: [a for it in iterations for a in it.outputs.artifacts.get(name, [])] for name in comp.outputs.artifacts
    }
    return Values(params, artifacts)

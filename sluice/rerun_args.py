"""`sluice rerun JOB [--task NAME [-p K=V]...]... [--skip-task NAME]...`: ordered arguments → a rerun request.

`-p K=V` after `--task NAME` overrides an input of that task (typed by the component's declaration);
before any `--task` it sets a pipeline parameter. `--task` alone makes the task run again; `--skip-task`
reuses its original outputs even when its inputs changed (and those of the tasks downstream of it).
A NAME is a task's name or its path (`taskUniqueName`, e.g. `for-loop-2.iteration-0.square`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sluice.domain.ir import PipelineSpecView
from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import Snapshot, task_paths
from sluice.domain.rerun import TaskRerunConfig
from sluice.domain.values import NO_PIPELINE_INPUT, declared, parse_pair, parse_text
from sluice.errors import InvalidArgument


@dataclass
class _Task:
    path: str
    skip: bool
    params: JsonObject = field(default_factory=dict)


@dataclass
class RerunArgs:
    """What the command line asked for."""

    configs: list[TaskRerunConfig] = field(default_factory=list)
    parameters: JsonObject = field(default_factory=dict)  # pipeline parameters that change


def _paths(original: Snapshot) -> dict[str, str]:
    """Each name or path a user may type → the task's path; names used twice map to ''."""
    paths = task_paths(original.tasks)
    found: dict[str, str] = {}
    for task in original.tasks:
        if task.parent_id is None:
            continue
        path = paths[task.task_id]
        found[path] = path
        found[task.name] = "" if task.name in found and found[task.name] != path else path
    return found


def _resolve(name: str, paths: dict[str, str], option: str) -> str:
    path = paths.get(name)
    if path is None:
        raise InvalidArgument(f"the original job has no task {name!r}", option)
    if not path:
        raise InvalidArgument(f"several tasks are named {name!r}; give its path (its taskUniqueName)", option)
    return path


def parse_rerun_args(tokens: Sequence[str], original: Snapshot, spec: PipelineSpecView) -> RerunArgs:
    """Parse the ordered options; InvalidArgument names the option at fault."""
    paths = _paths(original)
    by_path = task_paths(original.tasks)
    components = {by_path[t.task_id]: t.component for t in original.tasks if t.parent_id is not None}
    result = RerunArgs()
    current: _Task | None = None
    chosen: list[_Task] = []
    items = list(tokens)
    while items:
        option = items.pop(0)
        if option not in ("--task", "-p", "--param", "--skip-task") or not items:
            raise InvalidArgument(f"expected --task NAME, --skip-task NAME or -p NAME=VALUE, got {option!r}", option)
        value = items.pop(0)
        if option in ("--task", "--skip-task"):
            current = _Task(_resolve(value, paths, option), skip=option == "--skip-task")
            chosen.append(current)
            continue
        key, text = parse_pair(value, "-p")
        if current is None:
            param = declared(spec.root.inputs.parameters, key, NO_PIPELINE_INPUT, f"-p {key}")
            result.parameters[key] = parse_text(text, param.type, f"-p {key}")
            continue
        inputs = spec.component(components[current.path]).inputs.parameters
        param = declared(inputs, key, f"task {current.path!r} has no input", f"-p {key}")
        current.params[key] = parse_text(text, param.type, f"-p {key}")
    result.configs = [TaskRerunConfig(task_name=t.path, parameter_values=t.params, skip_task=t.skip,
                                      skip_downstream=t.skip) for t in chosen]
    return result

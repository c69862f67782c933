"""Execution caching: the KFP fingerprint of a task, and what a cache hit hands to the planner.

The key covers what decides a container task's result, as KFP and Vertex document it: the input
parameter values, the input artifacts' identities (URI and type), the output definitions (names and
types, not URIs), the image, the command and args as written in the IR, and the env. It is scoped to
the pipeline name. `cachingOptions.cacheKey`, when set, replaces the computed key.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

from sluice.domain.ir import Component, ContainerExecutor, TaskSpec
from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import Values


@dataclass(frozen=True)
class CacheHit:
    """An earlier SUCCEEDED execution whose outputs a task may take instead of running."""

    key: str
    job_id: str
    task_id: int
    outputs: Values


def fingerprint(pipeline_name: str, task: TaskSpec, comp: Component, executor: ContainerExecutor,
                inputs: Values) -> str:
    """The cache key of one container task with these resolved inputs."""
    if task.cache_key:
        material: JsonObject = {"pipeline": pipeline_name, "cacheKey": task.cache_key}
    else:
        material = {
            "pipeline": pipeline_name,
            "inputs": {
                "parameters": inputs.parameters,
                "artifacts": {name: [{"uri": a.uri, "type": a.schema_title} for a in arts]
                              for name, arts in sorted(inputs.artifacts.items())},
            },
            "outputs": {
                "parameters": {n: p.type.value for n, p in sorted(comp.outputs.parameters.items())},
                "artifacts": {n: a.schema_title for n, a in sorted(comp.outputs.artifacts.items())},
            },
            "image": executor.image,
            "command": list(executor.command),
            "args": list(executor.args),
            "env": dict(sorted(executor.env.items())),
        }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def with_caching(document: JsonObject, enabled: bool) -> JsonObject:
    """The pipeline document with every task's `cachingOptions.enableCache` set, as the SDK's
    `enable_caching=` does before it submits a job."""
    result = copy.deepcopy(document)
    components = result.get("components")
    dags = [result.get("root"), *(components.values() if isinstance(components, dict) else [])]
    for comp in dags:
        dag = comp.get("dag") if isinstance(comp, dict) else None
        tasks = dag.get("tasks") if isinstance(dag, dict) else None
        for task in (tasks or {}).values() if isinstance(tasks, dict) else []:
            if isinstance(task, dict):
                options = task.setdefault("cachingOptions", {})
                if isinstance(options, dict):
                    options["enableCache"] = enabled
    return result

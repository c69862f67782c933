"""The ExecutorInput JSON (`{{$}}`) a task attempt receives, built from its stored inputs."""

from __future__ import annotations

from sluice.domain.ir import Component
from sluice.domain.jsontypes import JsonObject
from sluice.domain.records import Artifact, TaskRecord


def artifact_json(artifact: Artifact) -> JsonObject:
    """One RuntimeArtifact as kfp's executor reads it."""
    return {
        "name": artifact.artifact_id or artifact.name,
        "type": {"schemaTitle": artifact.schema_title, "schemaVersion": artifact.schema_version},
        "uri": artifact.uri,
        "metadata": artifact.metadata,
    }


def output_artifacts(comp: Component, task_id: int, artifact_base: str) -> dict[str, list[Artifact]]:
    """The task's output artifacts before it runs: Vertex's layout `{output_dir}/{job_id}/{taskId}/{key}`."""
    return {
        key: [Artifact(name=key, uri=f"{artifact_base}/{key}", schema_title=spec.schema_title,
                       schema_version=spec.schema_version, artifact_id=f"{task_id}-{key}")]
        for key, spec in comp.outputs.artifacts.items()
    }


def build_executor_input(
    task: TaskRecord, comp: Component, outputs: dict[str, list[Artifact]], workdir: str
) -> JsonObject:
    """ExecutorInput for one attempt; `workdir` holds the output parameter files and executor_output.json."""
    artifacts: JsonObject = {
        name: {"artifacts": [artifact_json(a) for a in arts]} for name, arts in task.inputs.artifacts.items()
    }
    inputs: JsonObject = {"parameterValues": dict(task.inputs.parameters), "artifacts": artifacts}
    out_params: JsonObject = {name: {"outputFile": f"{workdir}/outputs/{name}"} for name in comp.outputs.parameters}
    out_arts: JsonObject = {name: {"artifacts": [artifact_json(a) for a in arts]} for name, arts in outputs.items()}
    return {
        "inputs": inputs,
        "outputs": {
            "parameters": out_params,
            "artifacts": out_arts,
            "outputFile": f"{workdir}/executor_output.json",
        },
    }

"""One task attempt: working dir, ExecutorInput, staged artifacts, the process, and its outputs as an Outcome."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sluice.domain.executor_input import build_executor_input, output_artifacts
from sluice.domain.inputs import job_placeholders
from sluice.domain.ir import Component, ContainerExecutor, ImporterExecutor, ParamType, PipelineSpecView
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.outcome import Outcome
from sluice.domain.placeholders import Context, PlaceholderError, resolve_command, resolve_value
from sluice.domain.records import Artifact, JobRecord, TaskRecord, Values
from sluice.domain.values import coerce, normalise_numbers
from sluice.errors import InvalidArgument
from sluice.runtime import artifacts as staging
from sluice.runtime.environments import EnvironmentFailure, Environments
from sluice.runtime.executors.base import Executor, Handle, ProcessSpec
from sluice.runtime.warm import WarmExecutors


@dataclass(frozen=True)
class AttemptPaths:
    """Where one attempt keeps its files."""

    workdir: Path
    log: Path

    @staticmethod
    def of(root: Path, job_id: str, task_id: int, attempt: int) -> AttemptPaths:
        """Every attempt gets its own directory and its own log file, both kept after it ends."""
        return AttemptPaths(
            workdir=root / "runs" / job_id / str(task_id) / f"attempt-{attempt}",
            log=root / "logs" / job_id / str(task_id) / f"attempt-{attempt}.log",
        )


class Launcher:
    """Runs task attempts through an Executor and reports Outcomes."""

    def __init__(self, root: Path, executor: Executor, environments: Environments, grace_seconds: float,
                 warm: WarmExecutors | None = None) -> None:
        self.root = root
        self.executor = executor
        self.environments = environments
        self.warm = warm
        self.grace_seconds = grace_seconds
        self._handles: dict[int, Handle] = {}
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()

    def run(self, spec: PipelineSpecView, job: JobRecord, task: TaskRecord,
            on_start: Callable[[str], None] | None = None) -> Outcome:
        """Run one attempt of `task` (already RUNNING in the store) to its end; `on_start` gets its process id."""
        paths = AttemptPaths.of(self.root, job.job_id, task.task_id, task.attempt)
        (paths.workdir / "tmp").mkdir(parents=True, exist_ok=True)  # the attempt's TMPDIR, in its working dir
        paths.log.parent.mkdir(parents=True, exist_ok=True)
        comp = spec.component(task.component)
        assert comp.executor is not None
        executor = spec.executors[comp.executor]
        try:
            if isinstance(executor, ImporterExecutor):
                return self._import(executor, job, task, paths)
            return self._container(spec, executor, comp, job, task, paths, on_start)
        except (EnvironmentFailure, PlaceholderError, OSError) as exc:
            with open(paths.log, "a") as log:
                log.write(f"sluice: {exc}\n")
            return Outcome(error=str(exc), log_path=str(paths.log))

    def terminate(self, task_id: int) -> None:
        """Stop the running attempt of `task_id` (its whole process group)."""
        with self._lock:
            self._cancelled.add(task_id)
            handle = self._handles.get(task_id)
        if handle is not None:
            self.executor.terminate(handle, self.grace_seconds)

    def kill_orphan(self, task: TaskRecord) -> bool:
        """Stop what a dead orchestrator left running for `task`'s current attempt; False if out of reach."""
        return self.executor.kill(task.process) if task.process else True

    def _import(self, executor: ImporterExecutor, job: JobRecord, task: TaskRecord, paths: AttemptPaths) -> Outcome:
        params = task.inputs.parameters
        uri = executor.uri_constant if executor.uri_constant is not None else params.get(executor.uri_parameter or "")
        if not isinstance(uri, str) or not uri:
            return Outcome(error="the importer has no artifact URI", log_path=str(paths.log))
        metadata = normalise_numbers(resolve_value(executor.metadata, params,
                                                   job_placeholders(job, task.name, task.task_id)))
        artifact = Artifact(
            name="artifact", uri=staging.normalise_uri(uri), schema_title=executor.schema_title or "system.Artifact",
            schema_version=executor.schema_version or "0.0.1",
            metadata=metadata if isinstance(metadata, dict) else {}, artifact_id=f"{task.task_id}-artifact",
        )
        paths.log.write_text(f"sluice: imported {artifact.uri} as {artifact.schema_title}\n")
        return Outcome(outputs=Values(artifacts={"artifact": [artifact]}), exit_code=0, log_path=str(paths.log))

    def _container(
        self, spec: PipelineSpecView, executor: ContainerExecutor, comp: Component, job: JobRecord,
        task: TaskRecord, paths: AttemptPaths, on_start: Callable[[str], None] | None,
    ) -> Outcome:
        planned = output_artifacts(comp, task.task_id, f"{job.output_dir}/{job.job_id}/{task.task_id}")
        stage = staging.Staging(paths.workdir)
        local_task = replace(task, inputs=Values(task.inputs.parameters, stage.inputs(task.inputs.artifacts)))
        local_outputs = stage.outputs(planned)
        executor_input = build_executor_input(local_task, comp, local_outputs, str(paths.workdir))
        ctx = Context(executor_input, job_placeholders(job, task.name, task.task_id))
        argv = resolve_command(executor.command, ctx) + resolve_command(executor.args, ctx)
        env = self.environments.for_task(executor.image, spec.sdk_version)
        variables = env.variables(dict(os.environ))
        address = self.warm.socket_for(env, variables) if self.warm is not None else None
        variables["TMPDIR"] = str(paths.workdir / "tmp")  # the task's own /tmp (kfp's `mktemp -d` goes there)
        variables.update(executor.env)
        variables["SLUICE_TASK_SITE"] = str(paths.workdir / ".sluice-site")  # this attempt's installs (pip_shim.py)
        if address is not None:
            variables["SLUICE_WARM_SOCKET"] = address
        handle = self.executor.start(ProcessSpec(argv, variables, paths.workdir, paths.log))
        if on_start is not None:
            on_start(handle.ident)  # stored, so that whoever takes the job over can stop this process
        with self._lock:
            self._handles[task.task_id] = handle
            cancelled_early = task.task_id in self._cancelled
        if cancelled_early:
            self.executor.terminate(handle, self.grace_seconds)
        try:
            code = self.executor.wait(handle)
        finally:
            with self._lock:
                self._handles.pop(task.task_id, None)
                cancelled = task.task_id in self._cancelled
                self._cancelled.discard(task.task_id)
        ended = Outcome(exit_code=code, log_path=str(paths.log), process=handle.ident)
        if cancelled:
            return replace(ended, cancelled=True)
        if code != 0:
            return replace(ended, error=f"The task's command exited with a non-zero status of {code}.")
        try:
            outputs = _collect(comp, executor_input, local_outputs)
        except (InvalidArgument, ValueError) as exc:
            return replace(ended, error=f"The task's outputs are invalid: {exc}")
        return replace(ended, outputs=Values(outputs.parameters, stage.publish(outputs.artifacts, planned)))


def _collect(comp: Component, executor_input: JsonObject, planned: dict[str, list[Artifact]]) -> Values:
    outputs = executor_input["outputs"]
    assert isinstance(outputs, dict)
    result_file = Path(str(outputs["outputFile"]))
    written: JsonObject = json.loads(result_file.read_text()) if result_file.exists() else {}
    values = written.get("parameterValues")
    values = values if isinstance(values, dict) else {}
    params: JsonObject = {}
    for name, declared in comp.outputs.parameters.items():
        if name in values:
            params[name] = coerce(normalise_numbers(values[name]), declared.type, name)
            continue
        path = Path(f"{Path(str(result_file)).parent}/outputs/{name}")
        if not path.exists():
            raise ValueError(f"the task wrote no value for output parameter {name!r} ({path})")
        params[name] = _read_parameter_file(path.read_text(), declared.type, name)
    return Values(parameters=params, artifacts=_merge_artifacts(planned, written.get("artifacts")))


def _read_parameter_file(text: str, ptype: ParamType, name: str) -> Json:
    # kfp/local/executor_output_utils.py: strings verbatim, booleans case-insensitive, the rest JSON.
    if ptype is ParamType.STRING:
        return text
    if ptype is ParamType.BOOLEAN:
        return coerce(text.strip().lower() == "true", ptype, name) if text.strip().lower() in ("true", "false") \
            else coerce(text, ptype, name)
    return coerce(normalise_numbers(json.loads(text)), ptype, name)


def _merge_artifacts(planned: dict[str, list[Artifact]], written: Json) -> dict[str, list[Artifact]]:
    result = {k: list(v) for k, v in planned.items()}
    if not isinstance(written, dict):
        return result
    for key, entry in written.items():
        arts = entry.get("artifacts") if isinstance(entry, dict) else None
        if key not in result or not isinstance(arts, list) or not arts or not isinstance(arts[0], dict):
            continue
        metadata = arts[0].get("metadata")
        base = result[key][0]
        result[key] = [replace(base, metadata=normalise_numbers(metadata) if isinstance(metadata, dict) else {})]  # type: ignore[arg-type]
    return result

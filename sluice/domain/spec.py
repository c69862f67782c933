"""IR → validated typed view (`ir.py`). Parsed with the IR's own protobuf package; errors name the field path."""

from __future__ import annotations

import graphlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from sluice.domain.ir import (
    ArtifactDef,
    ArtifactSource,
    Component,
    ContainerExecutor,
    Dag,
    Executor,
    ImporterExecutor,
    Interface,
    Iterator,
    OutputSelector,
    ParamDef,
    ParamSource,
    ParamType,
    PipelineSpecView,
    RetryPolicy,
    TaskSpec,
)
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.placeholders import check_command_placeholders
from sluice.domain.values import normalise_numbers
from sluice.errors import InvalidArgument

SUPPORTED_SCHEMA_VERSIONS = ("2.0.0", "2.1.0")
SPEC = "pipelineSpec"
# kfp quirk: an f-string over a loop-item field compiles to an input naming a parent input that does not exist.
_SUBVAR_QUIRK = re.compile(r"-loop-item-subvar-")


def load_document(text: str) -> tuple[JsonObject, JsonObject | None]:
    """Parse compiled YAML/JSON: either the IR itself or a Vertex PipelineJob body; returns (spec, job body)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"not valid YAML or JSON: {exc}", SPEC) from None
    if not documents or not isinstance(documents[0], dict):
        raise InvalidArgument("expected a compiled pipeline (a YAML or JSON object)", SPEC)
    # A second YAML document is kfp's platform spec (Kubernetes settings); it does not apply here.
    first: JsonObject = documents[0]
    if "pipelineSpec" in first or "pipeline_spec" in first:
        spec = first.get("pipelineSpec", first.get("pipeline_spec"))
        if not isinstance(spec, dict):
            raise InvalidArgument("must be a JSON object (the compiled pipeline)", SPEC)
        return spec, first
    return first, None


def parse_spec(document: Mapping[str, Any]) -> PipelineSpecView:
    """Parse and validate a PipelineSpec document; raise InvalidArgument naming the field."""
    if not isinstance(document, Mapping):
        raise InvalidArgument("must be a JSON object (the compiled pipeline)", SPEC)
    message = pb.PipelineSpec()
    try:
        json_format.ParseDict(json.loads(json.dumps(document)), message)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise InvalidArgument(str(exc), SPEC) from None
    if message.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InvalidArgument(
            f"unsupported schemaVersion {message.schema_version!r}; "
            f"Sluice runs {' and '.join(SUPPORTED_SCHEMA_VERSIONS)}",
            f"{SPEC}.schemaVersion",
        )
    if not message.pipeline_info.name:
        raise InvalidArgument("the pipeline needs a name", f"{SPEC}.pipelineInfo.name")
    executors = _executors(message.deployment_spec)
    components = {
        name: _component(name, comp, f"{SPEC}.components.{name}") for name, comp in message.components.items()
    }
    root = _component("root", message.root, f"{SPEC}.root")
    if root.dag is None:
        raise InvalidArgument("the root component must be a DAG", f"{SPEC}.root.dag")
    view = PipelineSpecView(
        name=message.pipeline_info.name,
        schema_version=message.schema_version,
        sdk_version=message.sdk_version,
        default_pipeline_root=message.default_pipeline_root,
        root=root,
        components=components,
        executors=executors,
        document=dict(document),
    )
    _check_references(view)
    return view


def _value(value: struct_pb2.Value) -> Json:
    return normalise_numbers(json_format.MessageToDict(value))


def _executors(deployment: struct_pb2.Struct) -> dict[str, Executor]:
    config = pb.PipelineDeploymentConfig()
    where = f"{SPEC}.deploymentSpec"
    try:
        json_format.ParseDict(json_format.MessageToDict(deployment), config)
    except json_format.ParseError as exc:
        raise InvalidArgument(str(exc), where) from None
    result: dict[str, Executor] = {}
    for label, spec in config.executors.items():
        path = f"{where}.executors.{label}"
        kind = spec.WhichOneof("spec")
        if kind == "container":
            result[label] = _container(spec.container, f"{path}.container")
        elif kind == "importer":
            result[label] = _importer(spec.importer)
        else:
            raise InvalidArgument(f"executor kind {kind!r} is not supported; use container or importer", path)
    return result


def _container(spec: Any, path: str) -> ContainerExecutor:
    if not spec.image:
        raise InvalidArgument("a container executor needs an image", f"{path}.image")
    for index, item in enumerate([*spec.command, *spec.args]):
        check_command_placeholders(item, f"{path}.{'command' if index < len(spec.command) else 'args'}")
    return ContainerExecutor(
        image=spec.image,
        command=tuple(spec.command),
        args=tuple(spec.args),
        env={e.name: e.value for e in spec.env},
        resources=json_format.MessageToDict(spec.resources),
    )


def _importer(spec: Any) -> ImporterExecutor:
    uri = spec.artifact_uri
    return ImporterExecutor(
        uri_constant=str(_value(uri.constant)) if uri.HasField("constant") else None,
        uri_parameter=uri.runtime_parameter or None,
        schema_title=spec.type_schema.schema_title,
        schema_version=spec.type_schema.schema_version,
        metadata=json_format.MessageToDict(spec.metadata),
        reimport=spec.reimport,
    )


def _param_def(name: str, spec: Any) -> ParamDef:
    # Output parameter specs have neither isOptional nor defaultValue.
    has_default = "default_value" in spec.DESCRIPTOR.fields_by_name and spec.HasField("default_value")
    return ParamDef(
        name=name,
        type=ParamType(pb.ParameterType.ParameterTypeEnum.Name(spec.parameter_type)),
        optional=getattr(spec, "is_optional", False),
        has_default=has_default,
        default=_value(spec.default_value) if has_default else None,
    )


def _interface(spec: Any) -> Interface:
    params = {name: _param_def(name, p) for name, p in spec.parameters.items()}
    artifacts = {
        name: ArtifactDef(
            name=name,
            schema_title=a.artifact_type.schema_title or "system.Artifact",
            schema_version=a.artifact_type.schema_version or "0.0.1",
            is_list=a.is_artifact_list,
            optional=getattr(a, "is_optional", False),
        )
        for name, a in spec.artifacts.items()
    }
    return Interface(parameters=params, artifacts=artifacts)


def _component(name: str, spec: Any, path: str) -> Component:
    kind = spec.WhichOneof("implementation")
    if kind is None:
        raise InvalidArgument("a component needs either executorLabel or dag", path)
    return Component(
        name=name,
        inputs=_interface(spec.input_definitions),
        outputs=_interface(spec.output_definitions),
        executor=spec.executor_label if kind == "executor_label" else None,
        dag=_dag(spec.dag, f"{path}.dag") if kind == "dag" else None,
    )


def _dag(spec: Any, path: str) -> Dag:
    params = {
        name: tuple(_param_selectors(out, f"{path}.outputs.parameters.{name}"))
        for name, out in spec.outputs.parameters.items()
    }
    artifacts = {
        name: tuple(OutputSelector(s.producer_subtask, s.output_artifact_key) for s in out.artifact_selectors)
        for name, out in spec.outputs.artifacts.items()
    }
    tasks = {key: _task(key, task, f"{path}.tasks.{key}") for key, task in sorted(spec.tasks.items())}
    return Dag(tasks=tasks, parameter_outputs=params, artifact_outputs=artifacts)


def _param_selectors(out: Any, path: str) -> Iterable[OutputSelector]:
    kind = out.WhichOneof("kind")
    if kind == "value_from_parameter":
        yield OutputSelector(out.value_from_parameter.producer_subtask, out.value_from_parameter.output_parameter_key)
    elif kind == "value_from_oneof":
        for s in out.value_from_oneof.parameter_selectors:
            yield OutputSelector(s.producer_subtask, s.output_parameter_key)
    else:
        raise InvalidArgument("a DAG output needs valueFromParameter or valueFromOneof", path)


def _task(key: str, spec: Any, path: str) -> TaskSpec:
    if not spec.component_ref.name:
        raise InvalidArgument("a task needs componentRef.name", f"{path}.componentRef.name")
    retry = None
    if spec.HasField("retry_policy") and spec.retry_policy.max_retry_count > 0:
        r = spec.retry_policy
        retry = RetryPolicy(
            max_retry_count=r.max_retry_count,
            backoff_seconds=r.backoff_duration.ToTimedelta().total_seconds(),
            backoff_factor=r.backoff_factor or 2.0,
            backoff_max_seconds=r.backoff_max_duration.ToTimedelta().total_seconds() or 3600.0,
        )
    completed = pb.PipelineTaskSpec.TriggerPolicy.TriggerStrategy.Value("ALL_UPSTREAM_TASKS_COMPLETED")
    return TaskSpec(
        key=key,
        name=spec.task_info.name or key,
        component=spec.component_ref.name,
        dependent_tasks=tuple(spec.dependent_tasks),
        parameters={n: _param_source(p, f"{path}.inputs.parameters.{n}") for n, p in spec.inputs.parameters.items()},
        artifacts={n: _artifact_source(a) for n, a in spec.inputs.artifacts.items()},
        enable_cache=spec.caching_options.enable_cache,
        cache_key=spec.caching_options.cache_key,
        retry=retry,
        condition=spec.trigger_policy.condition,
        all_upstream_completed=spec.trigger_policy.strategy == completed,
        iterator=_iterator(spec),
    )


def _iterator(spec: Any) -> Iterator | None:
    limit = spec.iterator_policy.parallelism_limit
    if spec.HasField("parameter_iterator"):
        it = spec.parameter_iterator
        kind = it.items.WhichOneof("kind")
        return Iterator(item_input=it.item_input, raw_items=it.items.raw if kind == "raw" else None,
                        input_name=it.items.input_parameter if kind == "input_parameter" else None,
                        parallelism=limit)
    if spec.HasField("artifact_iterator"):
        it = spec.artifact_iterator
        return Iterator(item_input=it.item_input, input_name=it.items.input_artifact, over_artifacts=True,
                        parallelism=limit)
    return None


def _param_source(spec: Any, path: str) -> ParamSource:
    selector = spec.parameter_expression_selector or None
    kind = spec.WhichOneof("kind")
    if kind == "component_input_parameter":
        return ParamSource(component_input=spec.component_input_parameter, selector=selector)
    if kind == "task_output_parameter":
        out = spec.task_output_parameter
        return ParamSource(producer=out.producer_task, output_key=out.output_parameter_key, selector=selector)
    if kind == "runtime_value":
        return ParamSource(constant=_value(spec.runtime_value.constant), is_constant=True, selector=selector)
    if kind == "task_final_status":
        return ParamSource(final_status_of=spec.task_final_status.producer_task)
    raise InvalidArgument("an input parameter needs a source", path)


def _artifact_source(spec: Any) -> ArtifactSource:
    if spec.WhichOneof("kind") == "component_input_artifact":
        return ArtifactSource(component_input=spec.component_input_artifact)
    out = spec.task_output_artifact
    return ArtifactSource(producer=out.producer_task, output_key=out.output_artifact_key)


def _check_references(view: PipelineSpecView) -> None:
    _check_dag(view, view.root, f"{SPEC}.root")
    for name, comp in view.components.items():
        path = f"{SPEC}.components.{name}"
        if comp.executor is not None and comp.executor not in view.executors:
            raise InvalidArgument(f"no executor {comp.executor!r} in deploymentSpec.executors", f"{path}.executorLabel")
        _check_dag(view, comp, path)
    _check_component_cycles(view)


def _check_dag(view: PipelineSpecView, comp: Component, path: str) -> None:
    if comp.dag is None:
        return
    tasks = comp.dag.tasks
    graph: dict[str, set[str]] = {}
    for key, task in sorted(tasks.items()):
        if task.component not in view.components:
            raise InvalidArgument(f"no component {task.component!r}", f"{path}.dag.tasks.{key}.componentRef.name")
    for key, task in sorted(tasks.items()):
        where = f"{path}.dag.tasks.{key}"
        graph[key] = set(task.dependent_tasks)
        for index, dep in enumerate(task.dependent_tasks):
            if dep not in tasks:
                raise InvalidArgument(f"no task {dep!r} in this DAG", f"{where}.dependentTasks[{index}]")
        _check_task_inputs(view, comp, task, where)
        graph[key] |= task.data_upstream
    for kind, outputs in (("parameters", comp.dag.parameter_outputs), ("artifacts", comp.dag.artifact_outputs)):
        for name, selectors in outputs.items():
            for sel in selectors:
                _check_output(view, tasks, sel.producer, sel.output_key, kind, f"{path}.dag.outputs.{kind}.{name}")
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise InvalidArgument(f"the tasks form a cycle: {cycle}", f"{path}.dag.tasks") from None


def _check_task_inputs(view: PipelineSpecView, parent: Component, task: TaskSpec, where: str) -> None:
    for name, src in task.parameters.items():
        field = f"{where}.inputs.parameters.{name}"
        if src.component_input is not None:
            known = src.component_input in parent.inputs.parameters
            if not known and not _SUBVAR_QUIRK.search(src.component_input):
                raise InvalidArgument(
                    f"no input parameter {src.component_input!r} in the enclosing component",
                    f"{field}.componentInputParameter",
                )
        if src.producer is not None:
            _check_output(view, parent.dag.tasks if parent.dag else {}, src.producer, src.output_key or "",
                          "parameters", f"{field}.taskOutputParameter")
        if src.final_status_of is not None and src.final_status_of not in (parent.dag.tasks if parent.dag else {}):
            raise InvalidArgument(f"no task {src.final_status_of!r} in this DAG", f"{field}.taskFinalStatus")
    for name, art in task.artifacts.items():
        field = f"{where}.inputs.artifacts.{name}"
        if art.component_input is not None and art.component_input not in parent.inputs.artifacts:
            raise InvalidArgument(
                f"no input artifact {art.component_input!r} in the enclosing component",
                f"{field}.componentInputArtifact",
            )
        if art.producer is not None:
            _check_output(view, parent.dag.tasks if parent.dag else {}, art.producer, art.output_key or "",
                          "artifacts", f"{field}.taskOutputArtifact")


def _check_output(
    view: PipelineSpecView, tasks: Mapping[str, TaskSpec], producer: str, key: str, kind: str, field: str
) -> None:
    if producer not in tasks:
        raise InvalidArgument(f"no task {producer!r} in this DAG", f"{field}.producerTask")
    comp = view.components[tasks[producer].component]
    declared = comp.outputs.parameters if kind == "parameters" else comp.outputs.artifacts
    if key not in declared:
        raise InvalidArgument(
            f"task {producer!r} has no output {kind[:-1]} {key!r} (it has: {', '.join(sorted(declared)) or 'none'})",
            f"{field}.output{'Parameter' if kind == 'parameters' else 'Artifact'}Key",
        )


def _check_component_cycles(view: PipelineSpecView) -> None:
    graph = {
        name: {t.component for t in comp.dag.tasks.values()} if comp.dag else set()
        for name, comp in view.components.items()
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise InvalidArgument(
            f"components use each other in a cycle: {' -> '.join(exc.args[1])}", f"{SPEC}.components"
        ) from None

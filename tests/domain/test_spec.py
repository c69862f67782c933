"""Spec loading: compiled IR accepted; every kind of bad input rejected with its field path."""

import copy
import json
from typing import Any

import pytest
import yaml
from kfp import dsl

from sluice.domain.ir import ContainerExecutor, ImporterExecutor, ParamType
from sluice.domain.spec import load_document, parse_spec
from sluice.errors import InvalidArgument
from tests.conftest import Compile


@dsl.component(base_image="python:3.11")
def double(x: int) -> int:
    return 2 * x


@dsl.pipeline(name="two-steps")
def two_steps(x: int = 3, note: str = "n") -> int:
    first = double(x=x)
    second = double(x=first.output)
    return second.output


@pytest.fixture
def spec(compile_pipeline: Compile) -> dict[str, Any]:
    return compile_pipeline(two_steps)


def rejected(document: dict[str, Any]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        parse_spec(document)
    return info.value


def test_compiled_pipeline_becomes_a_typed_view(spec: dict[str, Any]) -> None:
    view = parse_spec(spec)

    assert view.name == "two-steps"
    assert view.sdk_version == "kfp-2.17.3"
    assert view.root.inputs.parameters["x"].type is ParamType.NUMBER_INTEGER
    assert view.root.inputs.parameters["x"].default == 3
    assert isinstance(view.root.inputs.parameters["x"].default, int)
    assert view.root.dag is not None
    second = view.root.dag.tasks["double-2"]
    assert second.dependent_tasks == ("double",)
    assert second.parameters["x"].producer == "double"
    assert isinstance(view.executors["exec-double"], ContainerExecutor)
    assert view.document == spec


def test_yaml_json_and_pipeline_job_bodies_load(spec: dict[str, Any]) -> None:
    from_yaml, body = load_document("# PIPELINE DEFINITION\n" + yaml.safe_dump(spec))
    assert from_yaml == spec and body is None
    assert load_document(json.dumps(spec))[0] == spec
    job = {"pipelineSpec": spec, "runtimeConfig": {"parameterValues": {"x": 4}}}
    loaded, body = load_document(json.dumps(job))
    assert loaded == spec and body == job


@pytest.mark.parametrize("text", ["{not: [valid", "- just\n- a list\n", ""])
def test_invalid_documents(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        load_document(text)
    assert info.value.field == "pipelineSpec"


def test_unknown_field_is_named(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double"]["retryPolcy"] = {}
    error = rejected(spec)
    assert "retryPolcy" in str(error)


def test_ill_typed_field_is_named(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double"]["dependentTasks"] = "double-2"
    assert "dependentTasks" in str(rejected(spec))


def test_unsupported_schema_version(spec: dict[str, Any]) -> None:
    spec["schemaVersion"] = "3.0.0"
    error = rejected(spec)
    assert error.field == "pipelineSpec.schemaVersion"
    assert "3.0.0" in error.message


def test_dangling_component_ref(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double"]["componentRef"]["name"] = "comp-dubble"
    error = rejected(spec)
    assert error.field == "pipelineSpec.root.dag.tasks.double.componentRef.name"
    assert "comp-dubble" in error.message


def test_dangling_executor_label(spec: dict[str, Any]) -> None:
    spec["components"]["comp-double"]["executorLabel"] = "exec-nope"
    assert rejected(spec).field == "pipelineSpec.components.comp-double.executorLabel"


def test_dangling_producer_task(spec: dict[str, Any]) -> None:
    x = spec["root"]["dag"]["tasks"]["double-2"]["inputs"]["parameters"]["x"]
    x["taskOutputParameter"]["producerTask"] = "tripple"
    error = rejected(spec)
    assert error.field == "pipelineSpec.root.dag.tasks.double-2.inputs.parameters.x.taskOutputParameter.producerTask"


def test_dangling_dependent_task(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double-2"]["dependentTasks"] = ["ghost"]
    assert rejected(spec).field == "pipelineSpec.root.dag.tasks.double-2.dependentTasks[0]"


def test_unknown_output_key(spec: dict[str, Any]) -> None:
    x = spec["root"]["dag"]["tasks"]["double-2"]["inputs"]["parameters"]["x"]
    x["taskOutputParameter"]["outputParameterKey"] = "Outptu"
    error = rejected(spec)
    assert error.field is not None and error.field.endswith("taskOutputParameter.outputParameterKey")
    assert "Outptu" in error.message and "Output" in error.message


def test_unknown_dag_output_producer(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["outputs"]["parameters"]["Output"]["valueFromParameter"]["producerSubtask"] = "nobody"
    assert rejected(spec).field == "pipelineSpec.root.dag.outputs.parameters.Output.producerTask"


def test_unknown_component_input(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double"]["inputs"]["parameters"]["x"]["componentInputParameter"] = "y"
    error = rejected(spec)
    assert error.field == "pipelineSpec.root.dag.tasks.double.inputs.parameters.x.componentInputParameter"


def test_cycle_is_rejected(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["double"]["dependentTasks"] = ["double-2"]
    error = rejected(spec)
    assert error.field == "pipelineSpec.root.dag.tasks"
    assert "cycle" in error.message and "double-2" in error.message


def test_unknown_placeholder_is_rejected(spec: dict[str, Any]) -> None:
    container = spec["deploymentSpec"]["executors"]["exec-double"]["container"]
    container["args"].append("{{$.inputs.parameters['x'].bogus}}")
    error = rejected(spec)
    assert error.field == "pipelineSpec.deploymentSpec.executors.exec-double.container.args"
    assert "bogus" in error.message


def test_missing_image(spec: dict[str, Any]) -> None:
    del spec["deploymentSpec"]["executors"]["exec-double"]["container"]["image"]
    assert rejected(spec).field == "pipelineSpec.deploymentSpec.executors.exec-double.container.image"


def test_missing_pipeline_name(spec: dict[str, Any]) -> None:
    spec["pipelineInfo"] = {}
    assert rejected(spec).field == "pipelineSpec.pipelineInfo.name"


def test_component_without_implementation(spec: dict[str, Any]) -> None:
    del spec["components"]["comp-double"]["executorLabel"]
    assert rejected(spec).field == "pipelineSpec.components.comp-double"


def test_importer_executor_is_typed(compile_pipeline: Compile) -> None:
    @dsl.pipeline(name="imp")
    def imp() -> None:
        dsl.importer(artifact_uri="gs://b/data.csv", artifact_class=dsl.Dataset, metadata={"k": "v"})

    view = parse_spec(compile_pipeline(imp))
    executor = view.executors["exec-importer"]
    assert isinstance(executor, ImporterExecutor)
    assert executor.uri_constant == "gs://b/data.csv"
    assert executor.schema_title == "system.Dataset"
    assert executor.metadata == {"k": "v"}


def test_the_document_is_not_modified(spec: dict[str, Any]) -> None:
    before = copy.deepcopy(spec)
    parse_spec(spec)
    assert spec == before

"""Command placeholders, Concat, IfPresent and input-value (f-string) placeholders."""

import json

import pytest

from sluice.domain.placeholders import (
    Context,
    PlaceholderError,
    check_command_placeholders,
    resolve_command,
    resolve_value,
)
from sluice.errors import InvalidArgument

EXECUTOR_INPUT = {
    "inputs": {
        "parameterValues": {"msg": "hi; rm -rf /", "n": 3, "xs": [1, 2], "flag": True},
        "artifacts": {"data": {"artifacts": [{"name": "data", "uri": "/a/data", "metadata": {"rows": 5}}]}},
    },
    "outputs": {
        "parameters": {"out": {"outputFile": "/w/outputs/out"}},
        "artifacts": {"model": {"artifacts": [{"name": "model", "uri": "/a/model", "metadata": {}}]}},
        "outputFile": "/w/executor_output.json",
    },
}
CTX = Context(EXECUTOR_INPUT, {"pipeline_job_name": "job-1", "pipeline_task_name": "train"})  # type: ignore[arg-type]


def test_each_placeholder_resolves_to_one_argv_element() -> None:
    args = [
        "{{$.inputs.parameters['msg']}}", "{{$.inputs.parameters['n']}}", "{{$.inputs.parameters['xs']}}",
        "{{$.inputs.parameters['flag']}}", "{{$.inputs.artifacts['data'].path}}",
        "{{$.inputs.artifacts['data'].uri}}", "{{$.inputs.artifacts['data'].metadata}}",
        "{{$.inputs.artifacts['data'].metadata['rows']}}", "{{$.outputs.artifacts['model'].path}}",
        "{{$.outputs.parameters['out'].output_file}}", "{{$.outputs.output_file}}", "--job={{$.pipeline_job_name}}",
    ]
    assert resolve_command(args, CTX) == [
        "hi; rm -rf /", "3", "[1, 2]", "true", "/a/data", "/a/data", '{"rows": 5}', "5", "/a/model",
        "/w/outputs/out", "/w/executor_output.json", "--job=job-1",
    ]


def test_whole_executor_input() -> None:
    (arg,) = resolve_command(["{{$}}"], CTX)
    assert json.loads(arg) == EXECUTOR_INPUT


def test_concat_and_if_present() -> None:
    concat = json.dumps({"Concat": ["--n=", "{{$.inputs.parameters['n']}}", "/", "{{$.pipeline_task_name}}"]})
    present = json.dumps({"IfPresent": {"InputName": "msg", "Then": ["--msg", "{{$.inputs.parameters['msg']}}"]}})
    absent = json.dumps({"IfPresent": {"InputName": "opt", "Then": ["--opt", "{{$.inputs.parameters['opt']}}"]}})
    absent_else = json.dumps({"IfPresent": {"InputName": "opt", "Then": ["x"], "Else": ["--no-opt"]}})
    assert resolve_command([concat, present, absent, absent_else], CTX) == [
        "--n=3/train", "--msg", "hi; rm -rf /", "--no-opt",
    ]


def test_reference_to_an_absent_input_fails_the_task() -> None:
    with pytest.raises(PlaceholderError, match="'opt'"):
        resolve_command(["{{$.inputs.parameters['opt']}}"], CTX)


@pytest.mark.parametrize("item", ["{{$.inputs.parameters['x'].path}}", "{{$.json_escape[$.inputs]}}",
                                  "{{$.outputs.parameters['p'].uri}}", "{{$.nope}}"])
def test_unknown_forms_are_rejected_at_load(item: str) -> None:
    with pytest.raises(InvalidArgument, match="unsupported placeholder"):
        check_command_placeholders(item, "f")


def test_known_forms_pass_at_load() -> None:
    for item in ["{{$}}", "{{$.inputs.parameters[\"a\"]}}", "{{$.pipeline_root}}",
                 json.dumps({"Concat": ["a", "{{$.outputs.artifacts['m'].uri}}"]})]:
        check_command_placeholders(item, "f")


def test_input_values_resolve_f_strings_and_keep_whole_value_types() -> None:
    params = {"pipelinechannel--name": "ada", "pipelinechannel--n": 3}
    job = {"pipeline_job_name": "job-1"}
    assert resolve_value("hello {{$.inputs.parameters['pipelinechannel--name']}}!", params, job) == "hello ada!"
    assert resolve_value("{{$.inputs.parameters['pipelinechannel--n']}}", params, job) == 3
    assert resolve_value("{{$.pipeline_job_name}}-x", params, job) == "job-1-x"
    assert resolve_value([1, "{{$.pipeline_job_name}}"], params, job) == [1, "job-1"]

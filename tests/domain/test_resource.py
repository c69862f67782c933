"""The rendered PipelineJob parses strictly with the real google-cloud-aiplatform types."""

from typing import Any

from google.cloud.aiplatform_v1.types import PipelineJob, PipelineState, PipelineTaskDetail
from google.protobuf import json_format
from kfp import dsl
from kfp.dsl import Dataset, Output

from sluice.domain.resource import render_job
from tests.conftest import Compile, RunSpec, task


@dsl.component(base_image="python:3.11")
def produce(n: int, data: Output[Dataset]) -> int:
    with open(data.path, "w") as f:
        f.write("x" * n)
    return n


@dsl.component(base_image="python:3.11")
def fail(n: int) -> None:
    raise ValueError(f"bad {n}")


@dsl.pipeline(name="render-me")
def render_me(n: int = 2) -> None:
    produce(n=n)
    fail(n=n)


def strict(body: dict[str, Any]) -> Any:
    message = PipelineJob.pb(PipelineJob())
    json_format.ParseDict(body, message, ignore_unknown_fields=False)
    return PipelineJob.wrap(message)


def test_rendered_job_is_a_valid_vertex_pipeline_job(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(render_me), {"n": 3}, labels={"team": "ml"})
    body = render_job(snapshot.job, snapshot.tasks)

    job = strict(body)
    assert job.name == snapshot.job.name
    assert job.state == PipelineState.PIPELINE_STATE_FAILED
    assert job.error.code == 9 and "fail" in job.error.message
    assert job.labels["team"] == "ml"
    assert job.labels["vertex-ai-pipelines-run-billing-id"] == str(snapshot.job.numeric_id)
    assert job.runtime_config.parameter_values["n"] == 3
    assert job.pipeline_spec["pipelineInfo"]["name"] == "render-me"
    by_name = {t.task_name: t for t in job.job_detail.task_details}
    assert set(by_name) == {"render-me", "produce", "fail"}
    produced = by_name["produce"]
    assert produced.state == PipelineTaskDetail.State.SUCCEEDED
    assert produced.parent_task_id == by_name["render-me"].task_id
    assert produced.execution.metadata["input:n"] == 3
    assert produced.execution.metadata["output:Output"] == 3
    assert produced.execution.metadata["image"] == "python:3.11"
    data = produced.outputs["data"].artifacts[0]
    assert data.uri == f"{snapshot.job.output_dir}/{snapshot.job.job_id}/{produced.task_id}/data"
    assert data.schema_title == "system.Dataset"
    assert [s.state for s in produced.pipeline_task_status] == [
        PipelineTaskDetail.State.PENDING, PipelineTaskDetail.State.RUNNING, PipelineTaskDetail.State.SUCCEEDED]
    failed = by_name["fail"]
    assert failed.state == PipelineTaskDetail.State.FAILED
    assert "non-zero status of 1" in failed.error.message
    assert failed.pipeline_task_status[-1].error.message == failed.error.message
    assert task(snapshot, "fail").detail["lastLog"].endswith("attempt-1.log")


def test_list_view_leaves_out_job_detail(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(render_me))
    body = render_job(snapshot.job, None)
    assert "jobDetail" not in body
    strict(body)


def test_v1beta1_view_adds_unique_task_names(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(render_me))
    details = render_job(snapshot.job, snapshot.tasks, unique_names=True)["jobDetail"]["taskDetails"]
    assert {d["taskName"]: d["taskUniqueName"] for d in details} == {
        "render-me": "render-me", "produce": "produce", "fail": "fail"}

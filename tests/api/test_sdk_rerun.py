"""The SDK's preview rerun (`preview.pipelinejob.pipeline_jobs._PipelineJob.rerun`) works unchanged."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import aiplatform, aiplatform_v1beta1
from google.cloud.aiplatform.compat.types import pipeline_state
from google.cloud.aiplatform.preview.pipelinejob.pipeline_jobs import _PipelineJob
from kfp import compiler

from sluice.domain.caching import with_caching
from tests.api.conftest import Server, new_id, sdk_project
from tests.five_stages import five_stages

State = pipeline_state.PipelineState


@pytest.fixture(scope="module")
def project(server: Server) -> Iterator[str]:
    with sdk_project(server, "rerun") as name:
        yield name


@pytest.fixture
def template(template_files: dict[str, Path], tmp_path: Path) -> str:
    # caching off: what is reused must come from the rerun, not from the cache
    path = tmp_path / "adder.yaml"
    path.write_text(yaml.safe_dump(with_caching(yaml.safe_load(template_files["adder"].read_text()), False)))
    return str(path)


def _job(template: str, server: Server, **kwargs: Any) -> _PipelineJob:
    return _PipelineJob(display_name="sdk rerun", template_path=template,
                        pipeline_root=(server.root / "sdk-root").as_uri(), **kwargs)


def _tasks(job: _PipelineJob) -> dict[str, tuple[str, Any]]:
    fetched = aiplatform.PipelineJob.get(job.resource_name)
    return {t.task_name: (t.state.name, t.execution.metadata.get("output:Output")) for t in fetched.task_details}


def test_preview_rerun_reuses_and_overrides(project: str, server: Server, template: str) -> None:
    original = _job(template, server, job_id=new_id("orig"), parameter_values={"a": 1, "b": 2})
    original.submit()
    original.wait()
    assert original.state == State.PIPELINE_STATE_SUCCEEDED

    reused = _job(template, server, parameter_values={"a": 1, "b": 2})
    reused.rerun(original_pipelinejob_name=original.resource_name, pipeline_task_rerun_configs=[],
                 job_id=new_id("again"))
    reused.wait()
    assert _tasks(reused)["add"] == ("SKIPPED", 3)  # the SDK marks every SUCCEEDED task skipTask

    add_id = next(t.task_id for t in aiplatform.PipelineJob.get(original.resource_name).task_details
                  if t.task_name == "add")
    config = aiplatform_v1beta1.PipelineTaskRerunConfig(
        task_id=add_id, inputs=aiplatform_v1beta1.PipelineTaskRerunConfig.Inputs(parameter_values={"a": 40}))
    changed = _job(template, server, parameter_values={"a": 1, "b": 2})
    changed.rerun(original_pipelinejob_name=original.resource_name, pipeline_task_rerun_configs=[config],
                  job_id=new_id("changed"))
    changed.wait()
    assert changed.state == State.PIPELINE_STATE_SUCCEEDED
    assert _tasks(changed)["add"] == ("SUCCEEDED", 42)


def test_preview_rerun_of_a_pipeline_that_failed_at_step_three(project: str, server: Server,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "five.yaml"
    compiler.Compiler().compile(five_stages, str(path))
    path.write_text(yaml.safe_dump(with_caching(yaml.safe_load(path.read_text()), False)))
    original = _job(str(path), server, job_id=new_id("five"))
    original.submit()
    with pytest.raises(RuntimeError, match="Job failed"):
        original.wait()
    before = {t.task_name: t for t in aiplatform.PipelineJob.get(original.resource_name).task_details}
    assert before["s3"].state.name == "FAILED" and before["s4"].state.name == "NOT_TRIGGERED"

    fix = aiplatform_v1beta1.PipelineTaskRerunConfig(
        task_id=before["s3"].task_id, inputs=aiplatform_v1beta1.PipelineTaskRerunConfig.Inputs(
            parameter_values={"ok": True}))
    again = _job(str(path), server)
    again.rerun(original_pipelinejob_name=original.resource_name, pipeline_task_rerun_configs=[fix],
                job_id=new_id("five-again"))
    again.wait()
    assert again.state == State.PIPELINE_STATE_SUCCEEDED
    after = _tasks(again)
    assert after["s1"] == ("SKIPPED", 1) and after["s2"] == ("SKIPPED", 2)
    assert after["s3"] == ("SUCCEEDED", 3) and after["s4"] == ("SUCCEEDED", 4) and after["s5"] == ("SUCCEEDED", 5)

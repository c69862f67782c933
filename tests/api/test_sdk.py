"""The high-level SDK (`aiplatform.PipelineJob`) unchanged against the server, over REST."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import pipeline_state

from tests.api.conftest import Server, new_id, sdk_project

State = pipeline_state.PipelineState


@pytest.fixture(scope="module")
def project(server: Server) -> Iterator[str]:
    with sdk_project(server, "sdk") as name:
        yield name


def _job(template_files: dict[str, Path], server: Server, pipeline: str, **kwargs: Any) -> aiplatform.PipelineJob:
    # A file:// root: the SDK's gs:// bucket check fails at once instead of trying the network.
    return aiplatform.PipelineJob(display_name=f"sdk {pipeline}", template_path=str(template_files[pipeline]),
                                  pipeline_root=(server.root / "sdk-root").as_uri(), **kwargs)


def test_submit_wait_get_list_delete(project: str, server: Server, template_files: dict[str, Path]) -> None:
    job_id = new_id("sdk")
    job = _job(template_files, server, "adder", job_id=job_id, parameter_values={"a": 20, "b": 22},
               labels={"suite": "sdk"})
    job.submit()
    job.wait()
    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    assert job.resource_name == f"projects/{project}/locations/us-central1/pipelineJobs/{job_id}"
    fetched = aiplatform.PipelineJob.get(job_id)
    add = next(t for t in fetched.task_details if t.task_name == "add")
    assert add.execution.metadata["output:Output"] == 42
    listed = aiplatform.PipelineJob.list(filter='labels.suite="sdk"')
    assert [j.resource_name for j in listed] == [job.resource_name]
    simple = aiplatform.PipelineJob.list(filter=f'pipeline_job_user_id="{job_id}"', enable_simple_view=True)
    assert [j.display_name for j in simple] == ["sdk adder"]
    job.delete()
    assert aiplatform.PipelineJob.list(filter='labels.suite="sdk"') == []


def test_failed_job_raises_on_wait(project: str, server: Server, template_files: dict[str, Path]) -> None:
    job = _job(template_files, server, "failing", job_id=new_id("sdk-fail"))
    job.submit()
    with pytest.raises(RuntimeError, match="Job failed with"):
        job.wait()
    assert job.state == State.PIPELINE_STATE_FAILED


def test_cancel_of_a_long_running_job(project: str, server: Server, template_files: dict[str, Path]) -> None:
    job = _job(template_files, server, "sleeper", job_id=new_id("sdk-sleep"))
    job.submit()
    while (state := job.state) != State.PIPELINE_STATE_RUNNING:  # every .state is a GET
        assert state in (State.PIPELINE_STATE_QUEUED, State.PIPELINE_STATE_PENDING)
    job.cancel()
    job.wait()  # returns normally for CANCELLED
    assert job.state == State.PIPELINE_STATE_CANCELLED
    job.delete()

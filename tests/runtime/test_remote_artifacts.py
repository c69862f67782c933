"""Artifacts under an fsspec URL (here memory://) are staged: tasks see local paths, the store keeps the URLs."""

import fsspec
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from sluice.domain.states import PipelineState
from tests.conftest import Compile, RunSpec, task


@dsl.component(base_image="python:3.11")
def write(text: str, data: Output[Dataset]) -> str:
    with open(data.path, "w") as f:
        f.write(text)
    return data.path


@dsl.component(base_image="python:3.11")
def read(data: Input[Dataset]) -> str:
    with open(data.path) as f:
        return f.read() + "!" + ("local" if data.path.startswith("/") else data.path)


@dsl.pipeline(name="remote-artifacts")
def remote_artifacts(text: str = "hi") -> str:
    return read(data=write(text=text).outputs["data"]).output


def test_remote_output_dir_is_staged(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(remote_artifacts), {"text": "hello"},
                        runtime_config={"gcsOutputDirectory": "memory://bucket/root"})

    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    written = task(snapshot, "write")
    uri = written.outputs.artifacts["data"][0].uri
    assert uri == f"memory://bucket/root/{snapshot.job.job_id}/{written.task_id}/data"
    assert not written.outputs.parameters["Output"].startswith("memory:")  # the task wrote a local file
    with fsspec.open(uri, "r") as f:
        assert f.read() == "hello"
    assert task(snapshot, "read").outputs.parameters["Output"] == "hello!local"

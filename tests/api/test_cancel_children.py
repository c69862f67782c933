"""Cancel through the real client of a running job whose task spawned a child: both processes are gone."""

import time
from pathlib import Path
from typing import Any

import yaml
from google.cloud.aiplatform_v1.types import PipelineState, PipelineTaskDetail
from kfp import compiler, dsl

from tests.api.conftest import create
from tests.support import alive, wait_for

SCRIPT = 'sleep 60 & echo "$$ $!" > "$0.tmp" && mv "$0.tmp" "$0"; sleep 60'


@dsl.container_component
def parent_and_child(pid_file: str):  # type: ignore[no-untyped-def]
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", SCRIPT], args=[pid_file])


@dsl.pipeline(name="spawner")
def spawner(pid_file: str) -> None:
    parent_and_child(pid_file=pid_file)


def test_cancel_stops_the_task_and_its_children(client: Any, parent: str, tmp_path: Path) -> None:
    path, pid_file = tmp_path / "spawner.yaml", tmp_path / "pids"
    compiler.Compiler().compile(spawner, str(path))
    job = create(client, parent, yaml.safe_load(path.read_text()), params={"pid_file": str(pid_file)})
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.1)
    shell, child = map(int, pid_file.read_text().split())
    assert alive(shell) and alive(child)

    client.cancel_pipeline_job(name=job.name)
    ended = wait_for(client, job.name, timeout=30)
    assert ended.state == PipelineState.PIPELINE_STATE_CANCELLED
    assert ended.error.code == 1
    (task,) = [t for t in ended.job_detail.task_details if t.task_name == "parent-and-child"]
    assert task.state == PipelineTaskDetail.State.CANCELLED
    assert [s.state for s in task.pipeline_task_status][-3:] == [
        PipelineTaskDetail.State.CANCEL_PENDING, PipelineTaskDetail.State.CANCELLING,
        PipelineTaskDetail.State.CANCELLED]
    deadline = time.monotonic() + 5
    while (alive(shell) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(shell) and not alive(child), "a process of the cancelled task survived"

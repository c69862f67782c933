"""The shipped example runs end to end on the embedded default."""

from __future__ import annotations

from pathlib import Path

import yaml

from sluice.domain.states import PipelineState, TaskState
from tests.conftest import RunSpec, task

EXAMPLE = Path(__file__).parents[2] / "examples" / "hello_pipeline.yaml"


def test_example_pipeline_succeeds_with_its_outputs(run_spec: RunSpec) -> None:
    snapshot = run_spec(yaml.safe_load(EXAMPLE.read_text()), {"count": 4, "scale": 2.0})

    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    summarise = task(snapshot, "summarise")
    assert summarise.state is TaskState.SUCCEEDED
    assert summarise.outputs.parameters["Output"] == 20.0
    assert summarise.outputs.artifacts["metrics"][0].metadata == {"total": 20.0}
    numbers = task(snapshot, "make-numbers").outputs.artifacts["numbers"][0]
    assert Path(numbers.uri).read_text() == "1\n2\n3\n4"
    assert numbers.metadata == {"rows": 4}
    root = next(t for t in snapshot.tasks if t.parent_id is None)
    assert root.outputs.parameters == {"Output": 20.0}

"""A ParallelFor of 1,000 items honours parallelismLimit exactly: at most 8 iterations at once, and 8 reached."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp import dsl

from sluice.config import Settings
from sluice.domain.records import TaskKind
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import Runtime, open_runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile

ITEMS = 1000
LIMIT = 8


SCRIPT = 's=$(date +%s%N); mkdir -p "$(dirname "$0")"; sleep 0.02; echo "$s $(date +%s%N)" > "$0"'


@dsl.container_component
def stamp(i: int, started: dsl.OutputPath(str)):  # type: ignore[valid-type]
    # start and end times (ns) of the task's own process, written to its output parameter
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", SCRIPT],
                             args=[started])


@dsl.pipeline(name="wide-loop")
def wide_loop(items: list[int]) -> None:
    with dsl.ParallelFor(items, parallelism=LIMIT) as i:
        stamp(i=i)


@pytest.fixture
def wide_runtime(tmp_path: Path, envs_dir: Path) -> Iterator[tuple[Runtime, Settings]]:
    settings = Settings(root=tmp_path / "root", envs_dir=envs_dir, max_parallel=16)
    rt = open_runtime(settings)
    yield rt, settings
    rt.close()


def peak(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_parallelism_limit_is_the_real_cap(compile_pipeline: Compile, wide_runtime: tuple[Runtime, Settings]) -> None:
    rt, settings = wide_runtime
    spec = parse_spec(compile_pipeline(wide_loop))
    sub = Submission(spec=spec, runtime_config={"parameterValues": {"items": list(range(ITEMS))}})
    job = submit(rt.store, settings, sub, utc_now())
    rt.orchestrator.run_job(job.job_id)
    snapshot = rt.store.snapshot(job.job_id)

    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    iterations = [t for t in snapshot.tasks if t.kind is TaskKind.ITERATION]
    assert len(iterations) == ITEMS and all(t.state is TaskState.SUCCEEDED for t in iterations)
    windows = [(t.start_time.timestamp(), t.end_time.timestamp()) for t in iterations if t.start_time and t.end_time]
    assert peak(windows) == LIMIT  # iterations RUNNING at once, as stored
    processes = []
    for t in snapshot.tasks:
        if t.kind is TaskKind.CONTAINER:
            start, end = t.outputs.parameters["started"].split()
            processes.append((int(start) / 1e9, int(end) / 1e9))
    assert len(processes) == ITEMS
    assert 2 <= peak(processes) <= LIMIT  # the task processes themselves never exceed the limit

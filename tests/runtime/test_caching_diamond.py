"""Caching on a diamond: every task SKIPPED on a second run, exactly the affected ones re-run, max age."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kfp import dsl

from sluice.config import Settings
from sluice.domain.records import Snapshot
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import Orchestrator
from tests.conftest import Compile, RunSpec

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def step(name: str, x: int, marker: str) -> int:
    with open(marker, "a") as f:
        f.write(name + "\n")
    return x + 1


@dsl.component(base_image=IMAGE)
def join(b: int, c: int, marker: str) -> int:
    with open(marker, "a") as f:
        f.write("d\n")
    return b + c


@dsl.pipeline(name="cached-diamond")
def diamond(x: int, y: int, marker: str) -> int:
    a = step(name="a", x=x, marker=marker).set_display_name("a")
    b = step(name="b", x=a.output, marker=marker).set_display_name("b")
    c = step(name="c", x=y, marker=marker).set_display_name("c").after(a)
    return join(b=b.output, c=c.output, marker=marker).set_display_name("d").output


def launched(marker: Path, before: int) -> list[str]:
    return marker.read_text().splitlines()[before:]


def states(snapshot: Snapshot) -> dict[str, TaskState]:
    return {t.name: t.state for t in snapshot.tasks if t.parent_id is not None}


def test_second_run_skips_everything_and_a_changed_input_reruns_what_it_reaches(
        compile_pipeline: Compile, run_spec: RunSpec, tmp_path: Path) -> None:
    marker = tmp_path / "launches"
    spec = compile_pipeline(diamond)
    first = run_spec(spec, {"x": 1, "y": 10, "marker": str(marker)})
    assert first.job.state is PipelineState.SUCCEEDED and sorted(launched(marker, 0)) == ["a", "b", "c", "d"]

    second = run_spec(spec, {"x": 1, "y": 10, "marker": str(marker)})
    assert set(states(second).values()) == {TaskState.SKIPPED}
    assert launched(marker, 4) == []  # no process started
    assert {t.name: t.outputs for t in second.tasks} == {t.name: t.outputs for t in first.tasks}

    changed = run_spec(spec, {"x": 1, "y": 20, "marker": str(marker)})  # reaches c, then d
    assert sorted(launched(marker, 4)) == ["c", "d"]
    assert states(changed) == {"a": TaskState.SKIPPED, "b": TaskState.SKIPPED, "c": TaskState.SUCCEEDED,
                               "d": TaskState.SUCCEEDED}

    spec["root"]["dag"]["tasks"]["step-2"]["cachingOptions"] = {}  # b uncached (set_caching_options(False))
    one_off = run_spec(spec, {"x": 1, "y": 20, "marker": str(marker)})
    assert launched(marker, 6) == ["b"]  # b ran; its output is the same, so d is a hit
    assert states(one_off)["b"] is TaskState.SUCCEEDED and states(one_off)["d"] is TaskState.SKIPPED


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_max_age_expires_a_hit(compile_pipeline: Compile, tmp_path: Path, envs_dir: Path) -> None:
    marker = tmp_path / "launches"
    spec = parse_spec(compile_pipeline(diamond))
    settings = Settings(root=tmp_path / "root", envs_dir=envs_dir)
    runtime = open_runtime(settings)
    clock = Clock()
    orchestrator = Orchestrator(runtime.store, runtime.launcher, 4, clock=clock, cache_max_age=timedelta(days=7))
    params: dict[str, Any] = {"parameterValues": {"x": 5, "y": 5, "marker": str(marker)}}

    def run() -> list[str]:
        before = len(marker.read_text().splitlines()) if marker.exists() else 0
        job = submit(runtime.store, settings, Submission(spec=spec, runtime_config=params), clock())
        assert orchestrator.run_job(job.job_id).state is PipelineState.SUCCEEDED
        return launched(marker, before)

    assert len(run()) == 4
    clock.now += timedelta(days=6)
    assert run() == []  # six days old: reused
    clock.now += timedelta(days=2)
    assert len(run()) == 4  # eight days after the run that made the entries: expired
    orchestrator.close()
    runtime.close()

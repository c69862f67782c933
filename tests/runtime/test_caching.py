"""Caching: a second run of the same task with the same inputs is SKIPPED and reuses the first run's outputs."""

from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from sluice.config import Settings
from sluice.domain.caching import with_caching
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now
from tests.conftest import Compile, RunSpec, task

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def produce(n: int, marker: str, data: Output[Dataset], metrics: Output[Metrics]) -> int:
    with open(marker, "a") as f:
        f.write("ran\n")
    with open(data.path, "w") as f:
        f.write(str(n))
    metrics.log_metric("n", n)
    return n * 10


@dsl.component(base_image=IMAGE)
def consume(data: Input[Dataset], x: int) -> str:
    with open(data.path) as f:
        return f"{f.read()}:{x}"


@dsl.pipeline(name="cached")
def cached(n: int, marker: str) -> str:
    p = produce(n=n, marker=marker)
    return consume(data=p.outputs["data"], x=p.outputs["Output"]).output


@dsl.pipeline(name="uncached")
def uncached(n: int, marker: str) -> None:
    produce(n=n, marker=marker).set_caching_options(False)


def runs(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def test_a_second_run_reuses_the_first_runs_outputs(compile_pipeline: Compile, run_spec: RunSpec,
                                                     tmp_path: Path) -> None:
    spec, marker = compile_pipeline(cached), tmp_path / "marker"
    first = run_spec(spec, {"n": 3, "marker": str(marker)})
    second = run_spec(spec, {"n": 3, "marker": str(marker)})

    assert first.job.state is second.job.state is PipelineState.SUCCEEDED
    assert runs(marker) == 1
    original, reused = task(first, "produce"), task(second, "produce")
    assert reused.state is TaskState.SKIPPED and reused.attempt == 0
    assert reused.outputs == original.outputs  # same artifact URIs, same parameter values
    assert reused.detail["cachedFrom"] == {"jobId": first.job.job_id, "taskId": str(original.task_id)}
    assert task(second, "consume").state is TaskState.SKIPPED  # its inputs are identical too
    assert task(second, "cached").outputs.parameters["Output"] == "3:30"

    third = run_spec(spec, {"n": 4, "marker": str(marker)})  # other inputs: a miss
    assert task(third, "produce").state is TaskState.SUCCEEDED and runs(marker) == 2


def test_disabled_caching_and_missing_artifacts_run_again(compile_pipeline: Compile, run_spec: RunSpec,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    for _ in range(2):
        run_spec(compile_pipeline(uncached), {"n": 1, "marker": str(marker)})
    assert runs(marker) == 2
    spec = compile_pipeline(cached)
    first = run_spec(spec, {"n": 5, "marker": str(marker)})
    Path(task(first, "produce").outputs.artifacts["data"][0].uri).unlink()  # a hit whose artifacts are gone
    again = run_spec(spec, {"n": 5, "marker": str(marker)})
    assert task(again, "produce").state is TaskState.SUCCEEDED and runs(marker) == 4
    off = run_spec(with_caching(spec, enabled=False), {"n": 5, "marker": str(marker)})
    assert task(off, "produce").state is TaskState.SUCCEEDED and runs(marker) == 5


def test_failed_tasks_are_not_cache_sources_and_max_age_applies(compile_pipeline: Compile, tmp_path: Path,
                                                                envs_dir: Path) -> None:
    spec = parse_spec(compile_pipeline(cached))
    marker = tmp_path / "marker"
    settings = Settings(root=tmp_path / "r", envs_dir=envs_dir, cache_max_age="0s")
    rt = open_runtime(settings)
    params: dict[str, Any] = {"parameterValues": {"n": 2, "marker": str(marker)}}
    for _ in range(2):
        job = submit(rt.store, settings, Submission(spec=spec, runtime_config=params), utc_now())
        rt.orchestrator.run_job(job.job_id)
    rt.close()
    assert runs(marker) == 2  # every entry is older than 0 s
    # produce: one entry (same key twice, the newest kept); consume: one per run (its input URI differs)
    assert [e.task_name for e in rt.store.cache_entries("cached")].count("produce") == 1
    assert rt.store.cache_clear("cached") == 3
    assert rt.store.cache_entries() == []


@dsl.component(base_image=IMAGE)
def fail_once(marker: str) -> str:
    import os

    with open(marker, "a") as f:
        f.write("ran\n")
    if len(open(marker).read().splitlines()) == 1:
        os._exit(1)
    return "ok"


@dsl.pipeline(name="fails-first")
def fails_first(marker: str) -> str:
    return fail_once(marker=marker).output


def test_a_failed_execution_is_never_a_cache_source(compile_pipeline: Compile, run_spec: RunSpec,
                                                    tmp_path: Path) -> None:
    spec, marker = compile_pipeline(fails_first), tmp_path / "marker"
    assert run_spec(spec, {"marker": str(marker)}).job.state is PipelineState.FAILED
    assert run_spec(spec, {"marker": str(marker)}).job.state is PipelineState.SUCCEEDED
    third = run_spec(spec, {"marker": str(marker)})
    assert task(third, "fail-once").state is TaskState.SKIPPED and runs(marker) == 2

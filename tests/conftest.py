"""Shared fixtures: pipelines compiled by the real kfp compiler, and a real runtime on a temp root."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler

from sluice.config import Settings
from sluice.domain.records import JobRecord, Snapshot
from sluice.domain.spec import parse_spec
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import Runtime, open_runtime
from sluice.runtime.orchestrator import utc_now

Compile = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def envs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Task environments shared by the whole session (creating one takes a few seconds)."""
    shared = os.environ.get("SLUICE_TEST_ENVS_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("envs")


@pytest.fixture
def compile_pipeline(tmp_path: Path) -> Compile:
    """Compile a @dsl.pipeline function with the real kfp compiler and return the IR as a dict."""

    def _compile(pipeline: Any, **kwargs: Any) -> dict[str, Any]:
        path = tmp_path / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path), **kwargs)
        spec: dict[str, Any] = yaml.safe_load(path.read_text())
        return spec

    return _compile


@pytest.fixture
def settings(tmp_path: Path, envs_dir: Path) -> Settings:
    """Settings on a fresh root (SQLite file, logs, artifacts) with the shared task environments."""
    return Settings(root=tmp_path / "root", envs_dir=envs_dir, max_parallel=4, cancel_grace_seconds=2.0)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A real runtime: SQLite store, local executor, task environments."""
    rt = open_runtime(settings)
    yield rt
    rt.close()


def submit_spec(rt: Runtime, settings: Settings, spec: dict[str, Any], params: dict[str, Any] | None = None,
                **submission: Any) -> JobRecord:
    """Store a compiled spec as a new job with these parameter values (and other Submission fields)."""
    config = {"parameterValues": params or {}}
    config.update(submission.pop("runtime_config", {}))
    return submit(rt.store, settings, Submission(spec=parse_spec(spec), runtime_config=config, **submission),
                  utc_now())


def run_on(settings: Settings, spec: dict[str, Any], params: dict[str, Any] | None = None,
           **submission: Any) -> Snapshot:
    """Like the run_spec fixture, on a runtime of its own for `settings` (e.g. another max_parallel)."""
    rt = open_runtime(settings)
    try:
        job = submit_spec(rt, settings, spec, params, **submission)
        rt.orchestrator.run_job(job.job_id)
        return rt.store.snapshot(job.job_id)
    finally:
        rt.close()


def start_in_thread(rt: Runtime, settings: Settings, spec: dict[str, Any], params: dict[str, Any] | None = None,
                    ) -> tuple[JobRecord, threading.Thread]:
    """Submit `spec` and run it in a thread (to cancel it meanwhile); the job and the thread, started."""
    job = submit_spec(rt, settings, spec, params)
    worker = threading.Thread(target=rt.orchestrator.run_job, args=(job.job_id,))
    worker.start()
    return job, worker


RunSpec = Callable[..., Snapshot]


@pytest.fixture
def run_spec(runtime: Runtime, settings: Settings) -> RunSpec:
    """Submit a compiled spec with parameter values and run it to the end; returns the stored snapshot."""

    def _run(spec: dict[str, Any], params: dict[str, Any] | None = None, **submission: Any) -> Snapshot:
        job = submit_spec(runtime, settings, spec, params, **submission)
        runtime.orchestrator.run_job(job.job_id)
        return runtime.store.snapshot(job.job_id)

    return _run


def task(snapshot: Snapshot, name: str) -> Any:
    """The task named `name` in a snapshot."""
    found = [t for t in snapshot.tasks if t.name == name]
    assert found, f"no task {name!r}: {[t.name for t in snapshot.tasks]}"
    return found[0]

"""A real `sluice server` process (uvicorn, free port, temp SQLite file and root) driven by the real Google client.

Every test gets its own project in the resource names (`parent`), so lists and filters only see its own jobs.
"""

from __future__ import annotations

import itertools
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.credentials as gac
import pytest
import yaml
from google.cloud import aiplatform_v1, aiplatform_v1beta1
from kfp import compiler

from tests.api import pipelines
from tests.support import start_sluice_server, stop_process

_ids = itertools.count()


@dataclass
class Server:
    """A running `sluice server`."""

    url: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(root: Path, envs: Path, *args: str) -> Server:
    """Start `sluice server` on a free port and wait until it answers."""
    log = root / "server.log"
    variables = {"SLUICE_ENVS_DIR": str(envs), "SLUICE_MAX_PARALLEL": "4", "SLUICE_CANCEL_GRACE_SECONDS": "2"}
    url, process = start_sluice_server(root, f"sqlite:///{root / 'api.db'}", log, variables, 30, args=args)
    return Server(url, root, log, process)


def stop_server(server: Server, timeout: float = 20) -> int:
    """SIGTERM, then wait; the exit code (killed and -9 when it does not stop in time)."""
    return stop_process(server.process, timeout)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, envs_dir: Path) -> Iterator[Server]:
    """One server for the session, running jobs in its own process."""
    running = start_server(tmp_path_factory.mktemp("server"), envs_dir)
    yield running
    stop_server(running)


@contextmanager
def sdk_project(server: Server, prefix: str) -> Iterator[str]:
    """`aiplatform.init` on a new project against `server` (REST, anonymous), undone afterwards (it is global)."""
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer, pipeline_jobs

    name = f"{prefix}-{secrets.token_hex(3)}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_jobs, "_JOB_WAIT_TIME", 0.2)  # .wait() polls every 5 s otherwise
        saved = dict(vars(initializer.global_config))
        aiplatform.init(project=name, location="us-central1", api_endpoint=server.url, api_transport="rest",
                        credentials=gac.AnonymousCredentials())
        yield name
        vars(initializer.global_config).clear()
        vars(initializer.global_config).update(saved)


@pytest.fixture(scope="session")
def client(server: Server) -> aiplatform_v1.PipelineServiceClient:
    """The low-level v1 REST client, pointed at the server."""
    return aiplatform_v1.PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=gac.AnonymousCredentials())


@pytest.fixture(scope="session")
def beta_client(server: Server) -> aiplatform_v1beta1.PipelineServiceClient:
    """The low-level v1beta1 REST client."""
    return aiplatform_v1beta1.PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=gac.AnonymousCredentials())


@pytest.fixture(scope="session")
def template_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture pipeline compiled by the real kfp compiler, by pipeline name."""
    out = tmp_path_factory.mktemp("pipelines")
    files = {}
    for pipeline in pipelines.ALL:
        path = out / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        files[pipeline.name] = path
    return files


@pytest.fixture(scope="session")
def specs(template_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """The compiled IR of every fixture pipeline, by pipeline name."""
    return {name: yaml.safe_load(path.read_text()) for name, path in template_files.items()}


@pytest.fixture
def parent(request: pytest.FixtureRequest) -> str:
    """A parent of this test alone: `projects/{test}/locations/us-central1`."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"projects/{slug}-{secrets.token_hex(2)}/locations/us-central1"


def new_id(prefix: str = "job") -> str:
    """A job id no other test uses (ids are unique across parents)."""
    return f"{prefix}-{next(_ids)}-{secrets.token_hex(3)}"


def output_dir(server: Server) -> str:
    """A file:// pipeline root under the server's root."""
    return (server.root / "artifacts").as_uri()


def create(client: Any, parent: str, spec: dict[str, Any], job_id: str | None = None, params: Any = None,
           **fields: Any) -> Any:
    """Create a job through the low-level client (any version)."""
    module = aiplatform_v1beta1 if isinstance(client, aiplatform_v1beta1.PipelineServiceClient) else aiplatform_v1
    fields.setdefault("runtime_config", {})
    fields["runtime_config"].setdefault("gcs_output_directory", fields.pop("root", "file:///tmp/sluice-api-tests"))
    if params:
        fields["runtime_config"]["parameter_values"] = params
    job = module.PipelineJob(pipeline_spec=spec, **fields)
    return client.create_pipeline_job(parent=parent, pipeline_job=job, pipeline_job_id=job_id or new_id())

"""`sluice server` as a process: a log line per request, a clean stop on SIGTERM, API-only mode, /openapi.json."""

import re
import time
from pathlib import Path
from typing import Any

import google.auth.credentials as gac
import requests
from google.cloud import aiplatform_v1

from tests.api.conftest import Server, create, start_server, stop_server
from tests.support import wait_for

State = aiplatform_v1.PipelineState


def _client(server: Server) -> aiplatform_v1.PipelineServiceClient:
    return aiplatform_v1.PipelineServiceClient(
        transport="rest", client_options={"api_endpoint": server.url}, credentials=gac.AnonymousCredentials())


def test_sigterm_stops_cleanly_with_a_task_running_and_each_request_is_logged(
        tmp_path: Path, envs_dir: Path, specs: dict[str, Any]) -> None:
    server = start_server(tmp_path / "root", envs_dir)
    try:
        client = _client(server)
        parent = "projects/signals/locations/us-central1"
        job = create(client, parent, specs["sleeper"], params={"seconds": 3.0})
        wait_for(client, job.name, (State.PIPELINE_STATE_RUNNING,))
        for _ in range(3):
            assert requests.get(f"{server.url}/v1/{parent}/pipelineJobs/log-probe", timeout=10).status_code == 404
    finally:
        started = time.monotonic()
        code = stop_server(server)
    assert code == 0, server.log_text()
    assert time.monotonic() - started < 15
    lines = [line for line in server.log_text().splitlines() if "/pipelineJobs/log-probe" in line]
    assert len(lines) == 3
    assert all(re.search(r"sluice\.api: GET /v1/projects/signals/\S+ 404 \d+\.\dms$", line) for line in lines)
    assert "Application shutdown complete" in server.log_text()


def test_an_api_only_server_leaves_the_jobs_to_another_process(tmp_path: Path, envs_dir: Path,
                                                              specs: dict[str, Any]) -> None:
    root = tmp_path / "root"
    api_only = start_server(root, envs_dir, "--api-only")
    try:
        job = create(_client(api_only), "projects/split/locations/us-central1", specs["adder"])
        time.sleep(1.0)
        assert _client(api_only).get_pipeline_job(name=job.name).state == State.PIPELINE_STATE_QUEUED
    finally:
        assert stop_server(api_only) == 0
    runner = start_server(root, envs_dir)  # the same store: the stored job is picked up and run
    try:
        assert wait_for(_client(runner), job.name).state == State.PIPELINE_STATE_SUCCEEDED
    finally:
        assert stop_server(runner) == 0


def test_openapi_describes_the_request_and_response_shapes(server: Server) -> None:
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    jobs = "/v1/projects/{project}/locations/{location}/pipelineJobs"
    assert set(spec["paths"][jobs]) == {"get", "post"}
    for path in (f"{jobs}/{{job_id}}", f"{jobs}/{{job_id}}:cancel", f"{jobs}:batchDelete", f"{jobs}:batchCancel",
                 "/v1beta1/projects/{project}/locations/{location}/pipelineJobs",
                 "/ui/projects/{project}/locations/{location}/operations/{op_id}",
                 "/ui/projects/{project}/locations/{location}/pipelineJobs/{job_id}/operations/{op_id}:wait"):
        assert path in spec["paths"], path
    create_op = spec["paths"][jobs]["post"]
    assert [p["name"] for p in create_op["parameters"] if p["in"] == "query"] == ["pipelineJobId"]
    schemas = spec["components"]["schemas"]
    assert {"displayName", "pipelineSpec", "runtimeConfig", "serviceAccount"} <= set(schemas["PipelineJobIn"][
        "properties"])
    assert {"name", "state", "jobDetail", "createTime", "templateMetadata"} <= set(schemas["PipelineJob"]["properties"])
    assert "pipelineJobs" in schemas["ListPipelineJobsResponse"]["properties"]
    assert set(schemas["ErrorStatus"]["properties"]) >= {"code", "message", "status"}
    list_op = spec["paths"][jobs]["get"]
    assert {p["name"] for p in list_op["parameters"] if p["in"] == "query"} == {
        "filter", "pageSize", "pageToken", "orderBy", "readMask"}

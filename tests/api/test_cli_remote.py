"""The CLI with --server: the same commands, acting on a real `sluice server` instead of the local store."""

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1

from tests.api.conftest import Server, new_id
from tests.support import SLUICE, sluice_env, wait_for


def sluice(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = sluice_env(tmp_path / "cli-root", COLUMNS="200")
    return subprocess.run([str(SLUICE), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_run_list_get_cancel_delete_on_a_server(server: Server, parent: str, tmp_path: Path,
                                                template_files: dict[str, Path]) -> None:
    job_id = new_id("cli")
    ran = sluice(tmp_path, "run", str(template_files["adder"]), "-p", "a=5", "--label", "via=cli", "--job-id", job_id,
                 "--output-dir", (server.root / "cli").as_uri(), "--json", "--server", server.url, "--parent", parent)
    assert ran.returncode == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert job["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert job["labels"]["via"] == "cli"
    add = next(t for t in job["jobDetail"]["taskDetails"] if t["taskName"] == "add")
    assert add["execution"]["metadata"]["output:Output"] == 7
    assert f"SUCCEEDED {parent}/pipelineJobs/{job_id}" in ran.stderr

    listed = sluice(tmp_path, "jobs", "list", "--server", server.url, "--parent", parent, "--filter",
                    'labels.via="cli"', "--order-by", "create_time")
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout and "SUCCEEDED" in listed.stdout
    name = f"{parent}/pipelineJobs/{job_id}"
    got = sluice(tmp_path, "jobs", "get", name, "--server", server.url)
    assert got.returncode == 0 and "add" in got.stdout and "SUCCEEDED" in got.stdout
    cancelled = sluice(tmp_path, "jobs", "cancel", name, "--server", server.url)
    assert cancelled.returncode == 2 and "cannot be cancelled" in cancelled.stderr
    assert sluice(tmp_path, "jobs", "delete", name, "--server", server.url).returncode == 0
    gone = sluice(tmp_path, "jobs", "get", name, "--server", server.url)
    assert gone.returncode == 2 and "not found" in gone.stderr


def test_run_of_a_failing_pipeline_reports_the_task(server: Server, parent: str, tmp_path: Path,
                                                    template_files: dict[str, Path]) -> None:
    ran = sluice(tmp_path, "run", str(template_files["failing"]), "--server", server.url, "--parent", parent)
    assert ran.returncode == 1
    assert "task explode failed" in ran.stderr
    bad = sluice(tmp_path, "run", str(template_files["adder"]), "-p", "a=x", "--server", server.url)
    assert bad.returncode == 2 and "-p a" in bad.stderr  # checked before anything is sent
    unreachable = sluice(tmp_path, "jobs", "list", "--server", "http://127.0.0.1:9")
    assert unreachable.returncode == 2 and "cannot reach the Sluice server" in unreachable.stderr


def test_ctrl_c_cancels_the_job_on_the_server(server: Server, client: Any, parent: str, tmp_path: Path,
                                              template_files: dict[str, Path]) -> None:
    job_id = new_id("cli-sleep")
    env = sluice_env(tmp_path / "cli-root")
    command = [str(SLUICE), "run", str(template_files["sleeper"]), "--job-id", job_id, "--server", server.url,
               "--parent", parent]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        name = f"{parent}/pipelineJobs/{job_id}"
        deadline = time.monotonic() + 30
        while True:
            try:
                wait_for(client, name, (aiplatform_v1.PipelineState.PIPELINE_STATE_RUNNING,), timeout=30)
                break
            except gexc.NotFound:  # the CLI has not sent it yet
                assert time.monotonic() < deadline
                time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "cancelling" in stderr
    assert client.get_pipeline_job(name=name).state == aiplatform_v1.PipelineState.PIPELINE_STATE_CANCELLED

"""The seven PipelineService RPCs through the real low-level REST client (v1 and v1beta1)."""

import re
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1, aiplatform_v1beta1
from google.protobuf import empty_pb2, json_format

from sluice.domain.caching import with_caching
from tests.api.conftest import Server, create, new_id, output_dir
from tests.conftest import RunSpec
from tests.support import wait_for

State = aiplatform_v1.PipelineState
TaskState = aiplatform_v1.PipelineTaskDetail.State
EXTRAS = {
    "service_account": "runner@p1.iam.gserviceaccount.com",
    "network": "projects/12345/global/networks/vpc",
    "reserved_ip_ranges": ["vertex-range"],
    "encryption_spec": {"kms_key_name": "projects/p1/locations/us-central1/keyRings/r/cryptoKeys/k"},
    "psc_interface_config": {"network_attachment": "att-1",
                             "dns_peering_configs": [{"domain": "x.example.", "target_project": "p2"}]},
    "preflight_validations": True,
    "template_uri": "https://us-central1-kfp.pkg.dev/p1/repo/adder/sha256:abc123",
}


def status_of(exc: gexc.GoogleAPICallError) -> str:
    """The google.rpc status name the server sent (the REST client maps only the HTTP status)."""
    assert exc.response is not None
    status: str = exc.response.json()["error"]["status"]
    return status


def test_create_runs_the_job_and_get_reports_it(client: Any, parent: str, specs: dict[str, Any],
                                                server: Server) -> None:
    job_id = new_id("adder")
    created = create(client, parent, specs["adder"], job_id, {"a": 3, "b": 4}, display_name="Déjà vu",
                     labels={"env": "dev", "vertex-ai-pipelines-run-billing-id": "mine"}, root=output_dir(server),
                     **EXTRAS)
    assert created.name == f"{parent}/pipelineJobs/{job_id}"
    assert created.state in (State.PIPELINE_STATE_QUEUED, State.PIPELINE_STATE_PENDING)
    assert created.create_time and created.update_time
    billing = created.labels["vertex-ai-pipelines-run-billing-id"]
    assert billing.isdigit() and created.labels["env"] == "dev"  # the server's value wins over the client's
    assert created.service_account == EXTRAS["service_account"]
    assert created.network == EXTRAS["network"]
    assert list(created.reserved_ip_ranges) == ["vertex-range"]
    assert created.encryption_spec.kms_key_name.endswith("/cryptoKeys/k")
    assert created.psc_interface_config.dns_peering_configs[0].target_project == "p2"
    assert created.preflight_validations is True
    assert created.template_uri == EXTRAS["template_uri"]
    assert created.template_metadata.version == "sha256:abc123"

    job = wait_for(client, created.name)
    assert job.state == State.PIPELINE_STATE_SUCCEEDED, job.error
    assert job.start_time and job.end_time >= job.start_time
    assert job.pipeline_spec == created.pipeline_spec  # echoed unchanged
    assert job.pipeline_spec["pipelineInfo"]["name"] == "adder"
    assert job.runtime_config.parameter_values["a"] == 3
    assert job.runtime_config.gcs_output_directory == output_dir(server)
    assert job.labels["vertex-ai-pipelines-run-billing-id"] == billing
    assert job.network == EXTRAS["network"]
    tasks = {t.task_name: t for t in job.job_detail.task_details}
    assert set(tasks) == {"adder", "add"}
    assert tasks["add"].state == TaskState.SUCCEEDED
    assert tasks["add"].parent_task_id == tasks["adder"].task_id
    assert tasks["add"].execution.metadata["output:Output"] == 7
    assert job.job_detail.pipeline_run_context.display_name == job_id


def test_an_id_is_generated_when_none_is_given(client: Any, parent: str, specs: dict[str, Any]) -> None:
    job = client.create_pipeline_job(parent=parent, pipeline_job=aiplatform_v1.PipelineJob(
        pipeline_spec=specs["adder"], runtime_config={"gcs_output_directory": "file:///tmp/x"}))
    assert re.fullmatch(rf"{parent}/pipelineJobs/adder-\d{{14}}(-[0-9a-f]{{4}})?", job.name), job.name
    assert job.display_name == "adder"


def test_snake_case_accepted_and_output_only_fields_ignored(server: Server, parent: str,
                                                            specs: dict[str, Any]) -> None:
    job_id = new_id()
    body = {"display_name": "snake", "pipeline_spec": specs["adder"], "name": "projects/x/locations/y/pipelineJobs/z",
            "state": 4, "createTime": "2000-01-01T00:00:00Z", "jobDetail": {"taskDetails": []},
            "runtime_config": {"gcs_output_directory": "file:///tmp/x", "parameter_values": {"a": 2.0},
                               "failure_policy": "PIPELINE_FAILURE_POLICY_FAIL_FAST"}}
    answer = requests.post(f"{server.url}/v1/{parent}/pipelineJobs", params={"pipeline_job_id": job_id}, json=body,
                           timeout=10)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["name"] == f"{parent}/pipelineJobs/{job_id}"
    assert job["displayName"] == "snake"
    assert job["state"] == "PIPELINE_STATE_QUEUED"
    assert not job["createTime"].startswith("2000")
    assert job["runtimeConfig"]["failurePolicy"] == "PIPELINE_FAILURE_POLICY_FAIL_FAST"
    assert "jobDetail" not in job


def test_enums_are_numbers_when_the_request_asks(server: Server, client: Any, parent: str,
                                                  specs: dict[str, Any]) -> None:
    uncached = with_caching(specs["adder"], enabled=False)  # an earlier test ran it: all tasks would be SKIPPED
    job = wait_for(client, create(client, parent, uncached, runtime_config={"failure_policy": 2}).name)
    url = f"{server.url}/v1/{job.name}"
    as_ints = requests.get(url, params={"$alt": "json;enum-encoding=int"}, timeout=10).json()
    as_names = requests.get(url, timeout=10).json()
    assert as_ints["state"] == 4 and as_names["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert as_ints["runtimeConfig"]["failurePolicy"] == 2
    assert as_names["runtimeConfig"]["failurePolicy"] == "PIPELINE_FAILURE_POLICY_FAIL_FAST"
    int_tasks = as_ints["jobDetail"]["taskDetails"]
    assert {t["state"] for t in int_tasks} == {3}
    assert {t["execution"]["state"] for t in int_tasks} == {3}  # Execution.State COMPLETE
    assert {t["state"] for t in as_names["jobDetail"]["taskDetails"]} == {"SUCCEEDED"}
    assert all(isinstance(t["taskId"], str) for t in int_tasks)  # int64 as strings
    assert as_ints["createTime"].endswith("Z")
    for body in (as_ints, as_names):  # both parse strictly as the v1 message
        json_format.ParseDict(body, aiplatform_v1.PipelineJob.pb(aiplatform_v1.PipelineJob()))


def test_parameters_are_checked_against_the_ir(client: Any, parent: str, specs: dict[str, Any]) -> None:
    with pytest.raises(gexc.BadRequest, match=r"runtimeConfig\.parameterValues\.zzz") as info:
        create(client, parent, specs["adder"], params={"zzz": 1})
    assert status_of(info.value) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest, match=r"runtimeConfig\.parameterValues\.a: expected an integer"):
        create(client, parent, specs["adder"], params={"a": 1.5})
    legacy = create(client, parent, specs["adder"], runtime_config={"parameters": {"a": {"int_value": 40}}})
    job = wait_for(client, legacy.name)
    outputs = {t.task_name: t for t in job.job_detail.task_details}["add"].execution.metadata
    assert outputs["output:Output"] == 42


def _shape(detail: dict[str, Any], by_id: dict[str, str]) -> tuple[Any, ...]:
    metadata = detail.get("execution", {}).get("metadata", {})
    return (detail["taskName"], detail["state"], by_id.get(detail.get("parentTaskId", ""), ""),
            {k: v for k, v in metadata.items() if k.startswith(("input:", "output:"))},
            sorted((side, key, a["schemaTitle"]) for side in ("inputs", "outputs")
                   for key, arts in detail.get(side, {}).items() for a in arts["artifacts"]),
            [s["state"] for s in detail["pipelineTaskStatus"]])


def _shapes(job: dict[str, Any]) -> list[tuple[Any, ...]]:
    details = job["jobDetail"]["taskDetails"]
    by_id = {d["taskId"]: d["taskName"] for d in details}
    return sorted(_shape(d, by_id) for d in details)


def test_task_details_match_sluice_run(server: Server, client: Any, parent: str, specs: dict[str, Any],
                                       run_spec: RunSpec) -> None:
    from sluice.domain.resource import render_job

    job = wait_for(client, create(client, parent, specs["chain"], params={"n": 5}, root=output_dir(server)).name)
    served = requests.get(f"{server.url}/v1/{job.name}", timeout=10).json()
    local = run_spec(specs["chain"], {"n": 5})
    assert _shapes(served) == _shapes(render_job(local.job, local.tasks))
    assert ("measure", "SUCCEEDED") in [s[:2] for s in _shapes(served)]


def test_cancel_of_a_running_job_and_its_errors(client: Any, parent: str, specs: dict[str, Any]) -> None:
    job = create(client, parent, specs["sleeper"])
    wait_for(client, job.name, (State.PIPELINE_STATE_RUNNING,))
    with pytest.raises(gexc.BadRequest, match="cannot be deleted") as info:
        client.delete_pipeline_job(name=job.name)
    assert status_of(info.value) == "FAILED_PRECONDITION"
    client.cancel_pipeline_job(name=job.name)
    client.cancel_pipeline_job(name=job.name)  # again while cancelling: a no-op
    ended = wait_for(client, job.name)
    assert ended.state == State.PIPELINE_STATE_CANCELLED
    assert ended.error.code == 1  # google.rpc.Code.CANCELLED
    with pytest.raises(gexc.BadRequest, match="PIPELINE_STATE_CANCELLED and cannot be cancelled") as info:
        client.cancel_pipeline_job(name=job.name)
    assert status_of(info.value) == "FAILED_PRECONDITION"


def test_delete_is_a_long_running_operation(client: Any, parent: str, specs: dict[str, Any]) -> None:
    job = wait_for(client, create(client, parent, specs["failing"]).name)
    assert job.state == State.PIPELINE_STATE_FAILED
    assert "explode" in job.error.message
    operation = client.delete_pipeline_job(name=job.name)
    assert isinstance(operation.result(), empty_pb2.Empty)
    assert re.fullmatch(rf"{parent}/operations/\d+", operation.operation.name)
    assert operation.metadata.generic_metadata.create_time
    with pytest.raises(gexc.NotFound):
        client.get_pipeline_job(name=job.name)
    with pytest.raises(gexc.NotFound):
        client.delete_pipeline_job(name=job.name)


def test_batch_delete_is_atomic(client: Any, parent: str, specs: dict[str, Any]) -> None:
    done = [wait_for(client, create(client, parent, specs["failing"]).name).name for _ in range(2)]
    running = create(client, parent, specs["sleeper"], params={"seconds": 30.0}).name
    with pytest.raises(gexc.BadRequest, match="cannot be deleted") as info:
        client.batch_delete_pipeline_jobs(parent=parent, names=[done[0], running])
    assert status_of(info.value) == "FAILED_PRECONDITION"
    with pytest.raises(gexc.NotFound):
        client.batch_delete_pipeline_jobs(parent=parent, names=[done[0], f"{parent}/pipelineJobs/nope"])
    assert client.get_pipeline_job(name=done[0]).state == State.PIPELINE_STATE_FAILED  # nothing was deleted

    result = client.batch_delete_pipeline_jobs(parent=parent, names=done).result()
    assert sorted(j.name for j in result.pipeline_jobs) == sorted(done)
    assert all(j.state == State.PIPELINE_STATE_FAILED for j in result.pipeline_jobs)
    for name in done:
        with pytest.raises(gexc.NotFound):
            client.get_pipeline_job(name=name)
    client.cancel_pipeline_job(name=running)
    wait_for(client, running)


def test_batch_limits_and_names(client: Any, parent: str) -> None:
    too_many = [f"{parent}/pipelineJobs/j-{i}" for i in range(33)]
    for call in (client.batch_delete_pipeline_jobs, client.batch_cancel_pipeline_jobs):
        with pytest.raises(gexc.BadRequest, match="at most 32"):
            call(parent=parent, names=too_many)
        with pytest.raises(gexc.BadRequest, match=r"names\[0\]"):
            call(parent=parent, names=["projects/other/locations/l/pipelineJobs/j"])
        with pytest.raises(gexc.BadRequest, match="names"):
            call(parent=parent, names=[])


def test_batch_cancel_skips_ended_jobs(client: Any, parent: str, specs: dict[str, Any]) -> None:
    ended = wait_for(client, create(client, parent, specs["failing"]).name).name
    sleepers = [create(client, parent, specs["sleeper"]).name for _ in range(2)]
    operation = client.batch_cancel_pipeline_jobs(parent=parent, names=[*sleepers, ended])
    result = operation.result()
    assert sorted(j.name for j in result.pipeline_jobs) == sorted(sleepers)
    assert isinstance(operation.metadata, aiplatform_v1.BatchCancelPipelineJobsOperationMetadata)
    for name in sleepers:
        assert wait_for(client, name).state == State.PIPELINE_STATE_CANCELLED
    assert client.get_pipeline_job(name=ended).state == State.PIPELINE_STATE_FAILED


def _outputs(job: Any) -> dict[str, Any]:
    return {t.task_name: (t.state.name, t.execution.metadata.get("output:Output")) for t in job.job_detail.task_details
            if t.task_name != "adder"}


def test_v1beta1_adds_unique_task_names_and_serves_reruns(beta_client: Any, server: Server, parent: str,
                                                          specs: dict[str, Any]) -> None:
    spec = with_caching(specs["adder"], enabled=False)
    original = wait_for(beta_client, create(beta_client, parent, spec, params={"a": 1, "b": 2}).name)
    assert {t.task_name: t.task_unique_name for t in original.job_detail.task_details} == {
        "adder": "adder", "add": "add"}
    original_id = int(original.labels["vertex-ai-pipelines-run-billing-id"])

    reused = wait_for(beta_client, create(beta_client, parent, spec, params={"a": 1, "b": 2},
                                          original_pipeline_job_id=original_id).name)
    assert reused.original_pipeline_job_id == original_id
    assert _outputs(reused) == {"add": ("SKIPPED", 3)}  # what SUCCEEDED with the same inputs is reused
    rerun = create(beta_client, parent, spec, params={"a": 1, "b": 2}, original_pipeline_job_id=original_id,
                   pipeline_task_rerun_configs=[{"task_name": "add", "inputs": {"parameter_values": {"a": 40}}}])
    assert rerun.pipeline_task_rerun_configs[0].task_name == "add"
    assert _outputs(wait_for(beta_client, rerun.name)) == {"add": ("SUCCEEDED", 42)}
    # v1 has no rerun fields: they are refused on input and left out of the answers.
    refused = requests.post(f"{server.url}/v1/{parent}/pipelineJobs", timeout=10,
                            json={"pipelineSpec": spec, "originalPipelineJobId": str(original_id)})
    assert refused.status_code == 400 and "originalPipelineJobId" in refused.json()["error"]["message"]
    v1_body = requests.get(f"{server.url}/v1/{rerun.name}", timeout=10).json()
    assert "originalPipelineJobId" not in v1_body and "pipelineTaskRerunConfigs" not in v1_body
    json_format.ParseDict(v1_body, aiplatform_v1.PipelineJob.pb(aiplatform_v1.PipelineJob()))
    with pytest.raises(gexc.BadRequest, match=r"pipelineTaskRerunConfigs\[0\]\.taskName"):
        create(beta_client, parent, spec, original_pipeline_job_id=original_id,
               pipeline_task_rerun_configs=[{"task_name": "nope"}])

    operation = beta_client.batch_delete_pipeline_jobs(parent=parent, names=[reused.name, rerun.name])
    deleted = {j.name: j for j in operation.result().pipeline_jobs}  # parsed strictly as v1beta1 messages
    assert deleted[rerun.name].pipeline_task_rerun_configs[0].inputs.parameter_values["a"] == 40
    assert isinstance(operation.metadata, aiplatform_v1beta1.DeleteOperationMetadata)

"""Every error class as the real client raises it, and no input that produces a 500."""

from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1

from tests.api.conftest import Server, create, new_id
from tests.api.test_pipeline_jobs import status_of
from tests.support import wait_for


def test_missing_jobs_are_not_found(client: Any, parent: str, specs: dict[str, Any]) -> None:
    name = f"{parent}/pipelineJobs/{new_id('missing')}"
    for call in (client.get_pipeline_job, client.cancel_pipeline_job, client.delete_pipeline_job):
        with pytest.raises(gexc.NotFound) as info:
            call(name=name)
        assert status_of(info.value) == "NOT_FOUND"
        assert name in info.value.message
    job = create(client, parent, specs["adder"])
    other = job.name.replace(parent, "projects/elsewhere/locations/us-central1")
    with pytest.raises(gexc.NotFound):  # the same id under another project is another resource
        client.get_pipeline_job(name=other)
    wait_for(client, job.name)


def test_duplicate_id_is_already_exists(client: Any, parent: str, specs: dict[str, Any]) -> None:
    job_id = new_id()
    create(client, parent, specs["adder"], job_id)
    with pytest.raises(gexc.Conflict) as info:
        create(client, parent, specs["adder"], job_id)
    assert status_of(info.value) == "ALREADY_EXISTS"
    assert "pipelineJobId" in info.value.message


@pytest.mark.parametrize(("fields", "match"), [
    ({"pipeline_job_id": "Upper-Case"}, "pipelineJobId: 'Upper-Case' is not a valid job id"),
    ({"pipeline_job_id": "1starts-with-digit"}, "pipelineJobId"),
    ({"pipeline_job_id": "a" * 129}, "pipelineJobId"),
    ({"display_name": "x" * 129}, "displayName: at most 128 characters"),
    ({"labels": {"Env": "dev"}}, "labels.Env: invalid label key"),
    ({"labels": {"env": "Dev"}}, "labels.env: invalid label value"),
    ({"labels": {f"k{i}": "v" for i in range(65)}}, "labels: at most 64 labels"),
    ({"network": "my-vpc"}, "network: 'my-vpc' is not of the form projects/"),
    ({"service_account": "nobody"}, "serviceAccount"),
    ({"encryption_spec": {"kms_key_name": "k"}}, "encryptionSpec.kmsKeyName"),
    ({"runtime_config": {"failure_policy": 7}}, "runtimeConfig.failurePolicy"),
    ({"spec": {"pipelineInfo": {"name": "x"}, "root": {}, "schemaVersion": "9.9.9"}}, "pipelineSpec.schemaVersion"),
    ({"spec": {"pipelineInfo": {"name": "x"}, "bogus": 1}}, "pipelineSpec: .*bogus"),
])
def test_bad_input_is_invalid_argument_naming_the_field(client: Any, parent: str, specs: dict[str, Any],
                                                        fields: dict[str, Any], match: str) -> None:
    job_id = fields.pop("pipeline_job_id", new_id())
    spec = fields.pop("spec", specs["adder"])
    with pytest.raises(gexc.BadRequest, match=match) as info:
        create(client, parent, spec, job_id, **fields)
    assert status_of(info.value) == "INVALID_ARGUMENT"
    body = info.value.response.json()["error"]
    assert body["code"] == 400
    assert body["details"][0]["fieldViolations"][0]["field"] == match.split(":", maxsplit=1)[0]


@pytest.mark.parametrize(("request_", "match"), [
    ({"filter": "labels.env="}, "filter: cannot parse"),
    ({"filter": "nosuchfield=1"}, "filter: cannot filter on 'nosuchfield'"),
    ({"filter": 'state="PIPELINE_STATE_NOPE"'}, "unknown PipelineState"),
    ({"filter": 'create_time>"yesterday"'}, "RFC 3339"),
    ({"filter": " AND ".join(['labels.a="b"'] * 101)}, "filter: too complex"),
    ({"order_by": "name"}, "orderBy: cannot order by 'name'"),
    ({"order_by": "create_time sideways"}, "orderBy"),
    ({"page_token": "garbage!"}, "pageToken"),
    ({"page_size": -1}, "pageSize: must not be negative"),
    ({"read_mask": "nosuchfield"}, "readMask: unknown field path"),
])
def test_bad_list_requests_are_invalid_argument(client: Any, parent: str, request_: dict[str, Any],
                                                match: str) -> None:
    with pytest.raises(gexc.BadRequest, match=match) as info:
        list(client.list_pipeline_jobs(request={"parent": parent, **request_}))
    assert status_of(info.value) == "INVALID_ARGUMENT"


def test_unknown_routes_and_methods_are_not_found_with_a_status_body(server: Server) -> None:
    for method, path in [("GET", "/nope"), ("GET", "/v2/projects/p/locations/l/pipelineJobs"),
                         ("PUT", "/v1/projects/p/locations/l/pipelineJobs/x"),
                         ("GET", "/storage/v1/b/bucket?fields=name"), ("POST", "/storage/v1/b?project=p")]:
        answer = requests.request(method, server.url + path, timeout=10)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "pipelineJobs", "{not json"),
    ("POST", "pipelineJobs", "[1, 2]"),
    ("POST", "pipelineJobs", '"text"'),
    ("POST", "pipelineJobs", "null"),
    ("POST", "pipelineJobs", '{"pipelineSpec": "yaml?"}'),
    ("POST", "pipelineJobs", '{"pipelineSpec": {}, "labels": ["a"]}'),
    ("POST", "pipelineJobs", '{"pipelineSpec": {}, "runtimeConfig": {"parameterValues": 3}}'),
    ("POST", "pipelineJobs", '{"pipelineSpec": {}, "runtimeConfig": {"parameters": {"a": {"intValue": "x"}}}}'),
    ("POST", "pipelineJobs", '{"pipelineSpec": {"root": {"dag": {"tasks": {"t": {}}}}}}'),
    ("POST", "pipelineJobs", '{"unknownField": 1}'),
    ("POST", "pipelineJobs", '{"displayName": 12}'),
    ("POST", "pipelineJobs", '{"preflightValidations": "maybe"}'),
    ("POST", "pipelineJobs:batchDelete", '{"names": "x"}'),
    ("POST", "pipelineJobs:batchCancel", "{}"),
    ("POST", "pipelineJobs:batchCancel", '{"names": [1]}'),
    ("POST", "pipelineJobs/UPPER:cancel", "{}"),
    ("POST", "pipelineJobs/x:cancel", "[]"),
    ("GET", "pipelineJobs/..", None),
    ("GET", "pipelineJobs/%00", None),
    ("GET", "pipelineJobs?pageSize=abc", None),
    ("GET", "pipelineJobs?pageSize=99999999999999999999999", None),
    ("GET", "pipelineJobs?page_size=x", None),
    ("GET", "pipelineJobs?filter=%22", None),
    ("GET", "pipelineJobs?filter=((((", None),
    ("GET", "pipelineJobs?filter=labels.a.b.c%3D1", None),
    ("GET", "pipelineJobs?orderBy=%2C%2C", None),
    ("GET", "pipelineJobs?readMask=a..b", None),
    ("GET", "pipelineJobs?pageToken=eyJiIjoxfQ", None),
    ("GET", "operations/abc", None),
    ("GET", "operations?filter=done%3Dmaybe", None),
    ("GET", "operations?pageToken=zzz", None),
    ("POST", "operations/1:wait", '{"timeout": "forever"}'),
    ("DELETE", "operations/99", None),
])
def test_no_input_produces_a_server_error(server: Server, parent: str, method: str, path: str,
                                          body: str | None) -> None:
    answer = requests.request(method, f"{server.url}/v1/{parent}/{path}", data=body,
                              headers={"Content-Type": "application/json"}, timeout=10)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert error["code"] == answer.status_code
    assert error["status"] in ("INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION")
    assert error["message"]


def test_a_job_body_from_another_project_is_accepted_as_a_new_job(client: Any, parent: str,
                                                                 specs: dict[str, Any]) -> None:
    read_back = wait_for(client, create(client, parent, specs["adder"]).name)
    copy = aiplatform_v1.PipelineJob(read_back)  # name, state, times, jobDetail: output only, ignored
    again = client.create_pipeline_job(parent=parent, pipeline_job=copy, pipeline_job_id=new_id("copy"))
    assert again.name != read_back.name
    assert again.state == aiplatform_v1.PipelineState.PIPELINE_STATE_QUEUED

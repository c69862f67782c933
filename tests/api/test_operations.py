"""google.longrunning Operations under /ui (where the client polls), /v1 and /v1beta1, both scopes."""

from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1
from google.longrunning import operations_pb2
from google.protobuf import json_format

from tests.api.conftest import Server, create
from tests.support import wait_for


def _deleted(client: Any, parent: str, specs: dict[str, Any]) -> tuple[str, str]:
    job = wait_for(client, create(client, parent, specs["adder"]).name)
    return job.name, client.delete_pipeline_job(name=job.name).operation.name


def _strict(body: dict[str, Any]) -> operations_pb2.Operation:
    # As google/api_core/operations_v1/transports/rest.py parses it: unknown fields are errors.
    return json_format.ParseDict(body, operations_pb2.Operation(), ignore_unknown_fields=False)


def test_get_operation_on_every_prefix_and_scope(client: Any, server: Server, parent: str,
                                                 specs: dict[str, Any]) -> None:
    job_name, op_name = _deleted(client, parent, specs)
    fetched = client.get_operation({"name": op_name})
    assert fetched.done and fetched.name == op_name
    op_id = op_name.rsplit("/", 1)[1]
    job_scoped = f"{job_name}/operations/{op_id}"
    for prefix in ("ui", "v1", "v1beta1"):
        for path in (op_name, job_scoped):
            answer = requests.get(f"{server.url}/{prefix}/{path}", timeout=10)
            assert answer.status_code == 200, (prefix, path, answer.text)
            operation = _strict(answer.json())
            metadata = aiplatform_v1.DeleteOperationMetadata.pb(aiplatform_v1.DeleteOperationMetadata())
            assert operation.metadata.Unpack(metadata)
            assert operation.response.type_url == "type.googleapis.com/google.protobuf.Empty"
    wrong_job = f"{parent}/pipelineJobs/another-job/operations/{op_id}"
    assert requests.get(f"{server.url}/ui/{wrong_job}", timeout=10).status_code == 404
    with pytest.raises(gexc.NotFound):
        client.get_operation({"name": f"{parent}/operations/12345"})
    with pytest.raises(gexc.NotFound):
        client.get_operation({"name": op_name.replace("projects/", "projects/x", 1)})


def test_list_wait_cancel_delete(client: Any, server: Server, parent: str, specs: dict[str, Any]) -> None:
    names = [_deleted(client, parent, specs)[1] for _ in range(3)]
    listed = client.list_operations({"name": parent})
    assert [o.name for o in listed.operations] == names[::-1]  # newest first
    pages, token = [], ""
    while True:
        answer = requests.get(f"{server.url}/ui/{parent}/operations",
                              params={"pageSize": 1, "pageToken": token, "filter": "done=true"}, timeout=10).json()
        pages.append([o["name"] for o in answer["operations"]])
        token = answer.get("nextPageToken", "")
        if not token:
            break
    assert pages == [[n] for n in names[::-1]]
    assert requests.get(f"{server.url}/ui/{parent}/operations", params={"filter": "done=false"},
                        timeout=10).json() == {}
    job_scoped = requests.get(f"{server.url}/v1/{parent}/pipelineJobs/x/operations", timeout=10).json()
    assert job_scoped == {}

    waited = client.wait_operation({"name": names[0], "timeout": {"seconds": 5}})
    assert waited.done
    client.cancel_operation({"name": names[0]})  # done already: nothing to cancel
    client.delete_operation({"name": names[0]})
    with pytest.raises(gexc.NotFound):
        client.get_operation({"name": names[0]})
    with pytest.raises(gexc.NotFound):
        client.delete_operation({"name": names[0]})


def test_batch_operations_parse_strictly(client: Any, server: Server, parent: str,
                                         specs: dict[str, Any]) -> None:
    job = wait_for(client, create(client, parent, specs["adder"], labels={"k": "v"},
                                  network="projects/1/global/networks/n").name)
    cancel = client.batch_cancel_pipeline_jobs(parent=parent, names=[job.name])
    assert list(cancel.result().pipeline_jobs) == []  # it had ended: skipped
    delete = client.batch_delete_pipeline_jobs(parent=parent, names=[job.name])
    for operation in (cancel, delete):
        body = requests.get(f"{server.url}/ui/{operation.operation.name}", timeout=10).json()
        _strict(body)  # every key inside the Any-packed response is a real field
    deleted = delete.result().pipeline_jobs[0]
    assert deleted.network == "projects/1/global/networks/n"
    assert deleted.labels["k"] == "v"
    assert not deleted.job_detail.task_details

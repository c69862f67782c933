"""ListPipelineJobs: AIP-160 filters of every kind, orderBy, keyset paging with page_size 1, readMask."""

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc

from tests.api.conftest import Server, create, new_id
from tests.support import wait_for

TEMPLATE = "https://us-central1-kfp.pkg.dev/p1/repo/adder/sha256:feed"


@dataclass
class Jobs:
    """Four ended jobs under one parent, oldest first: one, two, other, three."""

    parent: str
    by_key: dict[str, Any]  # key → the ended PipelineJob

    def names(self, *keys: str) -> set[str]:
        return {self.by_key[k].name for k in keys}

    def time(self, key: str, field: str) -> str:
        return getattr(self.by_key[key], field).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def jobs(client: Any, specs: dict[str, Any]) -> Jobs:
    parent = f"projects/listing-{secrets.token_hex(3)}/locations/us-central1"
    plan = [
        ("one", "adder", {"display_name": "step one", "labels": {"env": "dev", "team": "ml"}}),
        ("two", "adder", {"display_name": "step two", "labels": {"env": "prod"}, "template_uri": TEMPLATE}),
        ("other", "failing", {"display_name": "other", "labels": {"env": "dev"}}),
        ("three", "adder", {"display_name": "Step three", "labels": {"env": "dev", "team": "ops"}}),
    ]
    by_key = {}
    for key, pipeline, fields in plan:  # one after the other, so that create and end times are ordered
        by_key[key] = wait_for(client, create(client, parent, specs[pipeline], new_id(key), **fields).name)
    return Jobs(parent, by_key)


def listed(client: Any, jobs: Jobs, **request: Any) -> list[str]:
    return [j.name for j in client.list_pipeline_jobs(request={"parent": jobs.parent, **request})]


FILTERS = [
    ('labels.env="dev"', {"one", "other", "three"}),
    ('labels.env = "prod"', {"two"}),
    ('labels.env!="dev"', {"two"}),
    ('labels.team!="ml"', {"two", "other", "three"}),  # also the jobs without the label
    ("labels.team:*", {"one", "three"}),
    ('labels.team:"o*"', {"three"}),
    ("NOT labels.team:*", {"two", "other"}),
    ("-labels.team:*", {"two", "other"}),
    ('display_name="other"', {"other"}),
    ('displayName!="other"', {"one", "two", "three"}),
    ('display_name:"*step*"', {"one", "two"}),  # case-sensitive, like Vertex
    ('display_name:"*t*e*"', {"one", "two", "other", "three"}),
    ('pipeline_name="failing"', {"other"}),
    ('pipelineName!="failing"', {"one", "two", "three"}),
    ('state="PIPELINE_STATE_FAILED"', {"other"}),
    ("state!=PIPELINE_STATE_FAILED", {"one", "two", "three"}),
    ('template_uri="' + TEMPLATE + '"', {"two"}),
    ('templateUri:"https://*-kfp.pkg.dev/*"', {"two"}),
    ('template_metadata.version="sha256:feed"', {"two"}),
    ('labels.env="dev" AND state="PIPELINE_STATE_SUCCEEDED"', {"one", "three"}),
    ('labels.env="dev" state="PIPELINE_STATE_SUCCEEDED"', {"one", "three"}),  # a sequence is an AND
    ('labels.env="prod" OR labels.team="ops"', {"two", "three"}),
    ('labels.team:* AND (display_name="step one" OR state="PIPELINE_STATE_FAILED")', {"one"}),
    ('NOT (labels.env="dev" OR labels.env="prod")', set()),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS)
def test_filters(client: Any, jobs: Jobs, text: str, expected: set[str]) -> None:
    assert set(listed(client, jobs, filter=text)) == jobs.names(*expected)


def test_filters_on_ids_and_times(client: Any, jobs: Jobs) -> None:
    two = jobs.by_key["two"].name.rsplit("/", 1)[1]
    assert set(listed(client, jobs, filter=f'pipeline_job_user_id="{two}"')) == jobs.names("two")
    assert set(listed(client, jobs, filter='pipelineJobUserId:"two-*"')) == jobs.names("two")
    after_two = f'create_time>"{jobs.time("two", "create_time")}"'
    assert set(listed(client, jobs, filter=after_two)) == jobs.names("other", "three")
    assert set(listed(client, jobs, filter=f'createTime>="{jobs.time("two", "create_time")}"')) == jobs.names(
        "two", "other", "three")
    assert set(listed(client, jobs, filter=f'create_time="{jobs.time("one", "create_time")}"')) == jobs.names("one")
    assert set(listed(client, jobs, filter=f'end_time<"{jobs.time("two", "end_time")}"')) == jobs.names("one")
    assert set(listed(client, jobs, filter=f'update_time<="{jobs.time("two", "update_time")}"')) == jobs.names(
        "one", "two")
    assert listed(client, jobs, filter='end_time<"2000-01-01T00:00:00Z"') == []


def test_order(client: Any, jobs: Jobs) -> None:
    oldest_first = [jobs.by_key[k].name for k in ("one", "two", "other", "three")]
    assert listed(client, jobs) == oldest_first[::-1]  # Vertex default: create_time desc
    assert listed(client, jobs, order_by="create_time") == oldest_first
    assert listed(client, jobs, order_by="createTime asc") == oldest_first
    assert listed(client, jobs, order_by="end_time desc") == oldest_first[::-1]
    assert listed(client, jobs, order_by="display_name") == [jobs.by_key[k].name for k in
                                                             ("three", "other", "one", "two")]
    assert listed(client, jobs, order_by="start_time desc, update_time") == oldest_first[::-1]


@pytest.mark.parametrize("order_by", ["", "create_time", "end_time desc", "display_name desc"])
def test_pages_of_one(client: Any, jobs: Jobs, order_by: str) -> None:
    pager = client.list_pipeline_jobs(request={"parent": jobs.parent, "page_size": 1, "order_by": order_by})
    pages = list(pager.pages)
    assert [len(p.pipeline_jobs) for p in pages] == [1, 1, 1, 1]
    assert [p.next_page_token != "" for p in pages] == [True, True, True, False]
    assert [p.pipeline_jobs[0].name for p in pages] == listed(client, jobs, order_by=order_by)


def test_page_with_a_filter_and_without_job_detail(server: Server, jobs: Jobs) -> None:
    url = f"{server.url}/v1/{jobs.parent}/pipelineJobs"
    first = requests.get(url, params={"filter": 'labels.env="dev"', "pageSize": 2}, timeout=10).json()
    assert len(first["pipelineJobs"]) == 2
    assert all("jobDetail" not in j and j["pipelineSpec"] for j in first["pipelineJobs"])
    rest = requests.get(url, params={"filter": 'labels.env="dev"', "pageSize": 2,
                                     "pageToken": first["nextPageToken"]}, timeout=10).json()
    assert len(rest["pipelineJobs"]) == 1 and "nextPageToken" not in rest
    # A token only continues the request it came from.
    other = requests.get(url, params={"filter": 'labels.env="prod"', "pageToken": first["nextPageToken"]},
                         timeout=10)
    assert other.status_code == 400 and "pageToken" in other.json()["error"]["message"]


def test_page_token_of_another_order_is_refused(client: Any, jobs: Jobs) -> None:
    page = next(iter(client.list_pipeline_jobs(request={"parent": jobs.parent, "page_size": 1}).pages))
    with pytest.raises(gexc.BadRequest, match="pageToken"):
        list(client.list_pipeline_jobs(request={"parent": jobs.parent, "page_size": 1,
                                                "page_token": page.next_page_token, "order_by": "create_time"}))


def test_read_mask(client: Any, server: Server, jobs: Jobs) -> None:
    masked = list(client.list_pipeline_jobs(request={"parent": jobs.parent,
                                                     "read_mask": "name,displayName,pipelineSpec.pipelineInfo"}))
    assert {j.display_name for j in masked} == {"step one", "step two", "other", "Step three"}
    assert all(dict(j.pipeline_spec) == {"pipelineInfo": {"name": j.pipeline_spec["pipelineInfo"]["name"]}}
               for j in masked)
    url = f"{server.url}/v1/{jobs.parent}/pipelineJobs"
    snake = requests.get(url, params={"read_mask": "display_name,labels,template_metadata.version"}, timeout=10)
    assert {tuple(sorted(j)) for j in snake.json()["pipelineJobs"]} == {
        ("displayName", "labels"), ("displayName", "labels", "templateMetadata")}
    # The SDK's simple view asks for the run context out of jobDetail; taskDetails stay out of lists.
    simple = ("name,state,displayName,pipelineSpec.pipelineInfo,createTime,startTime,endTime,updateTime,labels,"
              "templateUri,templateMetadata.version,jobDetail.pipelineRunContext,jobDetail.pipelineContext")
    for job in client.list_pipeline_jobs(request={"parent": jobs.parent, "read_mask": simple}):
        assert job.job_detail.pipeline_run_context.display_name == job.name.rsplit("/", 1)[1]
        assert not job.job_detail.task_details and not job.runtime_config.gcs_output_directory
        assert job.end_time and job.state

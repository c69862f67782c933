"""The seven PipelineService RPCs on projects.locations.pipelineJobs; mounted under /v1 and /v1beta1."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response

from sluice.api import schemas
from sluice.api.context import Services, ServicesDep, ViewDep
from sluice.api.creating import creation
from sluice.api.filters import parse_filter
from sluice.api.paging import make_token, page_size, parse_order, read_token
from sluice.api.views import (
    EMPTY,
    View,
    job_json,
    list_job_json,
    list_page_text,
    operation_json,
    parse_mask,
    type_url,
)
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.listing import JobQuery, SpecMode
from sluice.domain.operation import OperationRecord
from sluice.domain.records import JobRecord, parent_name
from sluice.domain.states import PipelineState
from sluice.domain.submission import JOB_ID
from sluice.errors import InvalidArgument, NotFound
from sluice.jobs import submit
from sluice.store.store import ApiFields, Resource, Store

router = APIRouter(prefix="/projects/{project}/locations/{location}", tags=["pipelineJobs"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 404, 409, 503)
}


def _job_id(parent: str, job_id: str, field: str = "name") -> str:
    if not JOB_ID.match(job_id):
        raise InvalidArgument(f"{parent}/pipelineJobs/{job_id!r} is not a pipeline job name", field)
    return job_id


def _load(store: Store, parent: str, job_id: str, with_tasks: bool = False) -> Resource:
    # Ids are unique across parents; a job of another project or location is not found here.
    name = f"{parent}/pipelineJobs/{_job_id(parent, job_id)}"
    try:
        found = store.resource(job_id, with_tasks)
    except NotFound:
        found = None
    if found is None or found.job.name != name:
        raise NotFound(f"pipeline job {name} not found")
    return found


def _new_operation(parent: str, metadata_type: str, response: JsonObject, services: Services,
                   job_id: str | None = None) -> OperationRecord:
    now = services.clock()
    # Done at once: the change it reports commits in the same transaction as the operation.
    return OperationRecord(secrets.randbits(62) or 1, parent, metadata_type, now, now, done=True,
                           response=response, job_id=job_id)


@router.post("/pipelineJobs", response_model=schemas.PipelineJob, responses=_ERRORS, summary="CreatePipelineJob")
def create_pipeline_job(
    project: str, location: str, body: schemas.PipelineJobIn, services: ServicesDep,
    view: ViewDep, pipeline_job_id: Annotated[str | None, Query(alias="pipelineJobId")] = None,
) -> JSONResponse:
    """Store a new job (QUEUED); it starts running at once. Without pipelineJobId an id is generated."""
    parent = parent_name(project, location)
    made = creation(body, pipeline_job_id or None, view.version)
    fields = ApiFields(made.extra, made.template_uri, made.template_version)
    job = submit(services.store, services.settings, made.submission, services.clock(), parent, fields)
    services.wake()
    return JSONResponse(job_json(job, None, fields.json(), view))


@router.get("/pipelineJobs/{job_id}", response_model=schemas.PipelineJob, responses=_ERRORS,
            summary="GetPipelineJob")
def get_pipeline_job(project: str, location: str, job_id: str, services: ServicesDep, view: ViewDep) -> JSONResponse:
    """The job with its jobDetail (every task, as Vertex reports it)."""
    found = _load(services.store, parent_name(project, location), job_id, with_tasks=True)
    return JSONResponse(job_json(found.job, found.tasks, found.extra, view))


@router.get("/pipelineJobs", response_model=schemas.ListPipelineJobsResponse, responses=_ERRORS,
            summary="ListPipelineJobs")
def list_pipeline_jobs(
    project: str, location: str, services: ServicesDep, view: ViewDep,
    filter_: Annotated[str | None, Query(alias="filter", description="AIP-160, e.g. labels.env=\"dev\"")] = None,
    size: Annotated[int | None, Query(alias="pageSize")] = None,
    token: Annotated[str | None, Query(alias="pageToken")] = None,
    order: Annotated[str | None, Query(alias="orderBy", description="default: create_time desc")] = None,
    mask: Annotated[str | None, Query(alias="readMask")] = None,
) -> Response:
    """One page of jobs, newest first by default; jobDetail is left out."""
    parent = parent_name(project, location)
    filter_text = filter_ or ""
    order_text = order or ""
    mask_text = mask
    token_text = token
    keys = parse_order(order_text)
    paths = parse_mask(mask_text, view.version) if mask_text else None
    binding = (parent, filter_text, order_text)
    if paths is None:
        spec = SpecMode.RAW  # the whole resource: the stored spec text goes out as it is
    else:
        spec = SpecMode.DECODED if any(p[0] == "pipelineSpec" for p in paths) else SpecMode.NONE
    query = JobQuery(parent, keys, parse_filter(filter_text), read_token(token_text, binding, keys) if token_text
                     else None, page_size(size), spec)
    page = services.store.list_page(query)
    next_token = make_token(binding, keys, page.jobs[-1]) if page.more else None
    if page.raw_specs is not None:
        return Response(list_page_text(page, view, next_token), media_type="application/json")
    body: JsonObject = {}
    if page.jobs:
        body["pipelineJobs"] = [list_job_json(j, page.extras[j.job_id], view, paths) for j in page.jobs]
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


@router.delete("/pipelineJobs/{job_id}", response_model=schemas.Operation, responses=_ERRORS,
               summary="DeletePipelineJob")
def delete_pipeline_job(project: str, location: str, job_id: str, services: ServicesDep,
                        view: ViewDep) -> JSONResponse:
    """Delete an ended job and its tasks (a running one is FAILED_PRECONDITION: cancel it first)."""
    parent = parent_name(project, location)
    _load(services.store, parent, job_id)
    op = _new_operation(parent, type_url(view.version, "DeleteOperationMetadata"), {"@type": EMPTY}, services,
                        job_id)
    services.store.delete_jobs([job_id], op)
    return JSONResponse(operation_json(op))


@router.post("/pipelineJobs/{job_id}:cancel", response_model=schemas.Empty, responses=_ERRORS,
             summary="CancelPipelineJob")
def cancel_pipeline_job(
    project: str, location: str, job_id: str, services: ServicesDep,
    _body: Annotated[dict[str, Any] | None, Body(description="{}")] = None,
) -> JSONResponse:
    """Ask the job to stop (asynchronous): it goes CANCELLING, then CANCELLED. An ended job: FAILED_PRECONDITION."""
    job = _load(services.store, parent_name(project, location), job_id).job
    # Vertex: cancel while cancelling is a no-op; of an ended job, FAILED_PRECONDITION (from the store).
    if job.state is not PipelineState.CANCELLING and not (job.cancel_requested and not job.state.terminal):
        services.store.request_cancel(job_id, services.clock())
    return JSONResponse({})


def _batch(parent: str, names: list[str]) -> list[str]:
    if not names:
        raise InvalidArgument("name at least one pipeline job", "names")
    if len(names) > schemas.MAX_BATCH:
        raise InvalidArgument(f"at most {schemas.MAX_BATCH} names are allowed, got {len(names)}", "names")
    ids: list[str] = []
    for index, name in enumerate(names):
        prefix, sep, job_id = name.rpartition("/pipelineJobs/")
        if not sep or prefix != parent or not JOB_ID.match(job_id):
            raise InvalidArgument(f"{name!r} is not the name of a pipeline job of {parent}", f"names[{index}]")
        if job_id not in ids:
            ids.append(job_id)
    return ids


def _listed(jobs: list[tuple[JobRecord, JsonObject]], view: View) -> list[Json]:
    stored = View(view.version)  # operations are read back later and without $alt: enums by name
    return [list_job_json(job, extra, stored, None) for job, extra in jobs]


@router.post("/pipelineJobs:batchDelete", response_model=schemas.Operation, responses=_ERRORS,
             summary="BatchDeletePipelineJobs")
def batch_delete_pipeline_jobs(project: str, location: str, body: schemas.BatchNames, services: ServicesDep,
                               view: ViewDep) -> JSONResponse:
    """Delete up to 32 ended jobs; atomic: if one cannot be deleted, none is."""
    parent = parent_name(project, location)
    ids = _batch(parent, body.names)
    found = [_load(services.store, parent, job_id) for job_id in ids]
    response: JsonObject = {"@type": type_url(view.version, "BatchDeletePipelineJobsResponse"),
                            "pipelineJobs": _listed([(r.job, r.extra) for r in found], view)}
    op = _new_operation(parent, type_url(view.version, "DeleteOperationMetadata"), response, services)
    services.store.delete_jobs(ids, op)
    return JSONResponse(operation_json(op))


@router.post("/pipelineJobs:batchCancel", response_model=schemas.Operation, responses=_ERRORS,
             summary="BatchCancelPipelineJobs")
def batch_cancel_pipeline_jobs(project: str, location: str, body: schemas.BatchNames, services: ServicesDep,
                               view: ViewDep) -> JSONResponse:
    """Cancel up to 32 jobs, skipping those that have ended; the response lists the jobs cancelled."""
    parent = parent_name(project, location)
    ids = _batch(parent, body.names)
    extras = {job_id: _load(services.store, parent, job_id).extra for job_id in ids}
    cancelled = services.store.cancel_jobs(ids, services.clock())
    response: JsonObject = {"@type": type_url(view.version, "BatchCancelPipelineJobsResponse")}
    if cancelled:
        response["pipelineJobs"] = _listed([(job, extras[job.job_id]) for job in cancelled], view)
    op = _new_operation(parent, type_url(view.version, "BatchCancelPipelineJobsOperationMetadata"), response,
                        services)
    services.store.operations.add(op)
    return JSONResponse(operation_json(op))

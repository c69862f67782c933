"""google.longrunning.Operations, location-scoped and pipelineJobs-scoped; mounted under /ui, /v1 and /v1beta1.

The generated clients poll under /ui/ (their http options list those templates first). Every operation
Sluice starts is done when it is handed out, so wait returns at once and cancel has nothing to stop.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from sluice.api import schemas
from sluice.api.context import Services, ServicesDep
from sluice.api.paging import decode_token, encode_token, page_size
from sluice.api.views import operation_json
from sluice.domain.jsontypes import JsonObject
from sluice.domain.operation import OperationRecord
from sluice.domain.records import parent_name
from sluice.errors import InvalidArgument, NotFound

router = APIRouter(prefix="/projects/{project}/locations/{location}", tags=["operations"])
_JOB = "/pipelineJobs/{job_id}"
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": schemas.ErrorResponse} for code in (400, 404)}
_DONE = re.compile(r"^\s*done\s*[=:]\s*(true|false)\s*$")
_DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")


def _find(services: Services, project: str, location: str, op_id: str, job_id: str | None) -> OperationRecord:
    parent = parent_name(project, location)
    name = f"{parent}/operations/{op_id}"
    try:
        op = services.store.operations.get(int(op_id)) if op_id.isdigit() else None
    except NotFound:
        op = None
    if op is None or op.parent != parent or (job_id is not None and op.job_id != job_id):
        raise NotFound(f"operation {name} not found")
    return op


def _done_filter(text: str | None) -> bool | None:
    if not text or not text.strip():
        return None
    found = _DONE.match(text)
    if found is None:
        raise InvalidArgument(f"operations can be filtered by done=true or done=false, not {text!r}", "filter")
    return found.group(1) == "true"


def _token(op: OperationRecord, binding: str) -> str:
    return encode_token({"b": binding, "c": op.create_time.isoformat(), "i": op.op_id})


def _cursor(token: str, binding: str) -> tuple[datetime, int]:
    try:
        payload = decode_token(token)
        if payload["b"] == binding and isinstance(payload["i"], int):
            return datetime.fromisoformat(payload["c"]), payload["i"]
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidArgument("not a page token of this request", "pageToken")


def _list(services: Services, project: str, location: str, job_id: str | None,
          filter_: str | None, size: int | None, token: str | None) -> JSONResponse:
    parent = parent_name(project, location)
    done = _done_filter(filter_)
    binding = f"{parent}|{job_id}|{done}"
    after = _cursor(token, binding) if token else None
    ops, more = services.store.operations.page(parent, job_id, done, after, page_size(size))
    body: JsonObject = {}
    if ops:
        body["operations"] = [operation_json(op) for op in ops]
    if more:
        body["nextPageToken"] = _token(ops[-1], binding)
    return JSONResponse(body)


def _wait(services: Services, project: str, location: str, op_id: str, job_id: str | None,
          body: schemas.WaitOperationRequest | None) -> JSONResponse:
    if body is not None and body.timeout is not None and not _DURATION.match(body.timeout):
        raise InvalidArgument(f'expected a duration such as "5s", got {body.timeout!r}', "timeout")
    return JSONResponse(operation_json(_find(services, project, location, op_id, job_id)))


def _cancel(services: Services, project: str, location: str, op_id: str, job_id: str | None) -> JSONResponse:
    _find(services, project, location, op_id, job_id)  # done already: nothing to cancel
    return JSONResponse({})


def _delete(services: Services, project: str, location: str, op_id: str, job_id: str | None) -> JSONResponse:
    services.store.operations.delete(_find(services, project, location, op_id, job_id).op_id)
    return JSONResponse({})


FilterQ = Annotated[str | None, Query(alias="filter", description="done=true or done=false")]
SizeQ = Annotated[int | None, Query(alias="pageSize")]
TokenQ = Annotated[str | None, Query(alias="pageToken")]
WaitBody = Annotated[schemas.WaitOperationRequest | None, Body()]
CancelBody = Annotated[dict[str, Any] | None, Body(description="{}")]


@router.get("/operations/{op_id}", response_model=schemas.Operation, responses=_ERRORS, summary="GetOperation")
def get_operation(project: str, location: str, op_id: str, services: ServicesDep) -> JSONResponse:
    """The operation (done, with its response or error)."""
    return JSONResponse(operation_json(_find(services, project, location, op_id, None)))


@router.get(_JOB + "/operations/{op_id}", response_model=schemas.Operation, responses=_ERRORS,
            summary="GetOperation (pipelineJobs-scoped)")
def get_job_operation(project: str, location: str, job_id: str, op_id: str, services: ServicesDep) -> JSONResponse:
    """An operation about one pipeline job (its delete)."""
    return JSONResponse(operation_json(_find(services, project, location, op_id, job_id)))


@router.get("/operations", response_model=schemas.ListOperationsResponse, responses=_ERRORS,
            summary="ListOperations")
def list_operations(project: str, location: str, services: ServicesDep, filter_: FilterQ = None,
                    size: SizeQ = None, token: TokenQ = None) -> JSONResponse:
    """Operations of the location, newest first."""
    return _list(services, project, location, None, filter_, size, token)


@router.get(_JOB + "/operations", response_model=schemas.ListOperationsResponse, responses=_ERRORS,
            summary="ListOperations (pipelineJobs-scoped)")
def list_job_operations(project: str, location: str, job_id: str, services: ServicesDep,
                        filter_: FilterQ = None, size: SizeQ = None, token: TokenQ = None) -> JSONResponse:
    """Operations about one pipeline job, newest first."""
    return _list(services, project, location, job_id, filter_, size, token)


@router.post("/operations/{op_id}:wait", response_model=schemas.Operation, responses=_ERRORS,
             summary="WaitOperation")
def wait_operation(project: str, location: str, op_id: str, services: ServicesDep,
                   body: WaitBody = None) -> JSONResponse:
    """The operation once done (at once: Sluice's operations are done when they are handed out)."""
    return _wait(services, project, location, op_id, None, body)


@router.post(_JOB + "/operations/{op_id}:wait", response_model=schemas.Operation, responses=_ERRORS,
             summary="WaitOperation (pipelineJobs-scoped)")
def wait_job_operation(project: str, location: str, job_id: str, op_id: str, services: ServicesDep,
                       body: WaitBody = None) -> JSONResponse:
    """As WaitOperation, for an operation about one pipeline job."""
    return _wait(services, project, location, op_id, job_id, body)


@router.post("/operations/{op_id}:cancel", response_model=schemas.Empty, responses=_ERRORS,
             summary="CancelOperation")
def cancel_operation(project: str, location: str, op_id: str, services: ServicesDep,
                     _body: CancelBody = None) -> JSONResponse:
    """Nothing to stop: the operation is done."""
    return _cancel(services, project, location, op_id, None)


@router.post(_JOB + "/operations/{op_id}:cancel", response_model=schemas.Empty, responses=_ERRORS,
             summary="CancelOperation (pipelineJobs-scoped)")
def cancel_job_operation(project: str, location: str, job_id: str, op_id: str, services: ServicesDep,
                         _body: CancelBody = None) -> JSONResponse:
    """Nothing to stop: the operation is done."""
    return _cancel(services, project, location, op_id, job_id)


@router.delete("/operations/{op_id}", response_model=schemas.Empty, responses=_ERRORS, summary="DeleteOperation")
def delete_operation(project: str, location: str, op_id: str, services: ServicesDep) -> JSONResponse:
    """Forget the operation (what it did stays done)."""
    return _delete(services, project, location, op_id, None)


@router.delete(_JOB + "/operations/{op_id}", response_model=schemas.Empty, responses=_ERRORS,
               summary="DeleteOperation (pipelineJobs-scoped)")
def delete_job_operation(project: str, location: str, job_id: str, op_id: str,
                         services: ServicesDep) -> JSONResponse:
    """Forget the operation (what it did stays done)."""
    return _delete(services, project, location, op_id, job_id)

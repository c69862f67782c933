"""Every error leaves the API as a google.rpc.Status in Google's HTTP form, with the HTTP status the client maps.

The REST client picks its exception class from the HTTP status alone (`from_http_status`), so the table
below is the contract; `error.status` is always set for callers that need the gRPC name.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from sluice.errors import Code, SluiceError

log = logging.getLogger(__name__)

# google.rpc.Code → HTTP status, as google.api_core and Google's front ends map them; the name is the Code's.
STATUS: dict[Code, int] = {
    Code.OK: 200, Code.CANCELLED: 499, Code.UNKNOWN: 500, Code.INVALID_ARGUMENT: 400, Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.PERMISSION_DENIED: 403, Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,  # never 412: the client would raise PreconditionFailed
    Code.ABORTED: 409, Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501, Code.INTERNAL: 500, Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500, Code.UNAUTHENTICATED: 401,
}


def status_response(code: Code, message: str, field: str | None = None, description: str = "") -> JSONResponse:
    """The google.rpc.Status JSON for `code`; a BadRequest detail names the field at fault and what is wrong."""
    http = STATUS[code]
    error: dict[str, Any] = {"code": http, "message": message, "status": code.name}
    if field:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                             "fieldViolations": [{"field": field, "description": description or message}]}]
    return JSONResponse({"error": error}, status_code=http)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def _validation_message(errors: list[Any]) -> tuple[str, str | None, str]:
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    field = "" if kind == "json_invalid" else _location(tuple(first.get("loc", ())))
    if kind == "extra_forbidden":
        text = f"unknown field {field.rsplit('.', 1)[-1]!r}"
    elif kind == "json_invalid":
        text = "the request body is not valid JSON"
    elif not field and kind in ("model_attributes_type", "dict_type", "model_type"):
        text = "the request body must be a JSON object (sent as Content-Type: application/json)"
    else:
        text = str(first.get("msg", "invalid value"))
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return (f"{field}: {text}" if field else text), field or None, text


async def _sluice_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SluiceError)
    return status_response(exc.code, str(exc), exc.field, exc.message)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    message, field, description = _validation_message(list(exc.errors()))
    return status_response(Code.INVALID_ARGUMENT, message, field, description)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        # Google's front end: a path or method it does not serve is NOT_FOUND.
        return status_response(Code.NOT_FOUND, f"no such method: {request.method} {request.url.path}")
    return status_response(Code.INVALID_ARGUMENT if exc.status_code < 500 else Code.INTERNAL, str(exc.detail))


async def _database(request: Request, exc: Exception) -> JSONResponse:
    # Locked, unreachable or restarting: a retry may well succeed.
    assert isinstance(exc, sa.exc.OperationalError)
    log.warning("database error during %s %s: %s", request.method, request.url.path, exc.orig)
    return status_response(Code.UNAVAILABLE, f"the store could not answer ({str(exc.orig).splitlines()[0]}); retry")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this answer, so the server logs the traceback; a bug, never bad input.
    log.error("internal error in %s %s: %r", request.method, request.url.path, exc)
    return status_response(Code.INTERNAL, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise to a Status body."""
    app.add_exception_handler(SluiceError, _sluice_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(sa.exc.OperationalError, _database)
    app.add_exception_handler(Exception, _unexpected)

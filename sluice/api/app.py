"""The FastAPI app: the Vertex PipelineService and Operations routes, with the job runner in its lifespan."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sluice.api import operations, pipeline_jobs
from sluice.api.context import Services
from sluice.api.errors import install_error_handlers
from sluice.api.schemas import camel
from sluice.api.views import Version
from sluice.config import Settings
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now
from sluice.runtime.runner import JobRunner
from sluice.store.store import Store

log = logging.getLogger("sluice.api")


class RequestLog:
    """One log line per request: method, path and query, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{query}" if query else "")
            log.info("%s %s %d %.1fms", scope["method"], target, status, (time.perf_counter() - started) * 1000)


class CamelCaseQuery:
    """Query parameters by their snake_case names too (`page_size`, as REST clients may send them): renamed to
    the camelCase names the routes declare; where a request has both, the camelCase one wins."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"_" in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            given = {key for key, _ in pairs}
            renamed = [(camel(key), value) for key, value in pairs if key == camel(key) or camel(key) not in given]
            scope = {**scope, "query_string": urlencode(renamed).encode("latin-1")}
        await self.app(scope, receive, send)


@contextmanager
def _services(settings: Settings, run_jobs: bool) -> Iterator[Services]:
    if not run_jobs:
        store = Store(settings.db_url)
        try:
            yield Services(store, settings, utc_now)
        finally:
            store.close()
        return
    runtime = open_runtime(settings)
    runner = JobRunner(runtime.store, runtime.orchestrator)
    runner.start()
    try:
        yield Services(runtime.store, settings, utc_now, runner)
    finally:
        # Running tasks are left to the store's recovery rules; their state is in the store.
        runner.stop()
        runtime.close()


def create_app(settings: Settings, run_jobs: bool = True) -> FastAPI:
    """The app for `settings`; with `run_jobs` this process also runs every unfinished job of the store."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with _services(settings, run_jobs) as services:
            app.state.services = services
            # What is loaded by now lives as long as the process: out of the collector's full passes, which
            # would otherwise walk it during large responses (the p99 of a list page).
            gc.freeze()
            yield

    app = FastAPI(
        title="Sluice",
        summary="A self-hosted Vertex AI Pipelines: google.cloud.aiplatform.v1 PipelineService and Operations.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for version in Version:
        app.include_router(pipeline_jobs.router, prefix=f"/{version.value}")
    for prefix in ("/ui", *(f"/{v.value}" for v in Version)):
        app.include_router(operations.router, prefix=prefix)
    app.add_middleware(CamelCaseQuery)
    app.add_middleware(RequestLog)
    return app

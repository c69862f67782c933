"""`sluice server`: the app on uvicorn, one log line per request, a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging

import uvicorn

from sluice.api.app import create_app
from sluice.config import Settings


def serve(settings: Settings, run_jobs: bool = True) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then finishes the requests in flight and runs the lifespan's stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, run_jobs)
    # access_log off: RequestLog writes the one line per request (with its duration).
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10)

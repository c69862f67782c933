"""`sluice server`: the app on uvicorn, one log line per request, a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from sluice.api.app import create_app
from sluice.config import Settings


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    """Runs when uvicorn re-raises the stop signal after its graceful shutdown: the stop is already done."""


def serve(settings: Settings, run_jobs: bool = True) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then finishes the requests in flight and runs the lifespan's stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, run_jobs)
    # uvicorn re-raises the signal it stopped for into the handlers that were there before it started; with
    # these the process then exits 0 (a stop that was asked for) instead of dying of the signal.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    # access_log off: RequestLog writes the one line per request (with its duration).
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10)

"""What a route gets: the store, the settings, the clock and the job runner of this server process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from sluice.api.views import Version, View
from sluice.config import Settings
from sluice.runtime.runner import JobRunner
from sluice.store.store import Store


@dataclass
class Services:
    """Built once by the app's lifespan."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]
    runner: JobRunner | None = None  # None: an API-only server (another process runs the jobs)

    def wake(self) -> None:
        """Tell the runner there is a new job."""
        if self.runner is not None:
            self.runner.wake()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _view(request: Request) -> View:
    # Every generated client sends `$alt=json;enum-encoding=int`; real Vertex then answers enums as numbers.
    version = Version(request.url.path.split("/", 2)[1])
    return View(version, "enum-encoding=int" in request.query_params.get("$alt", ""))


ServicesDep = Annotated[Services, Depends(_services)]
ViewDep = Annotated[View, Depends(_view)]

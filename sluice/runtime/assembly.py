"""Building the running parts from Settings: store, environments, executor, launcher, orchestrator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sluice.config import Settings
from sluice.runtime.environments import Environments
from sluice.runtime.executors.local import LocalExecutor
from sluice.runtime.launcher import Launcher
from sluice.runtime.orchestrator import Orchestrator
from sluice.runtime.warm import WarmExecutors
from sluice.store.store import Store


@dataclass
class Runtime:
    """The parts one Sluice process runs jobs with."""

    store: Store
    launcher: Launcher
    orchestrator: Orchestrator

    def close(self) -> None:
        """Release threads and connections."""
        self.orchestrator.close()
        if self.launcher.warm is not None:
            self.launcher.warm.close()
        self.store.close()


def open_runtime(settings: Settings) -> Runtime:
    """The runtime for `settings` (the store's schema is upgraded on open)."""
    settings.root.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url)
    envs = Environments(settings.envs_dir or settings.root / "envs")
    warm = WarmExecutors() if settings.warm_executor else None
    launcher = Launcher(settings.root, LocalExecutor(), envs, settings.cancel_grace_seconds, warm)
    orchestrator = Orchestrator(store, launcher, settings.max_parallel,
                                cache_max_age=settings.cache_max_age,
                                lease=timedelta(seconds=settings.lease_seconds))
    return Runtime(store, launcher, orchestrator)

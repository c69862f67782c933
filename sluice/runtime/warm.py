"""Warm executors: one `warm_server.py` per task environment, started on first use, stopped on close.

A task that runs in an environment with a ready server gets `SLUICE_WARM_SOCKET` in its environment;
the environment's `python3` front then hands `python3 -m kfp.dsl.executor_main ...` to the server,
which forks an interpreter that has already imported it (see warm_server.py for what is carried over and
when a request runs cold instead). A server that cannot start is logged and its tasks run cold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import selectors
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from sluice.runtime.environments import TaskEnvironment

SERVER = Path(__file__).with_name("warm_server.py")
_START_TIMEOUT_SECONDS = 30.0
log = logging.getLogger(__name__)


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    address: str


class WarmExecutors:
    """The warm executors of one Sluice process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[Path, _Server | None] = {}  # None: it failed to start; its tasks run cold
        self._closed = False

    def socket_for(self, env: TaskEnvironment, variables: dict[str, str]) -> str | None:
        """The address of `env`'s warm executor, started now if needed (with the tasks' `variables`)."""
        with self._lock:
            if self._closed:
                return None
            server = self._servers.get(env.path)
            if server is not None and server.process.poll() is None:
                return server.address
            if env.path in self._servers and server is None:
                return None
            self._servers[env.path] = server = self._start(env, variables)
            return server.address if server is not None else None

    def close(self) -> None:
        """Stop every server: closing its stdin ends it once the tasks it forked have ended.

        Those tasks keep running meanwhile, in their own process groups, as cold ones would (a server
        that stops Sluice also leaves them to end, or to be stopped by recovery).
        """
        with self._lock:
            self._closed = True
            servers = [s for s in self._servers.values() if s is not None]
            self._servers.clear()
        for server in servers:
            if server.process.stdin is not None:
                server.process.stdin.close()
        for server in servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=2)
            if server.process.stdout is not None:
                server.process.stdout.close()

    @staticmethod
    def _start(env: TaskEnvironment, variables: dict[str, str]) -> _Server | None:
        address = f"@sluice-warm-{os.getpid()}-{secrets.token_hex(8)}"
        server_env = {**variables, "_KFP_RUNTIME": "true"}  # what kfp's own launcher sets for the executor
        with open(env.path / "warm-server.log", "ab") as errors:
            process = subprocess.Popen(
                [str(env.interpreter), str(SERVER), address], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=errors, env=server_env, cwd=env.path,
                process_group=0,  # not in Sluice's group: a Ctrl-C for Sluice must not end running tasks
            )
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = bool(selector.select(_START_TIMEOUT_SECONDS)) and process.stdout.readline() == b"ready\n"
        if ready:
            return _Server(process, address)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
        log.warning("the warm executor of %s did not start (see %s); its tasks run cold",
                    env.path, env.path / "warm-server.log")
        return None

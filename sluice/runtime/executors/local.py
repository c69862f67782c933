"""Local subprocesses, each in its own process group so that a task's children end with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from sluice.runtime.executors.base import Handle, ProcessSpec


@dataclass
class LocalHandle:
    """A local process and its process group."""

    process: subprocess.Popen[bytes]

    @property
    def ident(self) -> str:
        """`local-process/<host>/<pid>`: the pid means something only on its host."""
        return f"local-process/{socket.gethostname()}/{self.process.pid}"


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class LocalExecutor:
    """Runs each task attempt as a subprocess of this server."""

    def start(self, spec: ProcessSpec) -> LocalHandle:
        """Start `spec.argv` in its own process group, output to the log file.

        The group stays in this session (no setsid) so that the warm executor's children can join it.
        """
        with open(spec.log_path, "ab", buffering=0) as log:
            process = subprocess.Popen(
                list(spec.argv), env=dict(spec.env), cwd=spec.cwd, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, process_group=0,
            )
        return LocalHandle(process)

    def wait(self, handle: Handle) -> int:
        """Wait for the process, then remove whatever it left running in its group."""
        assert isinstance(handle, LocalHandle)
        code = handle.process.wait()
        _kill_group(handle.process.pid, signal.SIGKILL)
        return code

    def terminate(self, handle: Handle, grace_seconds: float) -> None:
        """SIGTERM the group; SIGKILL it if the process outlives the grace period."""
        assert isinstance(handle, LocalHandle)
        deadline = time.monotonic() + grace_seconds
        _kill_group(handle.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.process.wait(timeout=grace_seconds)
        # The shell that leads the group usually ends at once; the component itself gets the rest of
        # the grace period to end the way it handles SIGTERM.
        while time.monotonic() < deadline and _group_alive(handle.process.pid):
            time.sleep(0.02)
        _kill_group(handle.process.pid, signal.SIGKILL)

    def kill(self, ident: str) -> bool:
        """SIGKILL the process group of `local-process/<host>/<pid>` (a process of an earlier server).

        False when the process lives on another host: this executor cannot reach it.
        """
        kind, _, rest = ident.partition("/")
        host, _, pid = rest.rpartition("/")
        if kind != "local-process" or not pid.isdigit():
            return True  # not one of ours: nothing to stop
        if host != socket.gethostname():
            return False
        _kill_group(int(pid), signal.SIGKILL)
        return True

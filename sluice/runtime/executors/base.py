"""The Executor seam: start a process, wait for it, terminate it. Local now, Ray later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ProcessSpec:
    """One task attempt's process: argv elements (never a shell of ours), environment, directory, log file.

    The directory and the log file's directory exist already (the launcher makes them).
    """

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    log_path: Path


class Handle(Protocol):
    """A started process, as its executor knows it."""

    @property
    def ident(self) -> str:
        """A printable id of the process (recorded in the task's executor detail)."""
        ...


class Executor(Protocol):
    """Runs task processes."""

    def start(self, spec: ProcessSpec) -> Handle:
        """Start the process; its stdout and stderr go to `spec.log_path` while it runs."""
        ...

    def wait(self, handle: Handle) -> int:
        """Block until the process ends; its exit code (negative: killed by that signal)."""
        ...

    def terminate(self, handle: Handle, grace_seconds: float) -> None:
        """SIGTERM to the whole process group, SIGKILL after `grace_seconds`."""
        ...

    def kill(self, ident: str) -> bool:
        """SIGKILL what is left of a process started earlier (by `Handle.ident`); False if out of reach."""
        ...

"""The result of one task attempt, as the launcher reports it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sluice.domain.records import Values


@dataclass(frozen=True)
class Outcome:
    """One attempt's end: `error` is None on success; a failing task is data, not an exception."""

    outputs: Values = field(default_factory=Values)
    error: str | None = None
    exit_code: int | None = None
    log_path: str = ""
    cancelled: bool = False
    process: str = ""  # the executor's id of the attempt's process

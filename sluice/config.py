"""Settings: one object built at the entry point and passed down (env prefix SLUICE_)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, `2w` (or plain seconds) as a timedelta; ValueError for anything else."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m, 90s)") from None
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {text!r}")
    return timedelta(seconds=seconds)


def _default_root() -> Path:
    return Path.home() / ".sluice"


class Settings(BaseSettings):
    """Where Sluice keeps its state and how it runs tasks."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    root: Path = Field(default_factory=_default_root)
    """Artifacts (default output dir), logs, task working dirs, task environments and the SQLite file."""
    envs_dir: Path | None = None
    """Task environments (virtualenvs, reused across runs); default `{root}/envs`."""
    db_url: str = ""
    """SQLAlchemy URL; empty means the SQLite file `{root}/sluice.db`."""
    executor: str = "local"
    max_parallel: int = Field(default_factory=lambda: os.cpu_count() or 1)
    project: str = "local"
    location: str = "local"
    host: str = "127.0.0.1"
    port: int = 8080
    ray_address: str = ""
    warm_executor: bool = True
    """Run lightweight components by forking an interpreter with kfp's executor imported (warm.py)."""
    cancel_grace_seconds: float = 10.0
    lease_seconds: float = 30.0
    """How long a job stays with an orchestrator that stopped renewing its lease (a dead replica)."""
    cache_max_age: timedelta | None = None
    """Cached executions older than this are not reused (`7d`, `12h`, `30m`, `90s`); None or empty: any age."""

    @field_validator("root", "envs_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("db_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value

    @field_validator("max_parallel")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("max_parallel must be at least 1")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value != "local":
            raise ValueError(f"unknown executor {value!r}; this version runs tasks with 'local'")
        return value

    @field_validator("cache_max_age", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value) if value.strip() else None
        return value

    @model_validator(mode="after")
    def _sqlite_default(self) -> Settings:
        if not self.db_url:
            self.db_url = f"sqlite:///{self.root / 'sluice.db'}"
        if self.envs_dir is None:
            self.envs_dir = self.root / "envs"
        return self

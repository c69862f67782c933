"""The store suite runs on SQLite and on the local PostgreSQL (each test gets a fresh database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sluice.store.store import Store
from tests.support import fresh_postgres_database

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)  # microseconds: they must survive a round trip


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend. PostgreSQL must be up: a skipped run would hide bugs."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with fresh_postgres_database("sluice") as name:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A Store on a fresh database of each backend (migrated on open)."""
    s = Store(db_url)
    yield s
    s.close()

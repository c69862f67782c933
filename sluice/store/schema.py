"""The schema's revision: Alembic migrations, the same on SQLite and PostgreSQL, run when a store opens.

Opening a store whose schema is current reads one row (`alembic_version`) and does not import Alembic,
which alone takes ~0.2 s of every CLI command's start.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0007"  # the newest migration's revision (tests/store checks it against Alembic's head)


class SchemaTooNew(Exception):
    """The database was migrated by a newer Sluice than this one; running on it could corrupt it."""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("select version_num from alembic_version")).scalar()


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it.

    Refuses (SchemaTooNew) a database at a revision this code does not know.
    """
    if current_revision(engine) == HEAD:
        return HEAD
    # Alembic loads only when there is something to do (see the module's docstring).
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise SchemaTooNew(
                f"the database is at schema revision {current}, which this Sluice does not know (it knows up to "
                f"{scripts.get_current_head()}): it was upgraded by a newer Sluice; run that version, or upgrade"
            )
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return str(scripts.get_current_head())

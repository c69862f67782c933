"""cache entries

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("pipeline_name", sa.String(length=512), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("job_name", sa.String(length=1024), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("task_name", sa.String(length=512), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pipeline_name", "cache_key"),
    )
    op.create_index("ix_cache_entries_create_time", "cache_entries", ["create_time"])


def downgrade() -> None:
    op.drop_index("ix_cache_entries_create_time", table_name="cache_entries")
    op.drop_table("cache_entries")

"""reruns: the original job and the per-task configs of a rerun

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_jobs") as batch:
        batch.add_column(sa.Column("rerun", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_jobs") as batch:
        batch.drop_column("rerun")

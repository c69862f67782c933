"""job leases: which orchestrator drives a job, until when

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_pipeline_jobs_lease_expires", ["lease_expires"])


def downgrade() -> None:
    with op.batch_alter_table("pipeline_jobs") as batch:
        batch.drop_index("ix_pipeline_jobs_lease_expires")
        batch.drop_column("lease_expires")
        batch.drop_column("owner")

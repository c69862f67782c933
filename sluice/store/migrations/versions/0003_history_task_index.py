"""index task_status_history.task_id

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_status_history_task_id", "task_status_history", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_status_history_task_id", table_name="task_status_history")

"""api: API-only job fields, keyset list indexes, operations

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 14:49:21.123586
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operations',
    sa.Column('op_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('parent', sa.String(length=512), nullable=False),
    sa.Column('job_id', sa.String(length=128), nullable=True),
    sa.Column('metadata_type', sa.String(length=256), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('update_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('op_id')
    )
    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operations_job_id'), ['job_id'], unique=False)
        batch_op.create_index('ix_operations_parent_create', ['parent', 'create_time', 'op_id'], unique=False)

    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('template_version', sa.String(length=256), server_default='', nullable=False))
        batch_op.create_index('ix_pipeline_jobs_parent_create', ['parent', 'create_time', 'job_id'], unique=False)
        batch_op.create_index('ix_pipeline_jobs_parent_update', ['parent', 'update_time', 'job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_pipeline_jobs_parent_update')
        batch_op.drop_index('ix_pipeline_jobs_parent_create')
        batch_op.drop_column('template_version')
        batch_op.drop_column('extra')

    with op.batch_alter_table('operations', schema=None) as batch_op:
        batch_op.drop_index('ix_operations_parent_create')
        batch_op.drop_index(batch_op.f('ix_operations_job_id'))

    op.drop_table('operations')

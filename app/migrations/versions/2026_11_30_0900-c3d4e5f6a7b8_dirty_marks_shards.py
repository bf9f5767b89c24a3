"""dirty_marks: a shard per log row, so folders in several processes each take one
shard's lock instead of one lock per monitor (issue 13)

Rows logged before this revision get shard 0, "any monitor": a folder claims every
shard before folding one of them.

Revision ID: c3d4e5f6a7b8
Revises: a9b8c7d6e5f4
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = 'c3d4e5f6a7b8'
down_revision: str | None = 'a9b8c7d6e5f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: in place on both databases.
    op.add_column('dirty_marks', sa.Column('shard', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_dirty_marks_shard_id', 'dirty_marks', ['shard', 'id'])


def downgrade() -> None:
    op.drop_index('ix_dirty_marks_shard_id', table_name='dirty_marks')
    with op.batch_alter_table('dirty_marks') as batch_op:
        batch_op.drop_column('shard')

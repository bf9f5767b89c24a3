"""keys: an optional expiry and when each key was last used; result retention: where
each (monitor, location)'s raw results were pruned (issue 12)

Results are pruned along their primary key (monitor, location, checked_at), so no
index on checked_at alone is added.

Revision ID: a9b8c7d6e5f4
Revises: f7a8b9c0d1e2
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import app.db
from alembic import op


revision: str = 'a9b8c7d6e5f4'
down_revision: str | None = 'f7a8b9c0d1e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place (no table rebuild).
    op.add_column('api_keys', sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('api_keys', sa.Column('last_used_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table('result_floors',
    sa.Column('monitor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location', sa.String(length=63), nullable=False),
    sa.Column('before', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_result_floors_monitor_id_monitors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('monitor_id', 'location', name=op.f('pk_result_floors'))
    )


def downgrade() -> None:
    op.drop_table('result_floors')
    with op.batch_alter_table('api_keys') as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')

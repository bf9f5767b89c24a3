"""state changes; late data of closed months; an index on segment ends for reports

Revision ID: 3c1d2e4f5a6b
Revises: 8f85c49fb0ef
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '3c1d2e4f5a6b'
down_revision: str | None = '8f85c49fb0ef'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('state_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('old', sa.String(length=8), nullable=False),
    sa.Column('new', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('processed_at', sa.BigInteger(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_state_changes'))
    )
    op.create_index('ix_state_changes_subject_at', 'state_changes', ['subject', 'subject_id', 'at'], unique=False)
    op.create_index('ix_state_changes_unprocessed', 'state_changes', ['processed_at', 'at'], unique=False)
    op.create_table('late_data',
    sa.Column('statement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('first_at', sa.BigInteger(), nullable=False),
    sa.Column('noted_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], name=op.f('fk_late_data_statement_id_statements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('statement_id', name=op.f('pk_late_data'))
    )
    op.create_index('ix_location_segments_end', 'location_segments', ['end', 'start', 'monitor_id', 'location', 'failing'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_location_segments_end', table_name='location_segments')
    op.drop_table('late_data')
    op.drop_index('ix_state_changes_unprocessed', table_name='state_changes')
    op.drop_index('ix_state_changes_subject_at', table_name='state_changes')
    op.drop_table('state_changes')

"""customers may make their status page private

Revision ID: d4e5f6a7b8c9
Revises: b14709174778
Create Date: 2026-11-30 05:00:00

A private customer's status page, its JSON, feed and badges answer 404 unless called
with the customer's key or a signed link (app.status.links); public is the default.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = 'd4e5f6a7b8c9'
down_revision: str | None = 'b14709174778'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(
            sa.Column('private', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('private')

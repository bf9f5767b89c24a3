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
    # Plain ADD COLUMN (SQLite has it): a batch rebuild would drop the table's
    # AUTOINCREMENT, and customer ids could then be given twice.
    op.add_column(
        'customers', sa.Column('private', sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    # SQLite rebuilds the table to drop a column: keep its AUTOINCREMENT.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table(
        'customers',
        recreate='always' if sqlite else 'never',
        table_kwargs={'sqlite_autoincrement': True} if sqlite else {},
    ) as batch:
        batch.drop_column('private')

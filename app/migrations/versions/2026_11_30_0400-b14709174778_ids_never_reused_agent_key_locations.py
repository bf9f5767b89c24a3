"""ids never reused on SQLite (AUTOINCREMENT); agent keys bound to locations

Revision ID: b14709174778
Revises: 3c1d2e4f5a6b
Create Date: 2026-11-30 04:00:00

SQLite gives a new row max(id) + 1 unless the table is AUTOINCREMENT, so deleting the
newest monitor handed its id to the next one (an agent's late results for the deleted
monitor then landed in another customer's). SQLite cannot add AUTOINCREMENT to a table:
each table with a surrogate id is rebuilt (batch mode, rows and ids kept; env.py turns
foreign keys off around it, as SQLite's procedure for rebuilding a table requires, and
checks them before the commit). PostgreSQL's sequences never reuse a value: nothing to
do there.

Ids deleted before this upgrade above the highest one left cannot be known any more;
from this upgrade on no id is given twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = 'b14709174778'
down_revision: str | None = '3c1d2e4f5a6b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table with a surrogate id (a late_data row is keyed by its statement's id).
TABLES = (
    'customers',
    'sla_policies',
    'services',
    'monitors',
    'maintenance_windows',
    'api_keys',
    'location_segments',
    'dirty_marks',
    'statements',
    'state_changes',
)


def _locations() -> sa.Column[object]:
    return sa.Column('locations', sa.JSON(), server_default=sa.text("'[]'"), nullable=False)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.add_column('api_keys', _locations())
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch:
            if table == 'api_keys':
                batch.add_column(_locations())


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_column('api_keys', 'locations')
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': False}
        ) as batch:
            if table == 'api_keys':
                batch.drop_column('locations')

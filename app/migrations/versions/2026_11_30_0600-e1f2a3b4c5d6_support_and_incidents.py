"""support calendars, incidents and their events; support targets in SLA policies

Revision ID: e1f2a3b4c5d6
Revises: d4e5f6a7b8c9
Create Date: 2026-11-30 06:00:00

SLA_RULES.md section 8: a policy names, per priority, the time to respond and to
resolve and the calendar they are counted on (app.sla.business_time); incidents are
opened by an operator, a customer or an outage, and their events drive the clocks.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app.db import Percent, UTCDateTime


revision: str = 'e1f2a3b4c5d6'
down_revision: str | None = 'd4e5f6a7b8c9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('support_calendars',
    sa.Column('id', ID, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_calendars')),
    sqlite_autoincrement=True,
    )
    op.create_table('incidents',
    sa.Column('id', ID, nullable=False),
    sa.Column('service_id', ID, nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('opened_priority', sa.String(length=2), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('outage_started_at', UTCDateTime(), nullable=True),
    sa.Column('restored_at', UTCDateTime(), nullable=True),
    sa.Column('keep_open', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('imported', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('opened_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_incidents_service_id_services'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('service_id', 'outage_started_at', name='uq_incidents_service_outage'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_incidents_service_opened', 'incidents', ['service_id', 'opened_at'], unique=False)
    op.create_index('ix_incidents_opened_at', 'incidents', ['opened_at'], unique=False)
    op.create_table('incident_events',
    sa.Column('id', ID, nullable=False),
    sa.Column('incident_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=True),
    sa.Column('message', sa.String(length=4000), nullable=True),
    sa.Column('public', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('automatic', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('imported', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_incident_events_incident_at', 'incident_events', ['incident_id', 'at'], unique=False)
    # Plain ADD COLUMN (SQLite has it): a batch rebuild would drop the table's
    # AUTOINCREMENT, and ids could then be given twice.
    op.add_column(
        'sla_policies',
        sa.Column('support_targets', sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column(
        'sla_policies',
        sa.Column('support_compliance_target_percent', Percent(), server_default=sa.text("'95'"), nullable=False),
    )


def downgrade() -> None:
    # SQLite rebuilds the table to drop a column: keep its AUTOINCREMENT.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table(
        'sla_policies',
        recreate='always' if sqlite else 'never',
        table_kwargs={'sqlite_autoincrement': True} if sqlite else {},
    ) as batch:
        batch.drop_column('support_compliance_target_percent')
        batch.drop_column('support_targets')
    op.drop_index('ix_incident_events_incident_at', table_name='incident_events')
    op.drop_table('incident_events')
    op.drop_index('ix_incidents_opened_at', table_name='incidents')
    op.drop_index('ix_incidents_service_opened', table_name='incidents')
    op.drop_table('incidents')
    op.drop_table('support_calendars')

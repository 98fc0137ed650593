"""KPI rollups per company and hour, and the patch states of the companies' managed instances.

`kpi_hourly` holds each (company, UTC hour)'s figures, recomputed from the source tables by the
workers (`db.kpis`): never incremented, so a rerun, a restart or two workers cannot count anything
twice. `kpi_dirty_hours` says which rows to recompute: the `kpi-rollups` reaction marks an incident's
hours on each change, and two triggers mark them when what the incident's figures read changes
outside the incident itself (its SLA clocks met or breached, its remediation judged held). Neither
trigger is on a table ingest writes. MTTR p90 reads a histogram of resolve times in fixed log buckets
(`domain.kpis.resolve_bucket`), kept sparse (two parallel arrays), so a range's p90 comes from summed
buckets. `kpi_daily_buckets` sums each UTC day's histograms (rewritten with its hours), so a month's p90
reads about 30 rows, not 720.

`patch_states` is what SSM's DescribeInstancePatchStates last said about each managed instance of a
company, `patch_refreshes` when the periodic job last asked (and what went wrong).

Revision ID: 0034
Revises: 0037
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0034'
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default=sa.text('0'), nullable=False)


def _seconds(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(), server_default=sa.text('0'), nullable=False)


def _company() -> sa.Column:
    return sa.Column('company_id', UUID, sa.ForeignKey('companies.id', ondelete='CASCADE'), nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False)


MARK_SLA = """
CREATE FUNCTION kpi_mark_sla_hour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty_hours (company_id, hour)
    SELECT i.company_id, date_trunc('hour', i.created_at, 'UTC') FROM incidents i WHERE i.id = NEW.incident_id
    ON CONFLICT (company_id, hour) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$
"""
MARK_HELD = """
CREATE FUNCTION kpi_mark_held_hour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty_hours (company_id, hour)
    SELECT i.company_id, date_trunc('hour', i.resolved_at, 'UTC') FROM incidents i
    WHERE i.id = NEW.incident_id AND i.resolved_at IS NOT NULL
    ON CONFLICT (company_id, hour) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        'kpi_hourly',
        _company(),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        _count('alerts'),
        _count('incidents'),
        _count('acknowledged'),
        _seconds('ack_seconds'),
        _count('resolved'),
        _seconds('resolve_seconds'),
        sa.Column('resolve_buckets', postgresql.ARRAY(sa.SmallInteger()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('resolve_bucket_counts', postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
        _count('self_healed'),
        _count('auto_remediated'),
        _count('response_met'),
        _count('response_breached'),
        _count('resolution_met'),
        _count('resolution_breached'),
        _now('updated_at'),
        sa.PrimaryKeyConstraint('company_id', 'hour', name=op.f('pk_kpi_hourly')),
    )
    op.create_table(
        'kpi_daily_buckets',
        _company(),
        sa.Column('day', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolve_buckets', postgresql.ARRAY(sa.SmallInteger()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column('resolve_bucket_counts', postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
        sa.PrimaryKeyConstraint('company_id', 'day', name=op.f('pk_kpi_daily_buckets')),
    )
    op.create_table(
        'kpi_dirty_hours',
        _company(),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        _now('marked_at'),
        sa.PrimaryKeyConstraint('company_id', 'hour', name=op.f('pk_kpi_dirty_hours')),
    )
    op.create_table(
        'patch_states',
        _company(),
        sa.Column('instance_id', sa.String(length=64), nullable=False),
        sa.Column('baseline_id', sa.String(length=128), nullable=True),
        sa.Column('patch_group', sa.String(length=256), nullable=True),
        _count('installed'),
        _count('installed_other'),
        _count('installed_pending_reboot'),
        _count('installed_rejected'),
        _count('missing'),
        _count('failed'),
        _count('not_applicable'),
        sa.Column('operation', sa.String(length=16), nullable=True),
        sa.Column('operation_end_time', sa.DateTime(timezone=True), nullable=True),
        _now('refreshed_at'),
        sa.PrimaryKeyConstraint('company_id', 'instance_id', name=op.f('pk_patch_states')),
    )
    op.create_table(
        'patch_refreshes',
        _company(),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
        _count('instances'),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('company_id', name=op.f('pk_patch_refreshes')),
    )
    # The rollup recomputes an hour's resolved incidents through this (resolves are rare writes, and
    # the index holds no open incident, so ingest's inserts skip it).
    op.create_index(
        'ix_incidents_company_resolved',
        'incidents',
        ['company_id', 'resolved_at'],
        unique=False,
        postgresql_where=sa.text('resolved_at IS NOT NULL'),
    )
    op.execute(MARK_SLA)
    op.execute(MARK_HELD)
    op.execute(
        "CREATE TRIGGER kpi_sla_outcome AFTER UPDATE ON incident_sla FOR EACH ROW WHEN ("
        "OLD.response_met_at IS DISTINCT FROM NEW.response_met_at"
        " OR OLD.resolution_met_at IS DISTINCT FROM NEW.resolution_met_at"
        " OR OLD.response_breached IS DISTINCT FROM NEW.response_breached"
        " OR OLD.resolution_breached IS DISTINCT FROM NEW.resolution_breached"
        " OR OLD.response_deadline IS DISTINCT FROM NEW.response_deadline"
        " OR OLD.resolution_deadline IS DISTINCT FROM NEW.resolution_deadline"
        ") EXECUTE FUNCTION kpi_mark_sla_hour()"
    )
    op.execute(
        "CREATE TRIGGER kpi_remediation_held AFTER UPDATE OF held ON remediation_executions FOR EACH ROW"
        " WHEN (OLD.held IS DISTINCT FROM NEW.held AND NEW.incident_id IS NOT NULL)"
        " EXECUTE FUNCTION kpi_mark_held_hour()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER kpi_remediation_held ON remediation_executions")
    op.execute("DROP TRIGGER kpi_sla_outcome ON incident_sla")
    op.execute("DROP FUNCTION kpi_mark_held_hour()")
    op.execute("DROP FUNCTION kpi_mark_sla_hour()")
    op.drop_index('ix_incidents_company_resolved', table_name='incidents', postgresql_where=sa.text('resolved_at IS NOT NULL'))
    op.drop_table('patch_refreshes')
    op.drop_table('patch_states')
    op.drop_table('kpi_dirty_hours')
    op.drop_table('kpi_daily_buckets')
    op.drop_table('kpi_hourly')

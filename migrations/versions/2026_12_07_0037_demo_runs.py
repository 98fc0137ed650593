"""Demo mode: `companies.demo` (its remediations are simulated) and `demo_runs` (one scenario run each)

A demo run is state in its row (scenario, step, when the next step is due, the lease of the process
running it), so any worker process resumes it after a restart. The API key it sends with is stored
encrypted with the data key: the database keeps only a hash of a company's keys.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "companies", sa.Column("demo", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_table(
        "demo_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=False),
        sa.Column("alerts_sent", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cycle", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("loop", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("message", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("api_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("next_step_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('RUNNING', 'STOPPED', 'FINISHED')", name=op.f("ck_demo_runs_status")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_demo_runs_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_runs")),
    )
    op.create_index("ix_demo_runs_company", "demo_runs", ["company_id", "started_at"], unique=False)
    # At most one run under way per company (demoStart answers ALREADY_RUNNING).
    op.create_index(
        "uq_demo_runs_running",
        "demo_runs",
        ["company_id"],
        unique=True,
        postgresql_where=sa.text("status = 'RUNNING'"),
    )
    op.create_index(
        "ix_demo_runs_due",
        "demo_runs",
        ["next_step_at"],
        unique=False,
        postgresql_where=sa.text("status = 'RUNNING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_demo_runs_due", table_name="demo_runs", postgresql_where=sa.text("status = 'RUNNING'"))
    op.drop_index(
        "uq_demo_runs_running", table_name="demo_runs", postgresql_where=sa.text("status = 'RUNNING'")
    )
    op.drop_index("ix_demo_runs_company", table_name="demo_runs")
    op.drop_table("demo_runs")
    op.drop_column("companies", "demo")

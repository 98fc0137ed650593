"""On-call schedules, their weekly shifts, rotation and overrides; calendar feed secrets

`oncall_schedules` belong to a company, or (company_id NULL) are MSP-wide and list the companies
they cover in `covers`. Shifts, rotations and overrides carry their schedule's company_id for tenant
scoping. `users.calendar_token_hash` holds the sha256 of the secret in a person's iCalendar feed URL.

The legacy `users.on_call = true` flag is carried over, not dropped: for every company with such
members, a schedule "On call (migrated)" in UTC with 24x7 weekly shifts (00:00-24:00, every day) for
each of them. The column stays (deprecated in the schema) and nothing reads it for on-call decisions.

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-07 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUIDS = postgresql.ARRAY(postgresql.UUID(as_uuid=True))


def upgrade() -> None:
    op.add_column("users", sa.Column("calendar_token_hash", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("calendar_token_created_at", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint("uq_users_calendar_token_hash", "users", ["calendar_token_hash"])

    op.create_table(
        "oncall_schedules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=True),
        sa.Column("covers", UUIDS, server_default=sa.text("'{}'::uuid[]"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "company_id IS NULL OR cardinality(covers) = 0",
            name=op.f("ck_oncall_schedules_covers_only_msp_wide"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_oncall_schedules_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_schedules")),
    )
    op.create_index(op.f("ix_oncall_schedules_company_id"), "oncall_schedules", ["company_id"])
    op.create_index("ix_oncall_schedules_company_name", "oncall_schedules", ["company_id", "name", "id"])
    op.create_index("ix_oncall_schedules_covers", "oncall_schedules", ["covers"], postgresql_using="gin")

    op.create_table(
        "oncall_shifts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_oncall_shifts_weekday_range")),
        sa.CheckConstraint("start_minute BETWEEN 0 AND 1439", name=op.f("ck_oncall_shifts_start_range")),
        sa.CheckConstraint("end_minute BETWEEN 1 AND 1440", name=op.f("ck_oncall_shifts_end_range")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_oncall_shifts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedules.id"],
            name=op.f("fk_oncall_shifts_schedule_id_oncall_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oncall_shifts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_shifts")),
    )
    op.create_index(op.f("ix_oncall_shifts_schedule_id"), "oncall_shifts", ["schedule_id"])
    op.create_index(op.f("ix_oncall_shifts_user_id"), "oncall_shifts", ["user_id"])

    op.create_table(
        "oncall_rotations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=True),
        sa.Column("members", UUIDS, nullable=False),
        sa.Column("handover_weekday", sa.Integer(), nullable=False),
        sa.Column("handover_minute", sa.Integer(), nullable=False),
        sa.Column("length_days", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "handover_weekday BETWEEN 0 AND 6", name=op.f("ck_oncall_rotations_weekday_range")
        ),
        sa.CheckConstraint(
            "handover_minute BETWEEN 0 AND 1439", name=op.f("ck_oncall_rotations_handover_range")
        ),
        sa.CheckConstraint("length_days BETWEEN 1 AND 56", name=op.f("ck_oncall_rotations_length_range")),
        sa.CheckConstraint(
            "cardinality(members) BETWEEN 1 AND 50", name=op.f("ck_oncall_rotations_members_count")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_oncall_rotations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedules.id"],
            name=op.f("fk_oncall_rotations_schedule_id_oncall_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_rotations")),
        sa.UniqueConstraint("schedule_id", name=op.f("uq_oncall_rotations_schedule_id")),
    )
    op.create_index("ix_oncall_rotations_members", "oncall_rotations", ["members"], postgresql_using="gin")

    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("covers_user_id", sa.UUID(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_oncall_overrides_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_oncall_overrides_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["covers_user_id"],
            ["users.id"],
            name=op.f("fk_oncall_overrides_covers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["oncall_schedules.id"],
            name=op.f("fk_oncall_overrides_schedule_id_oncall_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oncall_overrides_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index("ix_oncall_overrides_schedule_ends", "oncall_overrides", ["schedule_id", "ends_at"])
    op.create_index(op.f("ix_oncall_overrides_user_id"), "oncall_overrides", ["user_id"])

    # The legacy flag, as a 24x7 schedule per company of the people who had it.
    op.execute(
        """
        WITH flagged AS (
            SELECT m.company_id, m.user_id
            FROM memberships m JOIN users u ON u.id = m.user_id
            JOIN companies c ON c.id = m.company_id
            WHERE u.on_call AND c.deleted_at IS NULL
        ), schedules AS (
            INSERT INTO oncall_schedules (id, company_id, name, timezone)
            SELECT gen_random_uuid(), company_id, 'On call (migrated)', 'UTC'
            FROM (SELECT DISTINCT company_id FROM flagged) companies
            RETURNING id, company_id
        )
        INSERT INTO oncall_shifts (id, schedule_id, company_id, user_id, weekday, start_minute, end_minute)
        SELECT gen_random_uuid(), s.id, s.company_id, f.user_id, d.weekday, 0, 1440
        FROM schedules s JOIN flagged f ON f.company_id = s.company_id
        CROSS JOIN generate_series(0, 6) AS d(weekday)
        """
    )


def downgrade() -> None:
    op.drop_table("oncall_overrides")
    op.drop_table("oncall_rotations")
    op.drop_table("oncall_shifts")
    op.drop_table("oncall_schedules")
    op.drop_constraint("uq_users_calendar_token_hash", "users", type_="unique")
    op.drop_column("users", "calendar_token_created_at")
    op.drop_column("users", "calendar_token_hash")

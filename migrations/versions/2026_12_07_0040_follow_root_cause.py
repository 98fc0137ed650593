"""incident_decisions: FOLLOW_ROOT_CAUSE, and the root incident followed

A downstream incident of a cascade got a decision of its own: a runbook run on a symptom, or a
technician paged for it, beside its root's. It now follows the root's incident (the action
FOLLOW_ROOT_CAUSE, with `root_incident_id`), and is decided again when it outlives that root.

Revision ID: 0040_follow
Revises: 0039_blast
Create Date: 2026-12-07 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0040_follow"
down_revision: str | None = "0039_blast"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "action IN ('EXECUTE_RUNBOOK', 'ESCALATE_TO_TECHNICIAN')"
AFTER = "action IN ('EXECUTE_RUNBOOK', 'ESCALATE_TO_TECHNICIAN', 'FOLLOW_ROOT_CAUSE')"
CHECK = "ck_incident_decisions_action_known"


def upgrade() -> None:
    op.add_column("incident_decisions", sa.Column("root_incident_id", postgresql.UUID(), nullable=True))
    op.drop_constraint(op.f(CHECK), "incident_decisions", type_="check")
    op.create_check_constraint(op.f(CHECK), "incident_decisions", AFTER)
    op.create_index(
        "ix_incident_decisions_following",
        "incident_decisions",
        ["root_incident_id"],
        postgresql_where=sa.text("action = 'FOLLOW_ROOT_CAUSE'"),
    )


def downgrade() -> None:
    # Before this revision a downstream incident had no way to wait on its root (a technician takes
    # it), and no decision took an LLM's suggestion (one that needs an approval, as those did).
    op.execute(
        "UPDATE incident_decisions SET action = 'ESCALATE_TO_TECHNICIAN', reason = 'NO_RUNBOOK'"
        " WHERE action = 'FOLLOW_ROOT_CAUSE'"
    )
    op.execute(
        "UPDATE incident_decisions SET reason = 'APPROVAL_REQUIRED' WHERE reason = 'SUGGESTED_BY_ANALYSIS'"
    )
    op.drop_index("ix_incident_decisions_following", table_name="incident_decisions")
    op.drop_constraint(op.f(CHECK), "incident_decisions", type_="check")
    op.create_check_constraint(op.f(CHECK), "incident_decisions", BEFORE)
    op.drop_column("incident_decisions", "root_incident_id")

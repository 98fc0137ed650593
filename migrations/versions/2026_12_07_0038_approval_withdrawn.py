"""remediation_approvals.status may be WITHDRAWN: the incident resolved before anyone decided

A request left PENDING on a resolved incident could still be approved (a runbook sent for a problem
that was gone) and later showed as EXPIRED. The `approval-withdrawal` reaction now withdraws such a
request when its incident resolves; this revision also withdraws the ones already waiting on resolved
incidents, each with its APPROVAL_WITHDRAWN timeline entry (the reaction only sees resolves to come).

Revision ID: 0038_withdrawn
Revises: 0035
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038_withdrawn"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED')"
AFTER = "status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'WITHDRAWN')"
WITHDRAW_WAITING = """
WITH w AS (
    UPDATE remediation_approvals a
    SET status = 'WITHDRAWN', decided_at = greatest(coalesce(i.resolved_at, now()), a.requested_at),
        comment = 'withdrawn: the incident resolved before anyone decided'
    FROM incidents i
    WHERE i.id = a.incident_id AND i.status = 'RESOLVED' AND a.status = 'PENDING'
    RETURNING a.id, a.company_id, a.incident_id, a.decided_at
)
INSERT INTO incident_events (company_id, incident_id, kind, at, actor_id, data)
SELECT company_id, incident_id, 'APPROVAL_WITHDRAWN', decided_at, NULL,
       jsonb_build_object('actor', 'system:approval-withdrawal', 'approvalId', id::text)
FROM w
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_remediation_approvals_status_known"), "remediation_approvals", type_="check")
    op.create_check_constraint(op.f("ck_remediation_approvals_status_known"), "remediation_approvals", AFTER)
    op.execute(WITHDRAW_WAITING)


def downgrade() -> None:
    # Before this revision a request nobody decided ended EXPIRED (its timeline entries stay).
    op.execute("UPDATE remediation_approvals SET status = 'EXPIRED' WHERE status = 'WITHDRAWN'")
    op.drop_constraint(op.f("ck_remediation_approvals_status_known"), "remediation_approvals", type_="check")
    op.create_check_constraint(op.f("ck_remediation_approvals_status_known"), "remediation_approvals", BEFORE)

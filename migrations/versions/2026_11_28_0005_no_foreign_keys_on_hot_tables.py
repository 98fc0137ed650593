"""no foreign keys on the hot append tables; a company's rows go with it through a trigger

Every alert, delivery, incident and timeline event inserted checked its company (and every timeline
event its incident) with a `SELECT ... FOR KEY SHARE` on the parent row: about a sixth of the ingest
statement's cost and of the correlation write-back's (EXPLAIN ANALYZE: 22 of 122 ms for a batch of
1,000), and every concurrent writer share-locking the same company row makes Postgres build
multixacts for it. The rows' company and incident ids come from the authenticated key and from the
worker's own writes, never from a client. What the foreign keys also did, deleting a company's rows
with the company, is done by an AFTER DELETE trigger on companies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, parent table)
FOREIGN_KEYS = (
    ("alerts", "fk_alerts_company_id_companies", "company_id", "companies"),
    ("webhook_deliveries", "fk_webhook_deliveries_company_id_companies", "company_id", "companies"),
    ("incidents", "fk_incidents_company_id_companies", "company_id", "companies"),
    ("incident_events", "fk_incident_events_company_id_companies", "company_id", "companies"),
    ("incident_events", "fk_incident_events_incident_id_incidents", "incident_id", "incidents"),
)


def upgrade() -> None:
    for table, name, _, _ in FOREIGN_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
    # Each delete goes through an index that starts with the company (or, for the timeline, the incident).
    op.execute(
        """
        CREATE FUNCTION companies_delete_hot_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM incident_events e USING incidents i
             WHERE i.company_id = OLD.id AND e.incident_id = i.id;
            DELETE FROM incidents WHERE company_id = OLD.id;
            DELETE FROM alerts WHERE company_id = OLD.id;
            DELETE FROM webhook_deliveries WHERE company_id = OLD.id;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER companies_delete_hot_rows AFTER DELETE ON companies "
        "FOR EACH ROW EXECUTE FUNCTION companies_delete_hot_rows()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS companies_delete_hot_rows ON companies")
    op.execute("DROP FUNCTION IF EXISTS companies_delete_hot_rows()")
    for table, name, column, parent in FOREIGN_KEYS:
        op.create_foreign_key(name, table, parent, [column], ["id"], ondelete="CASCADE")

"""Tenant isolation of the incident area: another company's rows are invisible and unchangeable,
answered exactly as rows that do not exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from db.tables import Company, Incident
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid

NOBODY = str(uuid.UUID(int=12345))


@pytest.fixture
async def tenants(factory, services, gql):
    """Company A (the caller's) and company B (someone else's), each with an incident, alert, event, window."""
    a, b = await factory.company(), await factory.company()
    out = {
        "a": a,
        "b": b,
        "admin": await factory.user(Role.COMPANY_ADMIN, [a]),
        "tech": await factory.user(Role.TECHNICIAN, [a]),
    }
    msp = await factory.user(Role.MSP_ADMIN)
    for key, company in (("a", a), ("b", b)):
        incident = await rows.incident(services, company.id, status="NEW")
        resolved = await rows.incident(services, company.id, status="RESOLVED", resolved_at=datetime.now(UTC))
        alert = await rows.alert(services, company.id, incident_id=incident)
        event_id = await rows.event(services, company.id, incident, "CREATED", datetime.now(UTC))
        window = await gql(
            'mutation($c: ID!) { maintenanceWindowCreate(input: {companyId: $c, name: "w",'
            ' startsAt: "2026-12-01T00:00:00Z", endsAt: "2026-12-01T01:00:00Z"}) { maintenanceWindow { id } } }',
            {"c": company.gid},
            token=msp.token,
        )
        out[key + "_ids"] = {
            "incident": gid("Incident", incident),
            "resolved": gid("Incident", resolved),
            "alert": gid("Alert", alert),
            "event": gid("IncidentEvent", event_id),
            "window": window["data"]["maintenanceWindowCreate"]["maintenanceWindow"]["id"],
        }
        out[key + "_incident"], out[key + "_resolved"] = incident, resolved
    return out


LISTS = """
query($c: ID) {
  alerts(companyId: $c) { nodes { id } }
  incidents(companyId: $c) { nodes { id } }
  maintenanceWindows(companyId: $c) { nodes { id } }
}
"""


async def test_lists_of_another_company_are_empty_like_an_unknown_one(gql, tenants):
    # given a company admin and a technician of A
    t = tenants
    empty = {"alerts": {"nodes": []}, "incidents": {"nodes": []}, "maintenanceWindows": {"nodes": []}}

    for user in (t["admin"], t["tech"]):
        # when they list B's, an unknown company's, a malformed id's and all their own rows
        other = await gql(LISTS, {"c": t["b"].gid}, token=user.token)
        unknown = await gql(LISTS, {"c": gid("Company", NOBODY)}, token=user.token)
        malformed = await gql(LISTS, {"c": "not-an-id"}, token=user.token)
        everything = await gql(LISTS, {"c": None}, token=user.token)

        # then B's answer is the unknown company's answer: empty; without a company only A's rows show
        assert other == unknown == malformed == {"data": empty}
        assert everything["data"] == {
            "alerts": {"nodes": [{"id": t["a_ids"]["alert"]}]},
            "incidents": {"nodes": [{"id": t["a_ids"]["resolved"]}, {"id": t["a_ids"]["incident"]}]},
            "maintenanceWindows": {"nodes": [{"id": t["a_ids"]["window"]}]},
        }


async def test_single_rows_of_another_company_read_as_null(gql, tenants):
    # given a technician of A
    t = tenants
    query = """
    query($i: ID!, $a: ID!, $e: ID!, $w: ID!) {
      incident(id: $i) { id } alert(id: $a) { id }
      ni: node(id: $i) { id } na: node(id: $a) { id } ne: node(id: $e) { id } nw: node(id: $w) { id }
    }"""

    # when B's incident, alert, timeline event and window are asked for, and A's for comparison
    other = await gql(
        query,
        {
            "i": t["b_ids"]["incident"],
            "a": t["b_ids"]["alert"],
            "e": t["b_ids"]["event"],
            "w": t["b_ids"]["window"],
        },
        token=t["tech"].token,
    )
    own = await gql(
        query,
        {
            "i": t["a_ids"]["incident"],
            "a": t["a_ids"]["alert"],
            "e": t["a_ids"]["event"],
            "w": t["a_ids"]["window"],
        },
        token=t["tech"].token,
    )

    # then B's are all null, A's all there
    assert other == {"data": dict.fromkeys(("incident", "alert", "ni", "na", "ne", "nw"))}
    assert own["data"] == {
        "incident": {"id": t["a_ids"]["incident"]},
        "alert": {"id": t["a_ids"]["alert"]},
        "ni": {"id": t["a_ids"]["incident"]},
        "na": {"id": t["a_ids"]["alert"]},
        "ne": {"id": t["a_ids"]["event"]},
        "nw": {"id": t["a_ids"]["window"]},
    }


@pytest.mark.parametrize(
    ("mutation", "target"),
    [("incidentAcknowledge", "incident"), ("incidentResolve", "incident"), ("incidentReopen", "resolved")],
)
async def test_incidents_of_another_company_cannot_be_worked(gql, tenants, services, mutation, target):
    # given B's incident and a technician of A
    t = tenants
    row_id = t["b_" + target]
    before = await rows.get(services, Incident, row_id)

    # when the technician works it, and an incident that does not exist
    query = f"mutation($id: ID!) {{ {mutation}(input: {{id: $id}}) {{ incident {{ id }} userErrors {{ field message code }} }} }}"
    other = await gql(query, {"id": t["b_ids"][target]}, token=t["tech"].token)
    unknown = await gql(query, {"id": gid("Incident", NOBODY)}, token=t["tech"].token)

    # then the answer is the unknown incident's, and nothing changed
    assert (
        other
        == unknown
        == {
            "data": {
                mutation: {
                    "incident": None,
                    "userErrors": [{"field": "id", "message": "incident not found", "code": "NOT_FOUND"}],
                }
            }
        }
    )
    after = await rows.get(services, Incident, row_id)
    assert (after.status, after.updated_at, after.resolved_at) == (
        before.status,
        before.updated_at,
        before.resolved_at,
    )
    assert [e.kind for e in await rows.timeline(services, row_id)] == (
        [] if target == "resolved" else ["CREATED"]
    )
    assert await rows.audit_actions(services, row_id) == []


async def test_settings_windows_and_ingest_of_another_company_are_not_found(gql, tenants, services):
    # given a company admin of A
    t = tenants
    b, admin = t["b"], t["admin"]

    async def attempt(company_gid):
        config = await gql(
            "mutation($c: ID!) { correlationConfigUpdate(input: {companyId: $c, windowMinutes: 5})"
            " { company { id } userErrors { field message code } } }",
            {"c": company_gid},
            token=admin.token,
        )
        create = await gql(
            'mutation($c: ID!) { maintenanceWindowCreate(input: {companyId: $c, name: "x",'
            ' startsAt: "2026-12-01T00:00:00Z", endsAt: "2026-12-01T01:00:00Z"})'
            " { maintenanceWindow { id } userErrors { field message code } } }",
            {"c": company_gid},
            token=admin.token,
        )
        ingest = await gql(
            'mutation($c: ID!) { alertIngest(input: {companyId: $c, deliveryId: "iso", alerts: [{assetName: "h",'
            ' signature: "s", severity: "low", message: "m"}]}) { alertIds replayed userErrors { field message code } } }',
            {"c": company_gid},
            token=admin.token,
        )
        return config["data"], create["data"], ingest["data"]

    # when the admin changes B's settings, adds a window to B and ingests for B; and for an unknown company
    other = await attempt(b.gid)
    unknown = await attempt(gid("Company", NOBODY))
    delete = await gql(
        "mutation($id: ID!) { maintenanceWindowDelete(input: {id: $id}) { deletedId userErrors"
        " { field message code } } }",
        {"id": t["b_ids"]["window"]},
        token=admin.token,
    )

    # then every answer is the unknown company's NOT_FOUND, and B is untouched
    not_found = [{"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}]
    assert (
        other
        == unknown
        == (
            {"correlationConfigUpdate": {"company": None, "userErrors": not_found}},
            {"maintenanceWindowCreate": {"maintenanceWindow": None, "userErrors": not_found}},
            {"alertIngest": {"alertIds": [], "replayed": False, "userErrors": not_found}},
        )
    )
    assert delete["data"]["maintenanceWindowDelete"] == {
        "deletedId": None,
        "userErrors": [{"field": "id", "message": "maintenance window not found", "code": "NOT_FOUND"}],
    }
    assert (await rows.get(services, Company, b.id)).correlation_window_minutes == 10
    assert [w.name for w in await rows.windows_of(services, b.id)] == ["w"]
    assert len(await rows.alerts_of(services, b.id)) == 1

"""Maintenance windows and correlation settings through the API: who may change them, and validation."""

from __future__ import annotations

import asyncio

import pytest

from db.events import BusEvent, topic
from db.tables import Company
from domain.rbac import Role
from tests import incident_rows as rows

CREATE = """
mutation($input: MaintenanceWindowCreateInput!) {
  maintenanceWindowCreate(input: $input) {
    maintenanceWindow { id name startsAt endsAt assetNames signatures createdBy { email } company { name }
      recurrence { frequency daysOfWeek timezone until } }
    userErrors { field message code }
  }
}
"""
DELETE = """
mutation($id: ID!) { maintenanceWindowDelete(input: {id: $id}) { deletedId userErrors { field message code } } }
"""
CONFIG = """
mutation($input: CorrelationConfigUpdateInput!) {
  correlationConfigUpdate(input: $input) {
    company { correlation { windowMinutes flapThreshold flapWindowMinutes autoResolveMinutes autoResolveTools } }
    userErrors { field message code }
  }
}
"""


def window_input(company, **fields):
    return {
        "companyId": company.gid,
        "name": "Patch night",
        "startsAt": "2026-12-06T22:00:00+01:00",
        "endsAt": "2026-12-07T02:00:00+01:00",
    } | fields


async def create(gql, token, input):
    body = await gql(CREATE, {"input": input}, token=token)
    assert "errors" not in body, body
    return body["data"]["maintenanceWindowCreate"]


async def test_company_admin_creates_a_recurring_window_for_some_assets(gql, factory, services):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when a weekly Sunday-night window for two assets is created
    async with services.bus.subscribe({topic(company.id, "maintenance")}) as sub:
        result = await create(
            gql,
            admin.token,
            window_input(
                company,
                assetNames=[" db-01 ", "DB-01", "web-01"],
                signatures=["Backup"],
                recurrence={
                    "frequency": "WEEKLY",
                    "daysOfWeek": [6],
                    "timezone": "Europe/Berlin",
                    "until": "2027-06-30T00:00:00+00:00",
                },
            ),
        )
        published = await asyncio.wait_for(sub.queue.get(), 5)

    # then it is stored as given (names trimmed, repeats dropped), audited and announced
    window = result["maintenanceWindow"]
    assert result["userErrors"] == []
    assert {k: window[k] for k in ("name", "startsAt", "endsAt", "assetNames", "signatures")} == {
        "name": "Patch night",
        "startsAt": "2026-12-06T21:00:00+00:00",
        "endsAt": "2026-12-07T01:00:00+00:00",
        "assetNames": ["db-01", "web-01"],
        "signatures": ["Backup"],
    }
    assert window["recurrence"] == {
        "frequency": "WEEKLY",
        "daysOfWeek": [6],
        "timezone": "Europe/Berlin",
        "until": "2027-06-30T00:00:00+00:00",
    }
    assert (window["createdBy"], window["company"]) == ({"email": admin.email}, {"name": company.name})
    [stored] = await rows.windows_of(services, company.id)
    assert stored.recurrence == {
        "frequency": "WEEKLY",
        "days_of_week": [6],
        "timezone": "Europe/Berlin",
        "until": "2027-06-30T00:00:00+00:00",
    }
    assert await rows.audit_actions(services, stored.id) == [("maintenance_window.create", admin.email)]
    assert published == BusEvent(topic(company.id, "maintenance"), kind="CREATED", id=str(stored.id))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"endsAt": "2026-12-06T20:00:00+01:00"}, ("endsAt", "must be after startsAt")),
        ({"startsAt": "2026-12-06T22:00:00"}, ("startsAt", "must include a time zone offset")),
        ({"name": "  "}, ("name", "must be 1 to 120 characters")),
        (
            {"recurrence": {"frequency": "WEEKLY"}},
            ("recurrence.daysOfWeek", "a weekly window needs at least one day"),
        ),
        (
            {"recurrence": {"frequency": "DAILY", "timezone": "Mars/Olympus"}},
            ("recurrence.timezone", "is not a known IANA time zone"),
        ),
        (
            {"recurrence": {"frequency": "WEEKLY", "daysOfWeek": [7]}},
            ("recurrence.daysOfWeek", "days must be 0 (Monday) to 6 (Sunday)"),
        ),
        ({"assetNames": [""]}, ("assetNames", "each name must be 1 to 255 characters")),
    ],
)
async def test_invalid_windows_are_refused_and_not_stored(gql, factory, services, fields, error):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when an invalid window is created
    result = await create(gql, admin.token, window_input(company, **fields))

    # then the field is named and nothing is stored
    assert result == {
        "maintenanceWindow": None,
        "userErrors": [{"field": error[0], "message": error[1], "code": "INVALID_INPUT"}],
    }
    assert await rows.windows_of(services, company.id) == []


async def test_technician_may_not_create_or_delete_windows(gql, factory, services):
    # given a technician and a window of the company
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    existing = (await create(gql, admin.token, window_input(company)))["maintenanceWindow"]["id"]

    # when the technician creates one and deletes the existing one
    created = await create(gql, tech.token, window_input(company, name="sneaky"))
    deleted = await gql(DELETE, {"id": existing}, token=tech.token)

    # then both are denied and the one window is still there
    denied = [
        {"field": None, "message": "you do not have permission to do this", "code": "PERMISSION_DENIED"}
    ]
    assert created == {"maintenanceWindow": None, "userErrors": denied}
    assert deleted["data"]["maintenanceWindowDelete"] == {"deletedId": None, "userErrors": denied}
    assert [w.name for w in await rows.windows_of(services, company.id)] == ["Patch night"]


async def test_windows_are_listed_latest_start_first_and_deleted(gql, factory, services):
    # given an MSP admin and two windows
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    early = (await create(gql, msp.token, window_input(company, name="early")))["maintenanceWindow"]["id"]
    late = (
        await create(
            gql,
            msp.token,
            window_input(
                company,
                name="late",
                startsAt="2027-01-01T00:00:00+00:00",
                endsAt="2027-01-01T01:00:00+00:00",
            ),
        )
    )["maintenanceWindow"]["id"]

    # when they are listed, the late one is deleted, and they are listed again
    query = "query($c: ID) { maintenanceWindows(companyId: $c) { nodes { id name } } }"
    before = await gql(query, {"c": company.gid}, token=msp.token)
    deleted = await gql(DELETE, {"id": late}, token=msp.token)
    after = await gql(query, {"c": company.gid}, token=msp.token)
    again = await gql(DELETE, {"id": late}, token=msp.token)

    # then the list follows the start time, and the deletion is final
    assert before["data"]["maintenanceWindows"]["nodes"] == [
        {"id": late, "name": "late"},
        {"id": early, "name": "early"},
    ]
    assert deleted["data"]["maintenanceWindowDelete"] == {"deletedId": late, "userErrors": []}
    assert after["data"]["maintenanceWindows"]["nodes"] == [{"id": early, "name": "early"}]
    assert again["data"]["maintenanceWindowDelete"]["userErrors"] == [
        {"field": "id", "message": "maintenance window not found", "code": "NOT_FOUND"}
    ]
    assert [w.name for w in await rows.windows_of(services, company.id)] == ["early"]
    assert [a for a, _ in await rows.audit_actions(services, rows.uuid_of(late))] == [
        "maintenance_window.create",
        "maintenance_window.delete",
    ]


# ---- correlation settings ---------------------------------------------------------------------


async def test_company_admin_updates_correlation_settings_and_turns_auto_resolve_off(gql, factory, services):
    # given a company with default settings
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when the admin changes the window and tools, then turns auto-resolve off
    async with services.bus.subscribe({"system:companies"}) as sub:
        first = await gql(
            CONFIG,
            {
                "input": {
                    "companyId": company.gid,
                    "windowMinutes": 15,
                    "flapThreshold": 5,
                    "autoResolveTools": ["SPLUNK", "NAGIOS", "SPLUNK"],
                }
            },
            token=admin.token,
        )
        second = await gql(
            CONFIG, {"input": {"companyId": company.gid, "autoResolveMinutes": None}}, token=admin.token
        )
        events = [await asyncio.wait_for(sub.queue.get(), 5) for _ in range(2)]

    # then omitted fields keep their value, null turns auto-resolve off, and caches are told
    assert first["data"]["correlationConfigUpdate"] == {
        "userErrors": [],
        "company": {
            "correlation": {
                "windowMinutes": 15,
                "flapThreshold": 5,
                "flapWindowMinutes": 30,
                "autoResolveMinutes": 60,
                "autoResolveTools": ["SPLUNK", "NAGIOS"],
            }
        },
    }
    assert second["data"]["correlationConfigUpdate"]["company"]["correlation"] == {
        "windowMinutes": 15,
        "flapThreshold": 5,
        "flapWindowMinutes": 30,
        "autoResolveMinutes": None,
        "autoResolveTools": ["SPLUNK", "NAGIOS"],
    }
    stored = await rows.get(services, Company, company.id)
    assert (stored.correlation_window_minutes, stored.auto_resolve_minutes) == (15, None)
    assert stored.auto_resolve_tools == ["splunk", "nagios"]  # stored as the webhook URLs spell them
    assert events == [BusEvent("system:companies", kind="settings", id=str(company.id))] * 2
    assert [a for a, _ in await rows.audit_actions(services, company.id)][-2:] == [
        "company.correlation_update",
        "company.correlation_update",
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"windowMinutes": 4}, ("windowMinutes", "must be between 5 and 15 minutes")),
        ({"windowMinutes": 16}, ("windowMinutes", "must be between 5 and 15 minutes")),
        ({"flapThreshold": 0}, ("flapThreshold", "must be between 1 and 100")),
        ({"flapWindowMinutes": 0}, ("flapWindowMinutes", "must be between 1 minute and 24 hours")),
        ({"autoResolveMinutes": 0}, ("autoResolveMinutes", "must be between 1 minute and 7 days, or null")),
    ],
)
async def test_invalid_correlation_settings_change_nothing(gql, factory, services, fields, error):
    # given a company admin
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # when an out-of-range setting is sent
    body = await gql(CONFIG, {"input": {"companyId": company.gid, **fields}}, token=admin.token)

    # then the field is named and the company is unchanged
    assert body["data"]["correlationConfigUpdate"] == {
        "company": None,
        "userErrors": [{"field": error[0], "message": error[1], "code": "INVALID_INPUT"}],
    }
    stored = await rows.get(services, Company, company.id)
    assert (
        stored.correlation_window_minutes,
        stored.flap_threshold,
        stored.flap_window_minutes,
        stored.auto_resolve_minutes,
        stored.auto_resolve_tools,
    ) == (10, 3, 30, 60, ["splunk"])


async def test_technician_may_not_change_correlation_settings(gql, factory, services):
    # given a technician of the company
    company = await factory.company()
    tech = await factory.user(Role.TECHNICIAN, [company])

    # when the technician changes the window (even to an invalid value)
    valid = await gql(CONFIG, {"input": {"companyId": company.gid, "windowMinutes": 5}}, token=tech.token)
    invalid = await gql(CONFIG, {"input": {"companyId": company.gid, "windowMinutes": 99}}, token=tech.token)

    # then permission is denied first, and nothing changed
    denied = {
        "company": None,
        "userErrors": [
            {"field": None, "message": "you do not have permission to do this", "code": "PERMISSION_DENIED"}
        ],
    }
    assert valid["data"]["correlationConfigUpdate"] == denied
    assert invalid["data"]["correlationConfigUpdate"] == denied
    assert (await rows.get(services, Company, company.id)).correlation_window_minutes == 10
    assert await rows.audit_actions(services, company.id) == [("company.create", "system:operator")]


async def test_msp_admin_updates_any_company(gql, factory, services):
    # given an MSP admin and a company nobody is a member of
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)

    # when the MSP admin sets every field
    body = await gql(
        CONFIG,
        {
            "input": {
                "companyId": company.gid,
                "windowMinutes": 5,
                "flapThreshold": 10,
                "flapWindowMinutes": 60,
                "autoResolveMinutes": 120,
                "autoResolveTools": [],
            }
        },
        token=msp.token,
    )

    # then all are stored
    assert body["data"]["correlationConfigUpdate"]["company"]["correlation"] == {
        "windowMinutes": 5,
        "flapThreshold": 10,
        "flapWindowMinutes": 60,
        "autoResolveMinutes": 120,
        "autoResolveTools": [],
    }
    stored = await rows.get(services, Company, company.id)
    assert (stored.flap_window_minutes, stored.auto_resolve_tools) == (60, [])

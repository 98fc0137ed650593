"""Signing per integration, and rotated credentials that keep working for a grace period.

Each tool's endpoint (`/api/webhooks/<tool>`) requires a signature or not on its own, so a company
that signs its own JSON keeps Alertmanager (which cannot sign) working. A rotated API key or HMAC
secret keeps working until the expiry the admin chose, then is refused.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from db.webhook_auth import WebhookCompanyCache
from domain.rbac import Role
from domain.signing import sign
from tests.helpers import event_heard
from tests.unit.payloads import load

INTEGRATIONS = """
query($id: ID!) { company(id: $id) { integrations { tool path requireSignature canSign } } }"""
SECURITY = """
mutation($i: CompanyWebhookSecurityUpdateInput!) {
  companyWebhookSecurityUpdate(input: $i) {
    company { integrations { tool requireSignature } webhookSecurity { previousHmacSecretExpiresAt } }
    hmacSecret userErrors { field message code }
  }
}"""
ROTATE = """
mutation($i: CompanyApiKeyRotateInput!) {
  companyApiKeyRotate(input: $i) {
    company { webhookSecurity { apiKeyHint previousApiKeyHint previousApiKeyExpiresAt } }
    apiKey userErrors { field message code }
  }
}"""
GRACE_END = """
mutation($i: CompanyRotationGraceEndInput!) {
  companyRotationGraceEnd(input: $i) {
    company { webhookSecurity { previousApiKeyHint previousApiKeyExpiresAt previousHmacSecretExpiresAt } }
    userErrors { field message code }
  }
}"""
AUDIT = """
query($c: ID!) { auditLog(first: 20, filter: {companyId: $c}) { nodes { action before after } } }"""
GENERIC = {"asset_name": "web-01", "signature": "high_cpu", "severity": "high", "message": "CPU 97%"}


async def _post(client, tool: str, api_key: str, payload, headers=None):
    body = orjson.dumps(payload)
    h = {"content-type": "application/json", "x-api-key": api_key} | (headers or {})
    return await client.post(f"/api/webhooks/{tool}", content=body, headers=h)


def _signed(secret: str, payload) -> dict[str, str]:
    ts = int(time.time())
    return {"x-timestamp": str(ts), "x-signature": sign(secret.encode(), ts, orjson.dumps(payload))}


async def _change(gql, services, document: str, variables, token: str) -> dict:
    """Run a company mutation and wait until the webhook key cache has heard of the change."""
    async with event_heard(services, "system:companies"):
        body = await gql(document, {"i": variables}, token=token)
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], payload
    return payload


def _expiry(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_signing_is_required_only_on_the_integrations_that_ask_for_it(client, gql, factory, services):
    # given a company whose admin requires signatures on our JSON only
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    changed = await _change(
        gql,
        services,
        SECURITY,
        {"id": company.gid, "integrations": [{"tool": "GENERIC", "requireSignature": True}]},
        admin.token,
    )
    signed = {i["tool"] for i in changed["company"]["integrations"] if i["requireSignature"]}
    assert signed == {"GENERIC"}

    # when Alertmanager posts unsigned, as it always does, and our JSON comes unsigned then signed
    alertmanager = await _post(client, "alertmanager", company.api_key, load("alertmanager_firing"))
    unsigned = await _post(client, "generic", company.api_key, GENERIC)
    also_unsigned = await _post(client, "alerts", company.api_key, GENERIC)
    good = await _post(client, "generic", company.api_key, GENERIC, _signed(company.hmac_secret, GENERIC))

    # then Alertmanager's alerts are taken, and our JSON only when signed (at both of its paths)
    assert alertmanager.status_code == 202, alertmanager.text
    assert (unsigned.status_code, unsigned.json()) == (
        403,
        {"error": "X-Timestamp header is required when HMAC signing is enabled"},
    )
    assert also_unsigned.status_code == 403
    assert good.status_code == 202, good.text

    # and when the admin stops requiring it there, unsigned JSON is taken again
    await _change(
        gql,
        services,
        SECURITY,
        {"id": company.gid, "integrations": [{"tool": "GENERIC", "requireSignature": False}]},
        admin.token,
    )
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 202


async def test_company_integrations_list_every_tool_and_which_can_sign(gql, factory):
    # given a company that turned signing on with the company-wide switch (the old API)
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    body = await gql(SECURITY, {"i": {"id": company.gid, "hmacEnabled": True}}, token=admin.token)
    assert body["data"]["companyWebhookSecurityUpdate"]["userErrors"] == []

    # when the admin reads its integrations
    read = await gql(INTEGRATIONS, {"id": company.gid}, token=admin.token)

    # then every tool's endpoint is listed, each requiring a signature, with whether the tool can sign
    integrations = read["data"]["company"]["integrations"]
    assert {i["tool"]: i["path"] for i in integrations}["ALERTMANAGER"] == "/api/webhooks/alertmanager"
    assert len(integrations) == 11
    assert all(i["requireSignature"] for i in integrations)
    assert {i["tool"] for i in integrations if i["canSign"]} == {"GENERIC", "ZABBIX", "NAGIOS", "ICINGA"}

    # and the switch turned off clears every one
    body = await gql(SECURITY, {"i": {"id": company.gid, "hmacEnabled": False}}, token=admin.token)
    after = body["data"]["companyWebhookSecurityUpdate"]["company"]["integrations"]
    assert not any(i["requireSignature"] for i in after)


async def test_a_rotated_api_key_works_until_its_grace_period_ends(client, gql, factory, services):
    # given a company whose tools post with its key
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 202

    # when the admin rotates the key with the default grace period
    rotated = await _change(gql, services, ROTATE, {"id": company.gid}, admin.token)

    # then both keys work, and the API says until when the old one does (24 hours from now)
    new_key = rotated["apiKey"]
    security = rotated["company"]["webhookSecurity"]
    assert security["previousApiKeyHint"] == company.api_key[:7] + "…"
    expires = _expiry(security["previousApiKeyExpiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=5)
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 202
    assert (await _post(client, "generic", new_key, GENERIC)).status_code == 202

    # when the admin ends the grace period (every tool has the new key)
    ended = await _change(gql, services, GRACE_END, {"id": company.gid}, admin.token)

    # then the old key is refused and the new one still works
    assert ended["company"]["webhookSecurity"] == {
        "previousApiKeyHint": None,
        "previousApiKeyExpiresAt": None,
        "previousHmacSecretExpiresAt": None,
    }
    old = await _post(client, "generic", company.api_key, GENERIC)
    assert (old.status_code, old.json()) == (401, {"error": "invalid API key"})
    assert (await _post(client, "generic", new_key, GENERIC)).status_code == 202

    # and both changes are in the audit log, with the expiry the rotation gave the old key
    msp = await factory.user(Role.MSP_ADMIN)
    entries = (await gql(AUDIT, {"c": company.gid}, token=msp.token))["data"]["auditLog"]["nodes"]
    by_action = {e["action"]: e for e in entries}
    rotate_after = by_action["company.api_key_rotate"]["after"]
    assert _expiry(rotate_after["previous_key_expires_at"]) == expires
    grace_end = by_action["company.rotation_grace_end"]
    assert _expiry(grace_end["before"]["previous_key_expires_at"]) == expires
    assert grace_end["after"] == {"previous_key_expires_at": None, "previous_secret_expires_at": None}
    assert company.api_key not in str(entries)
    assert new_key not in str(entries)


async def test_a_zero_grace_period_stops_the_old_key_at_once(client, gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    rotated = await _change(gql, services, ROTATE, {"id": company.gid, "gracePeriodHours": 0}, admin.token)
    assert rotated["company"]["webhookSecurity"]["previousApiKeyExpiresAt"] is None
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 401
    assert (await _post(client, "generic", rotated["apiKey"], GENERIC)).status_code == 202


@pytest.mark.parametrize("hours", [-1, 169])
async def test_a_grace_period_outside_0_to_168_hours_is_refused(gql, factory, services, hours):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    before = await services.pool.fetchrow("SELECT * FROM companies WHERE id = $1", company.id)
    refusal = {
        "field": "gracePeriodHours",
        "message": "must be between 0 and 168 hours",
        "code": "INVALID_INPUT",
    }
    for document, variables in [
        (ROTATE, {"id": company.gid, "gracePeriodHours": hours}),
        (SECURITY, {"id": company.gid, "rotateSecret": True, "gracePeriodHours": hours}),
    ]:
        body = await gql(document, {"i": variables}, token=admin.token)
        (payload,) = body["data"].values()
        assert payload["userErrors"] == [refusal]
    assert await services.pool.fetchrow("SELECT * FROM companies WHERE id = $1", company.id) == before


async def test_a_rotated_hmac_secret_verifies_until_its_grace_period_ends(client, gql, factory, services):
    # given a company whose own sender signs with its secret
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await _change(gql, services, SECURITY, {"id": company.gid, "hmacEnabled": True}, admin.token)

    # when the admin rotates the secret, keeping the old one for 2 hours
    rotated = await _change(
        gql, services, SECURITY, {"id": company.gid, "rotateSecret": True, "gracePeriodHours": 2}, admin.token
    )

    # then requests signed with either secret are taken until the old one's expiry, shown in the API
    new_secret = rotated["hmacSecret"]
    expires = _expiry(rotated["company"]["webhookSecurity"]["previousHmacSecretExpiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=5)
    for n, secret in enumerate((company.hmac_secret, new_secret)):
        alert = GENERIC | {"message": f"during the grace period, {n}"}
        resp = await _post(client, "generic", company.api_key, alert, _signed(secret, alert))
        assert resp.status_code == 202, resp.text

    # when the grace period is over
    await _change(gql, services, GRACE_END, {"id": company.gid}, admin.token)

    # then the old secret's signature is refused, the new one's taken
    for n, (secret, status) in enumerate(((company.hmac_secret, 403), (new_secret, 202))):
        alert = GENERIC | {"message": f"after the grace period, {n}"}
        resp = await _post(client, "generic", company.api_key, alert, _signed(secret, alert))
        assert resp.status_code == status, resp.text
    assert resp.json()["status"] == "received"
    refused = await _post(client, "generic", company.api_key, GENERIC, _signed(company.hmac_secret, GENERIC))
    assert refused.json() == {"error": "X-Signature does not match the request body"}


async def test_a_cached_old_key_stops_at_its_expiry_without_any_event(factory, services):
    # given a company whose key was rotated with a one-hour grace period, and a key cache on a clock
    company = await factory.company()
    async with factory.uow() as uow:
        row, _ = await uow.companies.rotate_api_key(company.id, 1)
    expires = row.previous_api_key_expires_at.timestamp()
    now = [expires - 60]
    cache = WebhookCompanyCache(services.pool, services.cipher, clock=lambda: now[0])

    # when the old key is looked up a minute before its expiry, then again just after it
    before = await cache.by_api_key(company.api_key)
    now[0] = expires
    after = await cache.by_api_key(company.api_key)

    # then it authenticated until then, and not after, although the entry is still cached
    assert before is not None
    assert before.id == company.id
    assert after is None


async def test_another_companys_admin_cannot_end_its_grace_period(client, gql, factory, services):
    # given a company whose key was rotated, and the admin of another company
    company, other = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    stranger = await factory.user(Role.COMPANY_ADMIN, [other])
    await _change(gql, services, ROTATE, {"id": company.gid}, admin.token)

    # when the stranger tries to end the company's grace period, or to change its signing
    ended = await gql(GRACE_END, {"i": {"id": company.gid}}, token=stranger.token)
    signing = await gql(
        SECURITY,
        {"i": {"id": company.gid, "integrations": [{"tool": "GENERIC", "requireSignature": True}]}},
        token=stranger.token,
    )

    # then both are refused as if the company did not exist, and the old key still works
    refusal = [{"field": "id", "message": "company not found", "code": "NOT_FOUND"}]
    assert ended["data"]["companyRotationGraceEnd"] == {"company": None, "userErrors": refusal}
    assert signing["data"]["companyWebhookSecurityUpdate"]["userErrors"] == refusal
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 202


async def test_deleting_a_company_stops_its_rotated_out_key_too(client, gql, factory, services):
    # given a company whose key was rotated with a grace period, so both keys work
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    rotated = await _change(gql, services, ROTATE, {"id": company.gid}, admin.token)
    assert (await _post(client, "generic", company.api_key, GENERIC)).status_code == 202

    # when an MSP admin deletes the company
    msp = await factory.user(Role.MSP_ADMIN)
    await _change(
        gql,
        services,
        "mutation($i: CompanyDeleteInput!) { companyDelete(input: $i) { deletedCompanyId userErrors { code } } }",
        {"id": company.gid},
        msp.token,
    )

    # then neither key authenticates any more
    for key in (company.api_key, rotated["apiKey"]):
        assert (await _post(client, "generic", key, GENERIC)).status_code == 401

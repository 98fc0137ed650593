"""A company's remediation settings through the API: `remediationSettings` and
`companyRemediationUpdate` (who may, bad input that writes nothing, the audit), and their effect on
the decision: automatic remediation off escalates, saying why."""

from __future__ import annotations

from typing import Any

from domain.rbac import Role

READ = """query($c: ID!) { remediationSettings(companyId: $c) {
  companyId autoRemediationEnabled approvalOnCriticalAssets approvalExpiryMinutes } }"""
UPDATE = """mutation($i: CompanyRemediationUpdateInput!) { companyRemediationUpdate(input: $i) {
  settings { autoRemediationEnabled approvalOnCriticalAssets approvalExpiryMinutes }
  userErrors { field code message } } }"""


async def _stored(services: Any, company_id: Any) -> tuple[Any, ...]:
    row = await services.pool.fetchrow(
        "SELECT auto_remediation_enabled, approval_on_critical_assets, approval_expiry_minutes"
        " FROM companies WHERE id = $1",
        company_id,
    )
    return tuple(row)


async def test_admins_change_remediation_settings_others_cannot_and_bad_input_writes_nothing(
    gql, factory, services
):
    # given company A (the defaults), its admin and technician, and company B's admin
    a, b = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [a])
    tech = await factory.user(Role.TECHNICIAN, [a])
    other = await factory.user(Role.COMPANY_ADMIN, [b])

    # then everyone of A reads the defaults; B's admin reads nothing of A's
    defaults = {
        "companyId": a.gid,
        "autoRemediationEnabled": True,
        "approvalOnCriticalAssets": True,
        "approvalExpiryMinutes": 60,
    }
    assert (await gql(READ, {"c": a.gid}, token=tech.token))["data"]["remediationSettings"] == defaults
    assert (await gql(READ, {"c": a.gid}, token=other.token))["data"]["remediationSettings"] is None

    # when the technician, B's admin, and A's admin with an expiry out of range try to change them
    change = {"companyId": a.gid, "autoRemediationEnabled": False, "approvalExpiryMinutes": 30}
    denied = await gql(UPDATE, {"i": change}, token=tech.token)
    foreign = await gql(UPDATE, {"i": change}, token=other.token)
    too_short = await gql(UPDATE, {"i": change | {"approvalExpiryMinutes": 4}}, token=admin.token)
    too_long = await gql(UPDATE, {"i": change | {"approvalExpiryMinutes": 10081}}, token=admin.token)

    # then each is refused with its code and nothing is stored
    assert [e["code"] for e in denied["data"]["companyRemediationUpdate"]["userErrors"]] == [
        "PERMISSION_DENIED"
    ]
    assert [e["code"] for e in foreign["data"]["companyRemediationUpdate"]["userErrors"]] == ["NOT_FOUND"]
    for refused in (too_short, too_long):
        assert refused["data"]["companyRemediationUpdate"]["userErrors"] == [
            {
                "field": "approvalExpiryMinutes",
                "code": "INVALID_INPUT",
                "message": "must be between 5 and 10,080 minutes",
            }
        ]
    assert await _stored(services, a.id) == (True, True, 60)

    # when A's admin changes them
    done = await gql(UPDATE, {"i": change | {"approvalOnCriticalAssets": False}}, token=admin.token)

    # then they are stored, shown, and audited
    assert done["data"]["companyRemediationUpdate"] == {
        "settings": {
            "autoRemediationEnabled": False,
            "approvalOnCriticalAssets": False,
            "approvalExpiryMinutes": 30,
        },
        "userErrors": [],
    }
    assert await _stored(services, a.id) == (False, False, 30)
    audit = await services.pool.fetchrow(
        "SELECT before::text AS before, after::text AS after FROM audit_log"
        " WHERE action = 'company.remediation' AND entity_id = $1",
        str(a.id),
    )
    assert '"auto_remediation_enabled": true' in audit["before"]
    assert '"auto_remediation_enabled": false' in audit["after"]
    assert '"approval_expiry_minutes": 30' in audit["after"]

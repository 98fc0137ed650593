"""A company's AWS access through the API: set, test and clear per role, validation, tenant
isolation, and secrets that go in but never come out (database row, API, audit log, logs)."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.stub import Stubber

from domain.rbac import Role

UPDATE = """
mutation($i: CompanyAwsUpdateInput!) {
  companyAwsUpdate(input: $i) {
    company { aws { configured authType region roleArn accessKeyIdLast4 updatedAt } }
    userErrors { field message code }
  }
}"""
CLEAR = """
mutation($i: CompanyAwsInput!) {
  companyAwsClear(input: $i) { company { aws { configured } } userErrors { field message code } }
}"""
TEST = """
mutation($i: CompanyAwsInput!) { companyAwsTest(input: $i) { accountId arn userErrors { field message code } } }"""
READ = "query($id: ID!) { company(id: $id) { aws { configured authType region roleArn accessKeyIdLast4 } } }"

ROLE_ARN = "arn:aws:iam::111122223333:role/AlertWhisperer"
EXTERNAL_ID = "ext-id-7f3a9c-very-private"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def role_input(company, **extra):
    return {
        "companyId": company.gid,
        "region": "eu-west-1",
        "roleArn": ROLE_ARN,
        "externalId": EXTERNAL_ID,
    } | extra


def key_input(company, **extra):
    return {
        "companyId": company.gid,
        "region": "us-east-1",
        "accessKeyId": KEY_ID,
        "secretAccessKey": SECRET,
    } | extra


async def _row(services, company):
    return await services.pool.fetchrow(
        "SELECT * FROM company_aws_settings WHERE company_id = $1", company.id
    )


async def _audit(services, company):
    rows = await services.pool.fetch(
        "SELECT action, before::text AS before, after::text AS after FROM audit_log"
        " WHERE company_id = $1 AND action LIKE 'company.aws%' ORDER BY id",
        company.id,
    )
    return [dict(r) for r in rows]


async def test_a_company_admin_sets_a_role_and_the_external_id_stays_secret(gql, factory, services, caplog):
    caplog.set_level(logging.DEBUG)
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    body = await gql(UPDATE, {"i": role_input(company)}, token=admin.token)

    result = body["data"]["companyAwsUpdate"]
    assert result["userErrors"] == []
    aws = result["company"]["aws"]
    assert {k: v for k, v in aws.items() if k != "updatedAt"} == {
        "configured": True,
        "authType": "ROLE",
        "region": "eu-west-1",
        "roleArn": ROLE_ARN,
        "accessKeyIdLast4": None,
    }
    assert aws["updatedAt"]
    row = await _row(services, company)
    assert row["auth_type"] == "role"
    assert EXTERNAL_ID.encode() not in bytes(row["external_id_enc"])
    assert services.cipher.decrypt(row["external_id_enc"]) == EXTERNAL_ID
    [entry] = await _audit(services, company)
    assert entry["action"] == "company.aws_update"
    assert json.loads(entry["after"]) == {
        "auth_type": "role",
        "region": "eu-west-1",
        "role_arn": ROLE_ARN,
        "access_key_id_last4": None,
    }
    assert EXTERNAL_ID not in json.dumps(body)
    assert EXTERNAL_ID not in caplog.text


async def test_an_msp_admin_sets_a_key_pair_and_the_secret_key_is_never_shown(gql, factory, services, caplog):
    caplog.set_level(logging.DEBUG)
    company = await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    await gql(UPDATE, {"i": role_input(company)}, token=msp.token)

    body = await gql(UPDATE, {"i": key_input(company)}, token=msp.token)
    read = await gql(READ, {"id": company.gid}, token=msp.token)

    assert body["data"]["companyAwsUpdate"]["userErrors"] == []
    assert read["data"]["company"]["aws"] == {
        "configured": True,
        "authType": "ACCESS_KEY",
        "region": "us-east-1",
        "roleArn": None,
        "accessKeyIdLast4": "MPLE",
    }
    row = await _row(services, company)
    assert (row["role_arn"], row["external_id_enc"]) == (None, None)  # the role is replaced
    assert SECRET.encode() not in bytes(row["secret_access_key_enc"])
    assert services.cipher.decrypt(row["secret_access_key_enc"]) == SECRET
    audit = await _audit(services, company)
    assert [a["action"] for a in audit] == ["company.aws_update", "company.aws_update"]
    assert json.loads(audit[1]["before"])["auth_type"] == "role"
    assert json.loads(audit[1]["after"])["access_key_id_last4"] == "MPLE"
    for text in (json.dumps(body), json.dumps(read), json.dumps(audit), caplog.text):
        assert SECRET not in text
        assert EXTERNAL_ID not in text


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"region": "europe"}, "region", "INVALID_REGION"),
        ({"region": "EU-WEST-1"}, "region", "INVALID_REGION"),
        ({"roleArn": "arn:aws:iam::12345:role/x"}, "roleArn", "INVALID_ROLE_ARN"),
        ({"roleArn": "arn:aws:iam::111122223333:user/x"}, "roleArn", "INVALID_ROLE_ARN"),
        ({"externalId": "x"}, "externalId", "INVALID_EXTERNAL_ID"),
        ({"externalId": "has space"}, "externalId", "INVALID_EXTERNAL_ID"),
        ({"externalId": None}, "externalId", "INVALID_EXTERNAL_ID"),
        ({"accessKeyId": KEY_ID, "secretAccessKey": SECRET}, "roleArn", "AUTH_TYPE_CONFLICT"),
        ({"roleArn": None, "externalId": None}, "roleArn", "AUTH_TYPE_MISSING"),
        (
            {"roleArn": None, "externalId": None, "accessKeyId": "AKIA123", "secretAccessKey": SECRET},
            "accessKeyId",
            "INVALID_ACCESS_KEY_ID",
        ),
        (
            {"roleArn": None, "externalId": None, "accessKeyId": KEY_ID, "secretAccessKey": "short"},
            "secretAccessKey",
            "INVALID_SECRET_KEY",
        ),
    ],
)
async def test_invalid_settings_are_refused_and_nothing_is_written(
    gql, factory, services, changes, field, code
):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    body = await gql(UPDATE, {"i": role_input(company, **changes)}, token=admin.token)

    [error] = body["data"]["companyAwsUpdate"]["userErrors"]
    assert (error["field"], error["code"]) == (field, code)
    assert body["data"]["companyAwsUpdate"]["company"] is None
    assert await _row(services, company) is None
    assert await _audit(services, company) == []


async def test_technicians_may_not_see_or_set_it_and_other_companies_are_not_found(gql, factory, services):
    a, b = await factory.company(), await factory.company()
    msp = await factory.user(Role.MSP_ADMIN)
    await gql(UPDATE, {"i": role_input(a)}, token=msp.token)
    technician = await factory.user(Role.TECHNICIAN, [a])
    admin_b = await factory.user(Role.COMPANY_ADMIN, [b])

    by_technician = await gql(UPDATE, {"i": key_input(a)}, token=technician.token)
    seen_by_technician = await gql(READ, {"id": a.gid}, token=technician.token)
    by_other_admin = await gql(UPDATE, {"i": key_input(a)}, token=admin_b.token)
    cleared_by_other = await gql(CLEAR, {"i": {"companyId": a.gid}}, token=admin_b.token)
    tested_by_other = await gql(TEST, {"i": {"companyId": a.gid}}, token=admin_b.token)
    seen_by_other = await gql(READ, {"id": a.gid}, token=admin_b.token)

    assert [e["code"] for e in by_technician["data"]["companyAwsUpdate"]["userErrors"]] == [
        "PERMISSION_DENIED"
    ]
    assert seen_by_technician["data"]["company"]["aws"] is None
    for answer, name in ((by_other_admin, "companyAwsUpdate"), (cleared_by_other, "companyAwsClear")):
        assert answer["data"][name]["userErrors"] == [
            {"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}
        ]
    assert tested_by_other["data"]["companyAwsTest"] == {
        "accountId": None,
        "arn": None,
        "userErrors": [{"field": "companyId", "message": "company not found", "code": "NOT_FOUND"}],
    }
    assert seen_by_other["data"]["company"] is None
    assert (await _row(services, a))["auth_type"] == "role"
    assert len(await _audit(services, a)) == 1


async def test_the_test_assumes_the_role_and_answers_the_account(gql, factory, aws_env):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await gql(UPDATE, {"i": role_input(company)}, token=admin.token)

    body = await gql(TEST, {"i": {"companyId": company.gid}}, token=admin.token)

    result = body["data"]["companyAwsTest"]
    assert result["userErrors"] == []
    assert result["accountId"] == "111122223333"
    assert result["arn"].startswith("arn:aws:sts::111122223333:assumed-role/AlertWhisperer/")


async def test_the_test_with_a_key_pair_uses_the_keys(gql, factory, aws_env):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await gql(UPDATE, {"i": key_input(company)}, token=admin.token)

    body = await gql(TEST, {"i": {"companyId": company.gid}}, token=admin.token)

    assert body["data"]["companyAwsTest"]["accountId"] == "123456789012"  # moto's for any key


async def test_the_test_translates_aws_refusals(gql, factory, services, aws_env):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await gql(UPDATE, {"i": role_input(company, region="ap-south-1")}, token=admin.token)
    sts = services.aws._platform_sts_client("ap-south-1")

    with Stubber(sts) as stub:
        stub.add_client_error(
            "assume_role",
            service_error_code="AccessDenied",
            service_message="not authorized",
            http_status_code=403,
        )
        body = await gql(TEST, {"i": {"companyId": company.gid}}, token=admin.token)

    assert body.get("errors") is None
    assert body["data"]["companyAwsTest"] == {
        "accountId": None,
        "arn": None,
        "userErrors": [
            {
                "field": None,
                "message": "AWS answered AccessDenied: not authorized",
                "code": "AWS_ACCESS_DENIED",
            }
        ],
    }


async def test_clear_removes_it_and_the_test_then_says_not_configured(gql, factory, services):
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    await gql(UPDATE, {"i": key_input(company)}, token=admin.token)

    cleared = await gql(CLEAR, {"i": {"companyId": company.gid}}, token=admin.token)
    again = await gql(CLEAR, {"i": {"companyId": company.gid}}, token=admin.token)
    tested = await gql(TEST, {"i": {"companyId": company.gid}}, token=admin.token)

    assert cleared["data"]["companyAwsClear"] == {"company": {"aws": {"configured": False}}, "userErrors": []}
    assert await _row(services, company) is None
    assert [a["action"] for a in await _audit(services, company)] == [
        "company.aws_update",
        "company.aws_clear",
    ]
    assert [e["code"] for e in again["data"]["companyAwsClear"]["userErrors"]] == ["NOT_FOUND"]
    assert tested["data"]["companyAwsTest"]["userErrors"] == [
        {
            "field": "companyId",
            "message": "no AWS access is set for this company",
            "code": "AWS_NOT_CONFIGURED",
        }
    ]

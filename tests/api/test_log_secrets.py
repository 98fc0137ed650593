"""No password, token, API key, HMAC secret or AWS secret reaches the logs, even at DEBUG.

Every log line is captured through the JSON formatter the server uses (graph.logs) while a test drives
each place a credential passes through: sign-in (right and wrong password), a password change, JWT
use (valid, forged), signed webhooks (accepted, refused, the key in the query string), and AWS
credentials set for a company. Then none of the secret strings may appear in any line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import orjson
import pytest

from domain.rbac import Role
from domain.signing import sign
from graph.logs import REDACTED, JsonFormatter
from tests.api.test_company_aws import UPDATE
from tests.helpers import PASSWORD

NEW_PASSWORD = "a-brand-new-Passw0rd-that-is-secret"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY"
EXTERNAL_ID = "ext-id-never-in-a-log-31337"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }"
CHANGE = "mutation($i: PasswordChangeInput!) { passwordChange(input: $i) { userErrors { code } } }"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    root = logging.getLogger()
    handler, level = Lines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_no_secret_is_logged_while_credentials_are_used(client, gql, factory, services, log_lines):
    company = await factory.company()
    async with factory.uow() as uow:
        await uow.companies.set_webhook_security(company.id, True, False)
    admin = await factory.user(Role.COMPANY_ADMIN, [company])

    # sign-in: right and wrong password; a password change
    signed_in = await gql(LOGIN, {"i": {"email": admin.email, "password": PASSWORD}})
    jwt = signed_in["data"]["login"]["token"]
    assert jwt
    await gql(LOGIN, {"i": {"email": admin.email, "password": PASSWORD + "-wrong"}})
    await gql(LOGIN, {"i": {"email": "nobody@example.com", "password": PASSWORD}})
    changed = await gql(CHANGE, {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}, token=jwt)
    assert changed["data"]["passwordChange"]["userErrors"] == []

    # JWT use: a valid token (issued after the change), and a forged one
    jwt = (await gql(LOGIN, {"i": {"email": admin.email, "password": NEW_PASSWORD}}))["data"]["login"][
        "token"
    ]
    assert (await gql("{ me { email } }", token=jwt))["data"]["me"]["email"] == admin.email
    await gql("{ me { email } }", token=jwt[:-4] + "AAAA")

    # signed webhooks: accepted, a wrong signature, the key in the query string
    body = orjson.dumps({"asset_name": "web-01", "signature": "cpu", "severity": "high", "message": "hot"})
    ts = int(time.time())
    signature = sign(company.hmac_secret.encode(), ts, body)
    headers = {"content-type": "application/json", "x-api-key": company.api_key, "x-timestamp": str(ts)}
    ok = await client.post("/api/webhooks/alerts", content=body, headers=headers | {"x-signature": signature})
    assert ok.status_code == 202
    bad = await client.post(
        "/api/webhooks/alerts", content=body, headers=headers | {"x-signature": "sha256=" + "0" * 64}
    )
    assert bad.status_code == 403
    query = await client.post(
        f"/api/webhooks/alerts?api_key={company.api_key}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert query.status_code == 403  # no signature

    # AWS credentials: an access key pair, then a role with its external id
    for aws in (
        {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": AWS_SECRET},
        {"roleArn": "arn:aws:iam::111122223333:role/AW", "externalId": EXTERNAL_ID},
    ):
        done = await gql(UPDATE, {"i": {"companyId": company.gid, "region": "eu-west-1"} | aws}, token=jwt)
        assert done["data"]["companyAwsUpdate"]["userErrors"] == []

    # then the logs hold none of them
    assert log_lines.lines, "nothing was logged: the capture is broken"
    text = "\n".join(log_lines.lines)
    secrets = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "api key": company.api_key,
        "hmac secret": company.hmac_secret,
        "signature": signature.split("=", 1)[-1],
        "jwt": jwt,
        "jwt signature": jwt.rsplit(".", 1)[-1],
        "first jwt": signed_in["data"]["login"]["token"],
        "aws secret": AWS_SECRET,
        "external id": EXTERNAL_ID,
    }
    leaked = [name for name, secret in secrets.items() if secret in text]
    assert leaked == []


def test_the_formatter_redacts_credential_fields_and_patterns():
    # given lines that (against the rules) carry credentials
    formatter = JsonFormatter()
    record = logging.makeLogRecord(
        {
            "name": "t",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "calling with Authorization: Bearer abc.def.ghi and api_key=k-123 password: hunter2",
            "headers": {"X-API-Key": "k-123", "Content-Type": "application/json"},
            "new_password": "hunter2",
            "hmac_secret": "s3cr3t",
            "count": 3,
        }
    )

    # when they are formatted
    line = orjson.loads(formatter.format(record))

    # then the secrets are replaced, the rest is kept
    assert line["headers"] == {"X-API-Key": REDACTED, "Content-Type": "application/json"}
    assert line["new_password"] == REDACTED
    assert line["hmac_secret"] == REDACTED
    assert line["count"] == 3
    for secret in ("abc.def.ghi", "k-123", "hunter2"):
        assert secret not in line["msg"]
    assert line["msg"].startswith("calling with Authorization: ")

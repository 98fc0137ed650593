"""The mailer loop against real PostgreSQL and SES on moto's server (reached only through
`AWS_ENDPOINT_URL`): what is sent, retries, at most one email per notification (two mailers at once
included), preferences, and sends interrupted by a crash."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from adapters.ses import SesMailer
from db.mailer import MailerRun
from db.notifications import enqueue
from db.pool import create_pool
from domain.notifications import MAX_EMAIL_ATTEMPTS, UNKNOWN_OUTCOME, NotificationKind
from domain.ports import EmailMessage
from domain.rbac import Role
from tests import incident_rows as rows
from tests.helpers import gid, sample
from tests.moto_aws import aws_env, moto_server  # noqa: F401 - fixtures

SENDER = "alerts@msp.example.com"
REGION = "eu-west-1"


def ses_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][REGION]


def verify_sender() -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)


def sent_to(address: str) -> list[Any]:
    return [m for m in ses_backend().sent_messages if address in m.destinations.get("ToAddresses", [])]


async def notify(services: Any, company: Any, users: list[uuid.UUID], **fields: Any) -> list[int]:
    now = fields.pop("now", datetime.now(UTC))
    async with services.pool.acquire() as conn, conn.transaction():
        return await enqueue(
            conn,
            company_id=company.id,
            user_ids=users,
            kind=fields.pop("kind", NotificationKind.ESCALATED),
            subject=fields.pop("subject", "Escalated: DiskFull on db-01"),
            body=fields.pop("body", "DiskFull on db-01 (critical) was escalated: no runbook matches."),
            now=now,
            **fields,
        )


async def email_of(services: Any, notification_id: int) -> Any:
    return await services.pool.fetchrow(
        "SELECT email_state, email_attempts, email_error, email_message_id, email_next_at"
        " FROM notifications WHERE id = $1",
        notification_id,
    )


@pytest.fixture
def mailer(aws_env: str) -> SesMailer:  # noqa: F811 - the fixture above
    return SesMailer(SENDER, REGION)


async def test_an_email_says_what_happened_and_links_to_the_incident(services, factory, mailer):
    verify_sender()
    company = await factory.company()
    user = await factory.user(Role.COMPANY_ADMIN, [company])
    incident = await rows.incident(
        services,
        company.id,
        asset_name="db-01",
        signature="DiskFull",
        severity="critical",
        critical_asset=True,
    )
    [nid] = await notify(
        services, company, [user.id], incident_id=incident, data={"explanation": "No runbook fixes DiskFull."}
    )

    sent_before = sample("alertwhisperer_emails_total", outcome="sent")

    # (other tests' emails may wait in the shared database before this one: run until the queue is empty)
    run, sent = MailerRun(services.pool, mailer, "https://aw.example.com"), 0
    while (stats := await run.run_once(datetime.now(UTC))).claimed:
        sent += stats.sent

    assert sent >= 1
    assert sample("alertwhisperer_emails_total", outcome="sent") == sent_before + sent
    [message] = sent_to(user.email)
    assert message.source == SENDER
    assert message.subject == f"[{company.name}] Escalated: DiskFull on db-01"
    assert "No runbook fixes DiskFull." in message.body  # moto keeps the HTML body
    assert f'href="https://aw.example.com/incidents/{gid("Incident", incident)}"' in message.body
    assert '<th align="left" style="padding:2px 12px 2px 0">Severity</th><td>critical</td>' in message.body
    row = await email_of(services, nid)
    assert row["email_state"] == "sent"
    assert row["email_message_id"] == message.id


async def test_both_bodies_go_to_ses_and_every_value_is_escaped():
    mailer = SesMailer(SENDER, REGION)
    client = boto3.client("sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    mailer._client = client
    message = EmailMessage(
        to=["tech@example.com"],
        subject="s",
        text="plain <b>",
        html="<p>x</p>",
        idempotency_key="notification-7",
    )
    with Stubber(client) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "m-1"},
            {
                "FromEmailAddress": SENDER,
                "Destination": {"ToAddresses": ["tech@example.com"]},
                "Content": {
                    "Simple": {
                        "Subject": {"Data": "s", "Charset": "UTF-8"},
                        "Body": {
                            "Text": {"Data": "plain <b>", "Charset": "UTF-8"},
                            "Html": {"Data": "<p>x</p>", "Charset": "UTF-8"},
                        },
                    }
                },
                "EmailTags": [{"Name": "notification", "Value": "notification-7"}],
            },
        )
        assert await mailer.send(message) == "m-1"
        stub.assert_no_pending_responses()


async def test_a_refused_email_is_retried_later_and_then_sent_once(services, factory, mailer):
    company = await factory.company()
    user = await factory.user(Role.TECHNICIAN, [company])
    [nid] = await notify(services, company, [user.id])
    run = MailerRun(services.pool, mailer)
    now = datetime.now(UTC)
    unverified = SesMailer("nobody-verified-me@msp.example.com", REGION)
    refused = MailerRun(services.pool, unverified)

    first = await refused.run_once(now)

    assert first.retried >= 1
    row = await email_of(services, nid)
    assert row["email_state"] == "pending"
    assert row["email_attempts"] == 1
    assert "not verified" in row["email_error"]
    assert row["email_next_at"] == now + timedelta(seconds=30)
    await run.run_once(now + timedelta(seconds=10))
    assert (await email_of(services, nid))["email_attempts"] == 1  # not due yet: left alone

    verify_sender()
    await run.run_once(now + timedelta(seconds=31))

    assert (await email_of(services, nid))["email_state"] == "sent"
    await run.run_once(now + timedelta(hours=1))
    assert len(sent_to(user.email)) == 1


async def test_an_email_that_keeps_failing_ends_failed_with_its_error(services, factory, aws_env):  # noqa: F811
    company = await factory.company()
    user = await factory.user(Role.TECHNICIAN, [company])
    [nid] = await notify(services, company, [user.id])
    run = MailerRun(services.pool, SesMailer("unverified@msp.example.com", REGION))
    now = datetime.now(UTC)

    for attempt in range(1, MAX_EMAIL_ATTEMPTS + 1):
        await run.run_once(now)
        row = await email_of(services, nid)
        assert row["email_attempts"] == attempt
        now = row["email_next_at"] or now

    row = await email_of(services, nid)
    assert row["email_state"] == "failed"
    assert row["email_attempts"] == MAX_EMAIL_ATTEMPTS
    assert "not verified" in row["email_error"]
    await run.run_once(now + timedelta(days=1))
    assert (await email_of(services, nid))["email_attempts"] == MAX_EMAIL_ATTEMPTS
    assert sent_to(user.email) == []


async def test_two_mailers_at_once_send_each_email_exactly_once(services, factory, mailer, database_url):
    verify_sender()
    company = await factory.company()
    users = [await factory.user(Role.TECHNICIAN, [company]) for _ in range(3)]
    ids = []
    for n in range(8):
        ids += await notify(services, company, [u.id for u in users], subject=f"Escalated #{n}")
    now = datetime.now(UTC)
    # Two worker processes: each mailer on a pool (connections, sessions) of its own.
    other = await create_pool(database_url, min_size=1, max_size=2)
    a, b = MailerRun(services.pool, mailer, batch=5), MailerRun(other, mailer, batch=5)
    claimed = {"a": 0, "b": 0}

    try:
        while True:
            done = await asyncio.gather(a.run_once(now), b.run_once(now))
            claimed["a"] += done[0].claimed
            claimed["b"] += done[1].claimed
            if not any(s.claimed for s in done):
                break
    finally:
        await other.close()

    # Both took part (each claim skips the rows the other holds), and all 24 were claimed once.
    assert claimed["a"] > 0
    assert claimed["b"] > 0
    assert claimed["a"] + claimed["b"] == 24

    states = await services.pool.fetch("SELECT email_state FROM notifications WHERE id = ANY($1)", ids)
    assert {r["email_state"] for r in states} == {"sent"}
    for user in users:
        subjects = sorted(m.subject for m in sent_to(user.email))
        assert subjects == sorted(f"[{company.name}] Escalated #{n}" for n in range(8))


async def test_a_send_interrupted_by_a_crash_is_failed_and_never_sent_again(services, factory, mailer):
    verify_sender()
    company = await factory.company()
    user = await factory.user(Role.TECHNICIAN, [company])
    [nid] = await notify(services, company, [user.id])
    now = datetime.now(UTC)
    # A mailer claimed it (state `sending`, lease until now + 2 min) and its process died.
    await services.pool.execute(
        "UPDATE notifications SET email_state = 'sending', email_attempts = 1, email_next_at = $2 WHERE id = $1",
        nid,
        now + timedelta(minutes=2),
    )
    run = MailerRun(services.pool, mailer)

    await run.run_once(now + timedelta(minutes=1))
    assert (await email_of(services, nid))["email_state"] == "sending"  # the lease still holds
    stats = await run.run_once(now + timedelta(minutes=3))

    assert stats.lost >= 1
    row = await email_of(services, nid)
    assert (row["email_state"], row["email_error"]) == ("failed", UNKNOWN_OUTCOME)
    assert sent_to(user.email) == []


async def test_preferences_and_inactive_users_keep_a_notification_in_app(services, factory, mailer):
    verify_sender()
    company = await factory.company()
    picky = await factory.user(Role.TECHNICIAN, [company])
    gone = await factory.user(Role.TECHNICIAN, [company])
    keen = await factory.user(Role.TECHNICIAN, [company])
    await services.pool.execute(
        "UPDATE users SET notification_email_kinds = '{APPROVAL_REQUESTED}' WHERE id = $1", picky.id
    )
    await services.pool.execute("UPDATE users SET is_active = false WHERE id = $1", gone.id)
    ids = await notify(services, company, [picky.id, gone.id, keen.id])

    await MailerRun(services.pool, mailer).run_once(datetime.now(UTC))

    states = dict(
        await services.pool.fetch("SELECT user_id, email_state FROM notifications WHERE id = ANY($1)", ids)
    )
    assert states == {picky.id: "none", gone.id: "none", keen.id: "sent"}
    assert [len(sent_to(u.email)) for u in (picky, gone, keen)] == [0, 0, 1]


async def test_without_a_sender_nothing_is_emailed_and_the_log_says_so_once(services, factory, caplog):
    company = await factory.company()
    user = await factory.user(Role.TECHNICIAN, [company])
    ids = await notify(services, company, [user.id]) + await notify(
        services, company, [user.id], dedup_key="x"
    )
    run = MailerRun(services.pool, None)

    with caplog.at_level("WARNING", logger="db.mailer"):
        await run.run_once(datetime.now(UTC))
        await run.run_once(datetime.now(UTC))

    assert [r.message for r in caplog.records].count(
        "no ALERTWHISPERER_EMAIL_FROM: notifications are in-app only, nothing is emailed"
    ) == 1
    states = await services.pool.fetch("SELECT email_state FROM notifications WHERE id = ANY($1)", ids)
    assert {r["email_state"] for r in states} == {"none"}

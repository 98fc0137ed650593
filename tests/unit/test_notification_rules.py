"""The notification rules: who gets which kinds by email, retry delays, and the email's content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.notifications import (
    ALL_KINDS,
    EmailFacts,
    NotificationKind,
    check_email_kinds,
    compose_email,
    email_kinds,
    email_retry_delay,
    facts_from_data,
    incident_link,
    wants_email,
)


def test_a_user_who_never_chose_gets_every_kind_by_email():
    assert email_kinds(None) == frozenset(ALL_KINDS)
    assert email_kinds([]) == frozenset()
    assert email_kinds(["SLA_BREACHED", "RETIRED_KIND"]) == {NotificationKind.SLA_BREACHED}


def test_wanting_an_email_follows_the_choice():
    assert wants_email("ESCALATED", None)
    assert not wants_email("ESCALATED", ["ASSIGNED"])
    assert wants_email("ASSIGNED", ["ASSIGNED"])


def test_a_choice_is_stored_deduplicated_in_a_fixed_order_and_unknown_kinds_are_refused():
    assert check_email_kinds(["SLA_BREACHED", "ASSIGNED", "ASSIGNED"]) == ["ASSIGNED", "SLA_BREACHED"]
    with pytest.raises(InvalidInput) as refused:
        check_email_kinds(["ASSIGNED", "birthday"])
    assert refused.value.field == "emailKinds"


def test_retries_back_off_from_30_seconds_to_an_hour():
    assert [email_retry_delay(n) for n in (1, 2, 3, 5)] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=8),
    ]
    assert email_retry_delay(20) == timedelta(hours=1)


def test_an_email_carries_every_fact_in_both_bodies_and_escapes_them_in_html():
    facts = EmailFacts(
        subject="Escalated: <script> on db-01",
        body="Escalated & waiting",
        kind="ESCALATED",
        company="Acme <Ltd>",
        incident_title="DiskFull on db-01",
        asset="db-01",
        severity="critical",
        status="IN_PROGRESS",
        priority=92,
        sla_deadline=datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
        explanation='No runbook matches "DiskFull"',
        link="https://aw.example.com/incidents/abc?x=1&y=2",
    )

    message = compose_email(facts, "dana@example.com", "notification-9")

    assert message.to == ("dana@example.com",)
    assert message.subject == "[Acme <Ltd>] Escalated: <script> on db-01"
    assert message.idempotency_key == "notification-9"
    for line in (
        "Severity      critical",
        "Status        in progress",
        "Priority      92/100",
        "SLA deadline  2026-12-24 18:00 UTC",
        'Decision      No runbook matches "DiskFull"',
        "Open the incident: https://aw.example.com/incidents/abc?x=1&y=2",
    ):
        assert line in message.text
    assert message.html is not None
    assert "Acme &lt;Ltd&gt;" in message.html
    assert "<td>No runbook matches &quot;DiskFull&quot;</td>" in message.html
    assert 'href="https://aw.example.com/incidents/abc?x=1&amp;y=2"' in message.html
    assert "<script>" not in message.html


def test_missing_facts_leave_their_lines_out():
    message = compose_email(EmailFacts("s", "b", "ASSIGNED", "Acme"), "x@example.com", "k")
    assert "Priority" not in message.text
    assert "Open the incident" not in message.text
    assert "<a " not in (message.html or "")


def test_a_producer_s_facts_are_read_from_its_data():
    assert facts_from_data(
        {"explanation": "why", "sla_deadline": "2026-12-24T18:00:00+00:00", "severity": 3, "junk": "x"}
    ) == {"explanation": "why", "sla_deadline": datetime(2026, 12, 24, 18, 0, tzinfo=UTC)}
    assert facts_from_data({"sla_deadline": "not a time"}) == {}


def test_links_need_a_public_url():
    assert incident_link(None, "abc") is None
    assert incident_link("https://aw.example.com/", "abc") == "https://aw.example.com/incidents/abc"

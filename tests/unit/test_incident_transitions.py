"""Manual incident transitions: acknowledge, resolve, reopen."""

from datetime import UTC, datetime

import pytest

from domain.errors import DomainError, InvalidTransition
from domain.incidents import (
    TRANSITIONS,
    IncidentAction,
    IncidentChangeKind,
    IncidentEventKind,
    IncidentStatus,
    acknowledge,
    manual_change,
    reopen,
    resolve,
    transition,
)

S = IncidentStatus


@pytest.mark.parametrize("status", [S.NEW, S.IN_PROGRESS, S.ESCALATED, S.WAITING_ON_CLIENT])
def test_acknowledge_from_open_statuses_gives_acknowledged(status: IncidentStatus) -> None:
    # given an open, unacknowledged incident / when acknowledged / then
    assert acknowledge(status) is S.ACKNOWLEDGED


@pytest.mark.parametrize("status", [S.ACKNOWLEDGED, S.RESOLVED])
def test_acknowledge_from_acknowledged_or_resolved_is_refused(status: IncidentStatus) -> None:
    # given an acknowledged or resolved incident / when acknowledged again
    with pytest.raises(InvalidTransition) as caught:
        acknowledge(status)
    # then the client sees the code, field and message
    assert caught.value.code == "INVALID_TRANSITION"
    assert caught.value.field == "status"
    assert caught.value.message == f"cannot acknowledge an incident that is {status.value}"
    assert isinstance(caught.value, DomainError)


@pytest.mark.parametrize("status", [S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED, S.WAITING_ON_CLIENT])
def test_resolve_from_any_open_status_gives_resolved(status: IncidentStatus) -> None:
    assert resolve(status) is S.RESOLVED


def test_resolve_a_resolved_incident_is_refused() -> None:
    with pytest.raises(InvalidTransition) as caught:
        resolve(S.RESOLVED)
    assert caught.value.message == "cannot resolve an incident that is RESOLVED"


def test_reopen_a_resolved_incident_gives_new() -> None:
    assert reopen(S.RESOLVED) is S.NEW


@pytest.mark.parametrize("status", [S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED, S.WAITING_ON_CLIENT])
def test_reopen_an_open_incident_is_refused(status: IncidentStatus) -> None:
    with pytest.raises(InvalidTransition) as caught:
        reopen(status)
    assert caught.value.message == f"cannot reopen an incident that is {status.value}"


def test_transition_table_names_the_timeline_event_of_each_action() -> None:
    # given the table / then each action records its own event kind
    assert {action: rule.event for action, rule in TRANSITIONS.items()} == {
        IncidentAction.ACKNOWLEDGE: IncidentEventKind.ACKNOWLEDGED,
        IncidentAction.START_WORK: IncidentEventKind.WORK_STARTED,
        IncidentAction.ESCALATE: IncidentEventKind.ESCALATED,
        IncidentAction.WAIT_ON_CLIENT: IncidentEventKind.WAITING_ON_CLIENT,
        IncidentAction.RESOLVE: IncidentEventKind.MANUALLY_RESOLVED,
        IncidentAction.REOPEN: IncidentEventKind.REOPENED,
    }


def test_status_values_match_the_stored_strings() -> None:
    assert [s.value for s in S] == [
        "NEW",
        "ACKNOWLEDGED",
        "IN_PROGRESS",
        "RESOLVED",
        "ESCALATED",
        "WAITING_ON_CLIENT",
    ]


# Every open status an action is allowed from, and where it leads (the lifecycle the next issues use).
LIFECYCLE = [
    (IncidentAction.START_WORK, [S.NEW, S.ACKNOWLEDGED, S.ESCALATED, S.WAITING_ON_CLIENT], S.IN_PROGRESS),
    (IncidentAction.ESCALATE, [S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.WAITING_ON_CLIENT], S.ESCALATED),
    (IncidentAction.WAIT_ON_CLIENT, [S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED], S.WAITING_ON_CLIENT),
]


@pytest.mark.parametrize(("action", "sources", "target"), LIFECYCLE)
def test_work_escalate_and_wait_lead_where_they_say_from_exactly_their_sources(
    action, sources, target
) -> None:
    for status in S:
        if status in sources:
            assert transition(status, action) is target
        else:
            with pytest.raises(InvalidTransition):
                transition(status, action)


def test_a_manual_resolve_of_a_flapping_incident_closes_alerts_and_stops_the_flapping() -> None:
    # given a flapping incident in progress / when resolved by hand with a note
    now = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    change = manual_change(S.IN_PROGRESS, True, None, IncidentAction.RESOLVE, "rebooted", now)

    # then the whole change is described: status, timeline, outbox kind, alerts to close
    assert change.status is S.RESOLVED
    assert [(e.kind, e.data) for e in change.events] == [
        (IncidentEventKind.MANUALLY_RESOLVED, {"from": "IN_PROGRESS", "to": "RESOLVED", "note": "rebooted"}),
        (IncidentEventKind.FLAPPING_STOPPED, {}),
    ]
    assert (change.change_kind, change.resolved, change.close_alerts, change.resolved_at) == (
        IncidentChangeKind.RESOLVED,
        True,
        True,
        now,
    )


def test_waiting_on_the_client_keeps_the_incident_open_and_its_alerts() -> None:
    now = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    change = manual_change(S.ACKNOWLEDGED, False, None, IncidentAction.WAIT_ON_CLIENT, None, now)
    assert (change.status, change.change_kind, change.close_alerts, change.acknowledged) == (
        S.WAITING_ON_CLIENT,
        IncidentChangeKind.UPDATED,
        False,
        False,
    )
    assert [(e.kind, e.data) for e in change.events] == [
        (IncidentEventKind.WAITING_ON_CLIENT, {"from": "ACKNOWLEDGED", "to": "WAITING_ON_CLIENT"})
    ]


def test_a_reopen_clears_the_resolution_time() -> None:
    now = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    change = manual_change(S.RESOLVED, False, now, IncidentAction.REOPEN, None, now)
    assert (change.status, change.resolved_at, change.close_alerts) == (S.NEW, None, False)

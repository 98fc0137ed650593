"""Manual incident transitions: acknowledge, resolve, reopen."""

import pytest

from domain.errors import DomainError, InvalidTransition
from domain.incidents import (
    TRANSITIONS,
    IncidentAction,
    IncidentEventKind,
    IncidentStatus,
    acknowledge,
    reopen,
    resolve,
)

S = IncidentStatus


@pytest.mark.parametrize("status", [S.NEW, S.IN_PROGRESS, S.ESCALATED])
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


@pytest.mark.parametrize("status", [S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED])
def test_resolve_from_any_open_status_gives_resolved(status: IncidentStatus) -> None:
    assert resolve(status) is S.RESOLVED


def test_resolve_a_resolved_incident_is_refused() -> None:
    with pytest.raises(InvalidTransition) as caught:
        resolve(S.RESOLVED)
    assert caught.value.message == "cannot resolve an incident that is RESOLVED"


def test_reopen_a_resolved_incident_gives_new() -> None:
    assert reopen(S.RESOLVED) is S.NEW


@pytest.mark.parametrize("status", [S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED])
def test_reopen_an_open_incident_is_refused(status: IncidentStatus) -> None:
    with pytest.raises(InvalidTransition) as caught:
        reopen(status)
    assert caught.value.message == f"cannot reopen an incident that is {status.value}"


def test_transition_table_names_the_timeline_event_of_each_action() -> None:
    # given the table / then each action records its own event kind
    assert {action: rule.event for action, rule in TRANSITIONS.items()} == {
        IncidentAction.ACKNOWLEDGE: IncidentEventKind.ACKNOWLEDGED,
        IncidentAction.RESOLVE: IncidentEventKind.MANUALLY_RESOLVED,
        IncidentAction.REOPEN: IncidentEventKind.REOPENED,
    }


def test_status_values_match_the_stored_strings() -> None:
    assert [s.value for s in S] == ["NEW", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "ESCALATED"]

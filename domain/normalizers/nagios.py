"""Nagios (and Naemon) notifications posted by the notification command documented in
docs/integrations/nagios.md: a JSON object whose keys are the macro names without `$`
(`"HOSTNAME": "$HOSTNAME$"`). Icinga 2 has the same model under other names, so `icinga.py` reuses
`normalize_check` with its own `CheckMacros`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.alerts import NormalizedAlert, Severity, Tool
from domain.normalizers.base import (
    MAX_ASSET_NAME,
    MAX_MESSAGE,
    MAX_SIGNATURE,
    FieldErrors,
    Fields,
    NormalizeContext,
    event_time,
    hashed_fingerprint,
    make_alert,
)

HOST_SIGNATURE = "host_down"  # the signature of host notifications (no service), firing or not
SERVICE_STATES = {
    "OK": Severity.LOW,
    "WARNING": Severity.MEDIUM,
    "UNKNOWN": Severity.MEDIUM,
    "CRITICAL": Severity.CRITICAL,
}
HOST_STATES = {"UP": Severity.LOW, "DOWN": Severity.CRITICAL, "UNREACHABLE": Severity.HIGH}


@dataclass(frozen=True, slots=True)
class CheckMacros:
    """The payload keys one monitoring core uses for each part of a notification."""

    notification_type: str
    # PROBLEM opens, RECOVERY resolves; the rest (acknowledgements, flapping, downtime, custom)
    # change nothing about the alert and give no alert.
    ignored_types: tuple[str, ...]
    host_name: str
    host_address: str
    host_state: str
    host_output: str
    host_state_change: str
    service_name: str
    service_state: str
    service_output: str
    service_state_change: str
    notified_at: str
    problem_id: str | None = None
    last_problem_id: str | None = None
    host_problem_id: str | None = None
    last_host_problem_id: str | None = None


NAGIOS = CheckMacros(
    notification_type="NOTIFICATIONTYPE",
    ignored_types=(
        "ACKNOWLEDGEMENT",
        "FLAPPINGSTART",
        "FLAPPINGSTOP",
        "FLAPPINGDISABLED",
        "DOWNTIMESTART",
        "DOWNTIMEEND",
        "DOWNTIMECANCELLED",
        "CUSTOM",
    ),
    host_name="HOSTNAME",
    host_address="HOSTADDRESS",
    host_state="HOSTSTATE",
    host_output="HOSTOUTPUT",
    host_state_change="LASTHOSTSTATECHANGE",
    service_name="SERVICEDESC",
    service_state="SERVICESTATE",
    service_output="SERVICEOUTPUT",
    service_state_change="LASTSERVICESTATECHANGE",
    notified_at="TIMET",
    problem_id="SERVICEPROBLEMID",
    last_problem_id="LASTSERVICEPROBLEMID",
    host_problem_id="HOSTPROBLEMID",
    last_host_problem_id="LASTHOSTPROBLEMID",
)


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    return normalize_check(payload, ctx, Tool.NAGIOS, NAGIOS)


def normalize_check(
    payload: Any, ctx: NormalizeContext, tool: Tool, macros: CheckMacros
) -> list[NormalizedAlert]:
    errors = FieldErrors()
    fields = Fields.of(payload, "", errors)
    errors.raise_if_any()
    kinds = {"PROBLEM": False, "RECOVERY": True, **dict.fromkeys(macros.ignored_types, None)}
    kind_word = fields.text(macros.notification_type, required=True)
    if kind_word is not None and kind_word.upper() not in kinds:
        errors.add(macros.notification_type, f"must be one of {', '.join(kinds)}")
    errors.raise_if_any()
    resolved = kinds.get((kind_word or "").upper())
    if resolved is None:
        return []  # acknowledgement, flapping, downtime or custom: nothing to open or close
    asset_name = fields.text(macros.host_name, required=True, max_len=MAX_ASSET_NAME)
    service = fields.text(macros.service_name, max_len=MAX_SIGNATURE)
    if service is not None:
        state_key, states = macros.service_state, SERVICE_STATES
        output_key, change_key = macros.service_output, macros.service_state_change
        id_key = macros.last_problem_id if resolved else macros.problem_id
    else:
        state_key, states = macros.host_state, HOST_STATES
        output_key, change_key = macros.host_output, macros.host_state_change
        id_key = macros.last_host_problem_id if resolved else macros.host_problem_id
    state = fields.text(state_key, required=True)
    if state is not None and state.upper() not in states:
        errors.add(state_key, f"must be one of {', '.join(states)}")
    output = fields.text(output_key, max_len=MAX_MESSAGE)
    when = fields.time(change_key) or fields.time(macros.notified_at)
    problem_id = fields.text(id_key, numbers=True) if id_key else None
    address = fields.text(macros.host_address)
    errors.raise_if_any()
    if asset_name is None or state is None:
        return []  # unreachable: both were reported above
    signature = service or HOST_SIGNATURE
    return [
        make_alert(
            tool=tool,
            asset_name=asset_name,
            signature=signature,
            severity=states[state.upper()],
            severity_raw=state,
            message=output or f"{signature} is {state}",
            event_time=event_time(ctx, when),
            resolved=resolved,
            # Host + service, not the problem id: a recovery carries the id under another macro
            # (LAST...PROBLEMID), and a template that lacks it must still close the alert.
            fingerprint=hashed_fingerprint(tool, asset_name, signature),
            dedup_key=problem_id if problem_id not in (None, "0") else None,
            tags={"host_address": address} if address else {},
            raw=dict(payload),
        )
    ]

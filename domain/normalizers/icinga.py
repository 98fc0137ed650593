"""Icinga 2 notifications posted by the NotificationCommand documented in
docs/integrations/icinga.md: a JSON object whose keys are the runtime macro names
(`"host.name": "$host.name$"`). Same model as Nagios; see `nagios.normalize_check`."""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Tool
from domain.normalizers.base import NormalizeContext
from domain.normalizers.nagios import CheckMacros, normalize_check

ICINGA = CheckMacros(
    notification_type="notification.type",
    ignored_types=(
        "ACKNOWLEDGEMENT",
        "CUSTOM",
        "FLAPPINGSTART",
        "FLAPPINGEND",
        "DOWNTIMESTART",
        "DOWNTIMEEND",
        "DOWNTIMEREMOVED",
    ),
    host_name="host.name",
    host_address="host.address",
    host_state="host.state",
    host_output="host.output",
    host_state_change="host.last_state_change",
    service_name="service.name",
    service_state="service.state",
    service_output="service.output",
    service_state_change="service.last_state_change",
    notified_at="icinga.timet",
)


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    return normalize_check(payload, ctx, Tool.ICINGA, ICINGA)

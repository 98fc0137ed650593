"""Payload normalisers: each monitoring tool's webhook body, already parsed from JSON, into canonical
`NormalizedAlert`s. Pure functions; anything malformed raises `PayloadError` listing every failing
field, and nothing else is ever raised for any input.

    alerts = normalize(Tool.ALERTMANAGER, payload, NormalizeContext(now=clock.now()))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.alerts import FieldError, NormalizedAlert, PayloadError, Tool
from domain.normalizers import (
    alertmanager,
    cloudwatch,
    datadog,
    generic,
    grafana,
    icinga,
    nagios,
    newrelic,
    pagerduty,
    splunk,
    zabbix,
)
from domain.normalizers.base import NormalizeContext
from domain.normalizers.cloudwatch import sns_envelope_kind

__all__ = ["NormalizeContext", "normalize", "sns_envelope_kind"]

Normalizer = Callable[[Any, NormalizeContext], list[NormalizedAlert]]

NORMALIZERS: Mapping[Tool, Normalizer] = {
    Tool.GENERIC: generic.normalize,
    Tool.ALERTMANAGER: alertmanager.normalize,
    Tool.GRAFANA: grafana.normalize,
    Tool.DATADOG: datadog.normalize,
    Tool.CLOUDWATCH: cloudwatch.normalize,
    Tool.ZABBIX: zabbix.normalize,
    Tool.PAGERDUTY: pagerduty.normalize,
    Tool.NAGIOS: nagios.normalize,
    Tool.ICINGA: icinga.normalize,
    Tool.NEWRELIC: newrelic.normalize,
    Tool.SPLUNK: splunk.normalize,
}


def normalize(tool: Tool, payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    """The alerts in `payload` as sent by `tool`; empty for messages that change no alert state
    (acknowledgements, SNS subscription confirmations, Nagios downtime/flapping, ...)."""
    normalizer = NORMALIZERS.get(tool)
    if normalizer is None:
        raise PayloadError([FieldError("tool", f"must be one of {', '.join(t.value for t in Tool)}")])
    return normalizer(payload, ctx)

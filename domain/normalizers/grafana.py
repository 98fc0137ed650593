"""Grafana alerting webhook contact point: the Alertmanager batch shape plus `orgId`, `title`,
`state`, `message` and per-alert `values` / silence, dashboard and panel URLs."""

from __future__ import annotations

from typing import Any

from domain.alerts import NormalizedAlert, Tool
from domain.normalizers.alertmanager import normalize_batch
from domain.normalizers.base import NormalizeContext


def normalize(payload: Any, ctx: NormalizeContext) -> list[NormalizedAlert]:
    return normalize_batch(payload, ctx, Tool.GRAFANA)

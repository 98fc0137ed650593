"""Webhook routes (filled in by the ingestion area)."""

from __future__ import annotations

from typing import Any


def webhook_routes(settings: Any) -> list[Any]:
    return []

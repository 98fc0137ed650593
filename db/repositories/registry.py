"""Attaches the per-area repositories to a unit of work (one line per area)."""

from __future__ import annotations

from typing import Any


def attach(uow: Any) -> None:
    from db.repositories.assets import AssetRepository

    uow.assets = AssetRepository(uow.session, uow.principal, uow.audit)

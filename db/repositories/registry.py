"""Attaches the per-area repositories to a unit of work (one line per area)."""

from __future__ import annotations

from typing import Any


def attach(uow: Any) -> None:
    from db.repositories.alerts import AlertRepository
    from db.repositories.analyses import AnalysisRepository
    from db.repositories.assets import AssetRepository
    from db.repositories.assignments import AssignmentRepository
    from db.repositories.aws_settings import AwsSettingsRepository
    from db.repositories.deliveries import DeliveryRepository
    from db.repositories.incidents import IncidentRepository
    from db.repositories.maintenance import MaintenanceRepository
    from db.repositories.notifications import NotificationRepository
    from db.repositories.oncall import OnCallRepository
    from db.repositories.runbooks import RunbookRepository
    from db.repositories.signatures import SignatureAliasRepository

    uow.analyses = AnalysisRepository(uow.session, uow.principal)
    uow.assets = AssetRepository(uow.session, uow.principal, uow.audit)
    uow.assignments = AssignmentRepository(uow.session, uow.principal, uow.audit)
    uow.aws = AwsSettingsRepository(uow.session, uow.principal, uow.audit, uow.cipher)
    uow.alerts = AlertRepository(uow.session, uow.principal)
    uow.deliveries = DeliveryRepository(uow.session, uow.principal)
    uow.incidents = IncidentRepository(uow.session, uow.principal, uow.audit)
    uow.maintenance = MaintenanceRepository(uow.session, uow.principal, uow.audit)
    uow.notifications = NotificationRepository(uow.session, uow.principal)
    uow.oncall = OnCallRepository(uow.session, uow.principal, uow.audit)
    uow.runbooks = RunbookRepository(uow.session, uow.principal, uow.audit)
    uow.signature_aliases = SignatureAliasRepository(uow.session, uow.principal, uow.audit)

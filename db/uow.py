"""The unit of work: one transaction, the repositories scoped to the caller, and event publishing.

`async with uow:` commits on success and rolls back on any exception; repositories never commit.
Events published through `publish` are sent by Postgres only if the transaction commits.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.crypto import DataCipher
from db.events import BusEvent
from db.publishing import publish
from db.repositories.audit import AuditRepository
from db.repositories.companies import CompanyRepository
from db.repositories.users import LoginThrottle, UserRepository
from domain.rbac import Principal

if TYPE_CHECKING:
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


class UnitOfWork:
    session: AsyncSession
    # Attached by `db.repositories.registry.attach` (imported late: the areas import this module).
    alerts: AlertRepository
    analyses: AnalysisRepository
    assets: AssetRepository
    assignments: AssignmentRepository
    aws: AwsSettingsRepository
    deliveries: DeliveryRepository
    incidents: IncidentRepository
    maintenance: MaintenanceRepository
    notifications: NotificationRepository
    oncall: OnCallRepository
    runbooks: RunbookRepository
    signature_aliases: SignatureAliasRepository

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        principal: Principal | None,
        cipher: DataCipher,
        request_id: str | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.principal = principal
        self.cipher = cipher
        self.request_id = request_id

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        await self.session.begin()
        self.audit = AuditRepository(self.session, self.principal)
        self.audit.request_id = self.request_id
        self.companies = CompanyRepository(self.session, self.principal, self.audit, self.cipher)
        self.users = UserRepository(self.session, self.principal, self.audit)
        self.login_throttle = LoginThrottle(self.session)
        self._extend()
        return self

    def _extend(self) -> None:
        """Repositories of later areas (assets, alerts, incidents...) attach here."""
        from db.repositories.registry import attach

        attach(self)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def publish(self, event: BusEvent) -> None:
        await publish(self.session, event)

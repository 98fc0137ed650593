"""Companies (tenants): creation with credentials, settings, key rotation with a grace period.

Each change that makes what a process caches of a company stale (its API key, HMAC settings, rate
limit, correlation settings, name, existence) publishes `company_changed` in the change's own
transaction: every process's caches drop the company once it commits, whoever made the change (a
mutation, the CLI, a test, a script through this repository).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from adapters.crypto import DataCipher, api_key_hash, api_key_hint, new_api_key, new_hmac_secret
from db.events import COMPANY_CREDENTIALS, COMPANY_DELETED, COMPANY_SETTINGS, company_changed
from db.pagination import Page, paginate
from db.publishing import publish
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, Membership
from domain.alerts import Tool
from domain.errors import Conflict, InvalidInput, NotFound
from domain.ids import uuid7
from domain.rbac import Permission
from domain.signing import DEFAULT_GRACE_HOURS, grace_hours, signed_tools

SETTINGS_FIELDS = (
    "signed_integrations",
    "rate_limit_per_second",
    "rate_limit_burst",
    "correlation_window_minutes",
    "flap_threshold",
    "flap_window_minutes",
    "auto_resolve_minutes",
    "auto_resolve_tools",
    "llm_analysis_enabled",
    "llm_monthly_token_budget",
    "auto_remediation_enabled",
    "approval_on_critical_assets",
    "approval_expiry_minutes",
    "alert_retention_days",
)


def snapshot(company: Company) -> dict[str, Any]:
    """What the audit log records of a company (never its secrets)."""
    return {"name": company.name, "api_key_hint": company.api_key_hint} | {
        f: _plain(getattr(company, f)) for f in SETTINGS_FIELDS
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _expiry(value: Any) -> str | None:
    """An expiry for the audit log: ISO 8601, or None when the old credential stopped at once."""
    return value.isoformat() if value is not None else None


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("must not be blank", field="name")
    if len(name) > 120:
        raise InvalidInput("must be at most 120 characters", field="name")
    return name


@dataclass(frozen=True, slots=True)
class Credentials:
    """Shown once, at creation or rotation."""

    api_key: str | None
    hmac_secret: str | None


class CompanyRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository, cipher: DataCipher) -> None:
        super().__init__(session, principal)
        self.audit = audit
        self.cipher = cipher

    async def get(self, company_id: uuid.UUID) -> Company | None:
        stmt = self.scope(select(Company), Company.id).where(Company.id == company_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_many(self, ids: list[uuid.UUID]) -> list[Company]:
        stmt = self.scope(select(Company), Company.id).where(Company.id.in_(ids))
        return list((await self.session.execute(stmt)).scalars())

    async def page(self, *, first: int | None, after: str | None, search: str | None = None) -> Page[Company]:
        stmt = self.scope(select(Company), Company.id)
        if search:
            stmt = stmt.where(func.lower(Company.name).contains(search.lower(), autoescape=True))
        return await paginate(
            self.session, stmt, [Company.name, Company.id], first=first, after=after, descending=False
        )

    async def _for_update(self, company_id: uuid.UUID, permission: Permission) -> Company:
        self.require(permission, company_id)
        stmt = select(Company).where(Company.id == company_id, Company.deleted_at.is_(None)).with_for_update()
        company = (await self.session.execute(stmt)).scalar_one_or_none()
        if company is None:
            raise NotFound("company not found", field="id")
        return company

    async def create(self, name: str) -> tuple[Company, Credentials]:
        self.require(Permission.COMPANY_CREATE, None)
        name = check_name(name)
        api_key, secret = new_api_key(), new_hmac_secret()
        company = Company(
            id=uuid7(),
            name=name,
            api_key_hash=api_key_hash(api_key),
            api_key_hint=api_key_hint(api_key),
            hmac_secret_enc=self.cipher.encrypt(secret),
        )
        self.session.add(company)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("a company with this name already exists", field="name", code="DUPLICATE") from exc
        await self.session.refresh(company)
        await self.audit.record(
            "company.create", "company", company.id, company_id=company.id, after=snapshot(company)
        )
        return company, Credentials(api_key=api_key, hmac_secret=secret)

    async def rename(self, company_id: uuid.UUID, name: str) -> Company:
        company = await self._for_update(company_id, Permission.COMPANY_RENAME)
        before = snapshot(company)
        company.name = check_name(name)
        company.updated_at = func.now()
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict("a company with this name already exists", field="name", code="DUPLICATE") from exc
        await self.session.refresh(company)
        await self.audit.record(
            "company.update",
            "company",
            company.id,
            company_id=company.id,
            before=before,
            after=snapshot(company),
        )
        await publish(self.session, company_changed(company.id, COMPANY_SETTINGS))
        return company

    async def update_settings(self, company_id: uuid.UUID, action: str, **changes: Any) -> Company:
        """Apply validated settings changes (None means unchanged) and audit them."""
        company = await self._for_update(company_id, Permission.COMPANY_SETTINGS)
        before = snapshot(company)
        for key, value in changes.items():
            if key not in SETTINGS_FIELDS:
                raise ValueError(key)
            setattr(company, key, value)
        await self._saved(company, action, COMPANY_SETTINGS, before)
        return company

    async def rotate_api_key(
        self, company_id: uuid.UUID, grace: int = DEFAULT_GRACE_HOURS
    ) -> tuple[Company, Credentials]:
        """A new key; the old one keeps working for `grace` hours (0: it stops at once).

        Only one old key is kept: rotating again within the grace period ends the older one.
        """
        grace = grace_hours(grace, "gracePeriodHours")
        company = await self._for_update(company_id, Permission.COMPANY_CREDENTIALS)
        before = snapshot(company)
        api_key = new_api_key()
        if grace:
            company.previous_api_key_hash = company.api_key_hash
            company.previous_api_key_hint = company.api_key_hint
            company.previous_api_key_expires_at = func.now() + timedelta(hours=grace)
        else:
            _forget_previous_key(company)
        company.api_key_hash = api_key_hash(api_key)
        company.api_key_hint = api_key_hint(api_key)
        await self._saved(
            company,
            "company.api_key_rotate",
            COMPANY_CREDENTIALS,
            before,
            lambda c: snapshot(c) | {"previous_key_expires_at": _expiry(c.previous_api_key_expires_at)},
        )
        return company, Credentials(api_key=api_key, hmac_secret=None)

    async def set_webhook_security(
        self,
        company_id: uuid.UUID,
        hmac_enabled: bool | None,
        rotate_secret: bool,
        *,
        integrations: Iterable[tuple[Tool, bool]] = (),
        grace: int = DEFAULT_GRACE_HOURS,
    ) -> tuple[Company, Credentials]:
        """Which integrations require signed requests, and an optional new HMAC secret.

        `hmac_enabled` sets every integration at once (True: all must sign, False: none), then
        `integrations` (tool, require signature) set single tools. A rotated secret's predecessor
        keeps verifying for `grace` hours (0: it stops at once).
        """
        grace = grace_hours(grace, "gracePeriodHours")
        company = await self._for_update(company_id, Permission.COMPANY_CREDENTIALS)
        before = snapshot(company) | {"hmac_secret_rotated": False}
        changes = [(tool, hmac_enabled) for tool in Tool] if hmac_enabled is not None else []
        changes += list(integrations)
        if changes:
            company.signed_integrations = signed_tools(company.signed_integrations or [], changes)
        secret = None
        extra: dict[str, Any] = {"hmac_secret_rotated": rotate_secret}
        if rotate_secret:
            secret = new_hmac_secret()
            if grace:
                company.previous_hmac_secret_enc = company.hmac_secret_enc
                company.previous_hmac_secret_expires_at = func.now() + timedelta(hours=grace)
            else:
                _forget_previous_secret(company)
            company.hmac_secret_enc = self.cipher.encrypt(secret)

        def after(c: Company) -> dict[str, Any]:
            if rotate_secret:
                extra["previous_secret_expires_at"] = _expiry(c.previous_hmac_secret_expires_at)
            return snapshot(c) | extra

        await self._saved(company, "company.webhook_security_update", COMPANY_CREDENTIALS, before, after)
        return company, Credentials(api_key=None, hmac_secret=secret)

    async def end_rotation_grace(self, company_id: uuid.UUID) -> Company:
        """The API key and HMAC secret from before the last rotations stop working now.

        For an admin whose tools have all rolled over before the grace period ends.
        """
        company = await self._for_update(company_id, Permission.COMPANY_CREDENTIALS)
        before = {
            "previous_key_expires_at": _expiry(company.previous_api_key_expires_at),
            "previous_secret_expires_at": _expiry(company.previous_hmac_secret_expires_at),
        }
        _forget_previous_key(company)
        _forget_previous_secret(company)
        await self._saved(
            company,
            "company.rotation_grace_end",
            COMPANY_CREDENTIALS,
            before,
            lambda c: {"previous_key_expires_at": None, "previous_secret_expires_at": None},
        )
        return company

    async def _saved(
        self,
        company: Company,
        action: str,
        kind: str,
        before: dict[str, Any],
        after: Callable[[Company], dict[str, Any]] = snapshot,
    ) -> None:
        """Write a change to `company`, audit it (`after` reads the row as stored) and announce it in
        the same transaction, so every process's caches drop the company once it commits."""
        company.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(company)
        await self.audit.record(
            action, "company", company.id, company_id=company.id, before=before, after=after(company)
        )
        await publish(self.session, company_changed(company.id, kind))

    async def visible_ids(self) -> list[uuid.UUID]:
        stmt = self.scope(select(Company.id), Company.id)
        return list((await self.session.execute(stmt)).scalars())

    async def delete(self, company_id: uuid.UUID) -> Company:
        """Hide the company at once and leave its rows to the purge (`db.company_purge`).

        Its API key stops authenticating (the hash is replaced by one of a key nobody holds), its
        members lose it with their memberships (their next request no longer sees it), and every
        read leaves deleted companies out; the audit entry says who deleted which company.
        """
        company = await self._for_update(company_id, Permission.COMPANY_DELETE)
        before = snapshot(company)
        company.deleted_at = func.now()
        company.api_key_hash = api_key_hash(new_api_key())
        _forget_previous_key(company)
        _forget_previous_secret(company)
        company.updated_at = func.now()
        await self.session.execute(delete(Membership).where(Membership.company_id == company_id))
        await self.session.flush()
        await self.audit.record("company.delete", "company", company.id, company_id=company.id, before=before)
        await publish(self.session, company_changed(company.id, COMPANY_DELETED))
        return company


def _forget_previous_key(company: Company) -> None:
    company.previous_api_key_hash = None
    company.previous_api_key_hint = None
    company.previous_api_key_expires_at = None


def _forget_previous_secret(company: Company) -> None:
    company.previous_hmac_secret_enc = None
    company.previous_hmac_secret_expires_at = None

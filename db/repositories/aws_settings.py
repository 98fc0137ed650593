"""A company's AWS access (`company_aws_settings`): set, read (without secrets), clear, decrypt.

The secret access key and the external id are stored encrypted with the data key and leave this
repository only as a decrypted `AwsAccess` for the AWS adapter; the API and the audit log get
`summary`, which holds no secret.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from adapters.crypto import DataCipher
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, CompanyAwsSettings
from domain.aws import AwsAccess, AwsAuthType
from domain.errors import NotFound
from domain.rbac import Permission


def summary(row: CompanyAwsSettings | None) -> dict[str, Any] | None:
    """What the audit log records (never the secret key or the external id)."""
    if row is None:
        return None
    return {
        "auth_type": row.auth_type,
        "region": row.region,
        "role_arn": row.role_arn,
        "access_key_id_last4": last4(row.access_key_id),
    }


def last4(access_key_id: str | None) -> str | None:
    return access_key_id[-4:] if access_key_id else None


class AwsSettingsRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository, cipher: DataCipher) -> None:
        super().__init__(session, principal)
        self.audit = audit
        self.cipher = cipher

    async def get(self, company_id: uuid.UUID) -> CompanyAwsSettings | None:
        """The company's settings, if the caller may manage them (others: None, as if unset)."""
        stmt = self.scope(
            select(CompanyAwsSettings), CompanyAwsSettings.company_id, Permission.COMPANY_AWS
        ).where(CompanyAwsSettings.company_id == company_id)
        row: CompanyAwsSettings | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    def _require(self, company_id: uuid.UUID) -> None:
        try:
            self.require(Permission.COMPANY_AWS, company_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="companyId") from None

    async def _company(self, company_id: uuid.UUID) -> None:
        self._require(company_id)
        stmt = (
            select(Company.id).where(Company.id == company_id, Company.deleted_at.is_(None)).with_for_update()
        )
        if (await self.session.execute(stmt)).scalar_one_or_none() is None:
            raise NotFound("company not found", field="companyId")

    async def _locked(self, company_id: uuid.UUID) -> CompanyAwsSettings | None:
        stmt = select(CompanyAwsSettings).where(CompanyAwsSettings.company_id == company_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set(self, company_id: uuid.UUID, access: AwsAccess) -> CompanyAwsSettings:
        """Replace the company's settings with `access` (already validated by `domain.aws.check_access`)."""
        await self._company(company_id)
        before = summary(await self._locked(company_id))
        role = access.auth_type is AwsAuthType.ROLE
        values = {
            "auth_type": access.auth_type.value,
            "region": access.region,
            "role_arn": access.role_arn if role else None,
            "external_id_enc": self.cipher.encrypt(access.external_id or "") if role else None,
            "access_key_id": None if role else access.access_key_id,
            "secret_access_key_enc": None if role else self.cipher.encrypt(access.secret_access_key or ""),
        }
        stmt = insert(CompanyAwsSettings).values(company_id=company_id, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CompanyAwsSettings.company_id], set_=values | {"updated_at": func.now()}
        )
        await self.session.execute(stmt)
        row = await self._locked(company_id)
        assert row is not None
        await self.session.refresh(row)
        await self.audit.record(
            "company.aws_update",
            "company",
            company_id,
            company_id=company_id,
            before=before,
            after=summary(row),
        )
        return row

    async def clear(self, company_id: uuid.UUID) -> None:
        await self._company(company_id)
        row = await self._locked(company_id)
        if row is None:
            raise NotFound("no AWS access is set for this company", field="companyId", code="NOT_FOUND")
        before = summary(row)
        await self.session.execute(
            delete(CompanyAwsSettings).where(CompanyAwsSettings.company_id == company_id)
        )
        await self.audit.record(
            "company.aws_clear", "company", company_id, company_id=company_id, before=before
        )

    async def access(self, company_id: uuid.UUID) -> AwsAccess | None:
        """The decrypted access, for the AWS adapter (needs the permission; None when unset)."""
        self._require(company_id)
        row = await self.get(company_id)
        if row is None:
            return None
        return access_of(row, self.cipher)


def access_of(row: CompanyAwsSettings, cipher: DataCipher) -> AwsAccess:
    if row.auth_type == AwsAuthType.ROLE.value:
        return AwsAccess(
            row.region,
            AwsAuthType.ROLE,
            role_arn=row.role_arn,
            external_id=cipher.decrypt(row.external_id_enc) if row.external_id_enc is not None else None,
        )
    return AwsAccess(
        row.region,
        AwsAuthType.ACCESS_KEY,
        access_key_id=row.access_key_id,
        secret_access_key=cipher.decrypt(row.secret_access_key_enc)
        if row.secret_access_key_enc is not None
        else None,
    )

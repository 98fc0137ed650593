"""A company's signature alias groups: scoped reads, creation and deletion (company and MSP admins,
audited), each change re-keying the company's live incidents so their next alerts still find them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from db.correlation import BATCH_LOCK
from db.pagination import Page, paginate
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import Company, SignatureAlias
from domain.correlation import MAX_FLAP_WINDOW, signature_key
from domain.errors import NotFound
from domain.ids import uuid7
from domain.rbac import Permission
from domain.signatures import AliasGroup, alias_rules, check_no_conflict

# The incidents a new alert can still join: open, or resolved recently enough for a refire to reopen
# them (the longest flap window a company can set).
LIVE_INCIDENTS = f"""
SELECT id, asset_id, asset_name, signature, correlation_key FROM incidents
WHERE company_id = :company_id
  AND (status <> 'RESOLVED' OR resolved_at > now() - interval '{int(MAX_FLAP_WINDOW.total_seconds())} seconds')
"""
REKEY = "UPDATE incidents SET correlation_key = :key, canonical_signature = :canonical WHERE id = :id"


def alias_snapshot(row: SignatureAlias) -> dict[str, Any]:
    return {"canonical": row.canonical, "signatures": list(row.signatures)}


class SignatureAliasRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def get(self, alias_id: uuid.UUID) -> SignatureAlias | None:
        stmt = self.readable(SignatureAlias).where(SignatureAlias.id == alias_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        company_id: uuid.UUID | None,
        *,
        unknown_company: bool = False,
        first: int | None,
        after: str | None,
    ) -> Page[SignatureAlias]:
        """Newest first."""
        stmt = self.in_company(
            self.readable(SignatureAlias),
            SignatureAlias.company_id,
            company_id,
            unknown_company,
            Permission.COMPANY_READ,
        )
        return await paginate(
            self.session, stmt, [SignatureAlias.created_at, SignatureAlias.id], first=first, after=after
        )

    async def create(self, company_id: uuid.UUID, group: AliasGroup) -> SignatureAlias:
        """Store a validated group; InvalidInput (ALIAS_CONFLICT) if a signature is in another group."""
        try:
            self.require(Permission.COMPANY_SETTINGS, company_id)
        except NotFound as exc:
            raise NotFound("company not found", field="companyId") from exc
        exists = await self.session.execute(
            select(Company.id).where(Company.id == company_id, Company.deleted_at.is_(None))
        )
        if exists.scalar_one_or_none() is None:
            raise NotFound("company not found", field="companyId")
        # The correlation batch lock: alias changes and the batches that read them take turns, so a
        # batch never keys alerts by rules whose incidents are being re-keyed (and two admins adding
        # groups at once cannot both miss each other's conflict).
        await self.session.execute(text(BATCH_LOCK))
        others = await self._groups(company_id)
        check_no_conflict(group, others)
        principal = self._principal()
        row = SignatureAlias(
            id=uuid7(),
            company_id=company_id,
            canonical=group.canonical,
            signatures=list(group.signatures),
            problems=list(group.problems),
            created_by=None if principal.is_system else principal.user_id,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        await self._rekey(company_id, [*others, (row.canonical, row.problems)])
        await self.audit.record(
            "signature_alias.create",
            "signature_alias",
            row.id,
            company_id=company_id,
            after=alias_snapshot(row),
        )
        return row

    async def delete(self, alias_id: uuid.UUID) -> SignatureAlias:
        row = await self.get(alias_id)
        if row is None:
            raise NotFound("signature alias not found", field="id")
        self.require(Permission.COMPANY_SETTINGS, row.company_id, what="signature alias")
        await self.session.execute(text(BATCH_LOCK))
        before = alias_snapshot(row)
        await self.session.delete(row)
        await self.session.flush()
        await self._rekey(row.company_id, await self._groups(row.company_id))
        await self.audit.record(
            "signature_alias.delete", "signature_alias", row.id, company_id=row.company_id, before=before
        )
        return row

    async def _groups(self, company_id: uuid.UUID) -> list[tuple[str, list[str]]]:
        result = await self.session.execute(
            select(SignatureAlias.canonical, SignatureAlias.problems).where(
                SignatureAlias.company_id == company_id
            )
        )
        return [(canonical, list(problems)) for canonical, problems in result.all()]

    async def _rekey(self, company_id: uuid.UUID, groups: list[tuple[str, list[str]]]) -> None:
        """Key the company's live incidents as their next alert will be keyed under `groups`.

        Without it an alert arriving after the change would open a second incident beside the one it
        belongs to. Two live incidents a new group makes one problem keep their ids; the next alert
        joins the latest, and the other still closes through its fingerprints' resolves.
        """
        rules = alias_rules(groups)
        updates = []
        for row in (await self.session.execute(text(LIVE_INCIDENTS), {"company_id": company_id})).all():
            key, canonical = signature_key(row.asset_id, row.asset_name, row.signature, rules)
            if key != row.correlation_key:
                updates.append({"id": row.id, "key": key, "canonical": canonical})
        if updates:
            await self.session.execute(text(REKEY), updates)

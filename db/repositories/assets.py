"""Assets and their dependency topology."""

from __future__ import annotations

import ipaddress
import math
import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from db.pagination import Page, paginate
from db.repositories.audit import AuditRepository
from db.repositories.base import ScopedRepository
from db.tables import PLATFORMS, Asset, AssetDependency, Company
from domain.assets import AssetType
from domain.errors import Conflict, InvalidInput, NotFound
from domain.ids import uuid7
from domain.rbac import Permission

MAX_DEPENDENCIES = 100
MAX_TAGS = 50


def asset_snapshot(asset: Asset, depends_on: list[uuid.UUID] | None = None) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "name": asset.name,
        "type": asset.type,
        "ip_address": asset.ip_address,
        "cloud_instance_id": asset.cloud_instance_id,
        "platform": asset.platform,
        "external_id": asset.external_id,
        "tags": asset.tags,
        "is_critical": asset.is_critical,
    }
    if depends_on is not None:
        snap["depends_on"] = sorted(str(d) for d in depends_on)
    return snap


def _optional_text(value: str | None) -> str | None:
    value = value.strip() if value is not None else None
    return value or None


def _storable(value: str) -> bool:
    # PostgreSQL text and JSONB cannot hold NUL characters; refuse them rather than fail on insert.
    return "\x00" not in value


def _tag_ok(key: str, value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False  # JSONB has no NaN or Infinity
    return (
        isinstance(value, str | int | float | bool)
        and len(key) <= 100
        and len(str(value)) <= 500
        and _storable(key)
        and _storable(str(value))
    )


def validate_asset_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the writable fields (None values are dropped by the caller)."""
    out = dict(fields)
    if "name" in out:
        name = out["name"].strip()
        if not name or len(name) > 255:
            raise InvalidInput("must be 1 to 255 characters", field="name")
        if not _storable(name):
            raise InvalidInput("must not contain NUL characters", field="name")
        out["name"] = name
    if "type" in out and out["type"] not in set(AssetType):
        raise InvalidInput(f"must be one of {', '.join(AssetType)}", field="type")
    if "ip_address" in out:
        out["ip_address"] = _optional_text(out["ip_address"])
        if out["ip_address"] is not None:
            try:
                out["ip_address"] = str(ipaddress.ip_address(out["ip_address"][:64]))
            except ValueError as exc:
                raise InvalidInput("is not a valid IP address", field="ipAddress") from exc
    if "cloud_instance_id" in out:
        out["cloud_instance_id"] = _optional_text(out["cloud_instance_id"])
        if out["cloud_instance_id"] is not None and len(out["cloud_instance_id"]) > 64:
            raise InvalidInput("must be at most 64 characters", field="cloudInstanceId")
        if out["cloud_instance_id"] is not None and not _storable(out["cloud_instance_id"]):
            raise InvalidInput("must not contain NUL characters", field="cloudInstanceId")
    if "platform" in out and out["platform"] not in (None, *PLATFORMS):
        raise InvalidInput(f"must be one of {', '.join(PLATFORMS)}", field="platform")
    if "external_id" in out:
        out["external_id"] = _optional_text(out["external_id"])
        if out["external_id"] is not None and len(out["external_id"]) > 255:
            raise InvalidInput("must be at most 255 characters", field="externalId")
        if out["external_id"] is not None and not _storable(out["external_id"]):
            raise InvalidInput("must not contain NUL characters", field="externalId")
    if "tags" in out:
        tags = out["tags"]
        if not isinstance(tags, dict):
            raise InvalidInput("must be a JSON object of key/value pairs", field="tags")
        if len(tags) > MAX_TAGS or not all(_tag_ok(k, v) for k, v in tags.items()):
            raise InvalidInput(
                f"at most {MAX_TAGS} tags, keys up to 100 and values (text, number or boolean) up to "
                "500 characters",
                field="tags",
            )
    return out


class AssetRepository(ScopedRepository):
    def __init__(self, session: Any, principal: Any, audit: AuditRepository) -> None:
        super().__init__(session, principal)
        self.audit = audit

    async def get(self, asset_id: uuid.UUID) -> Asset | None:
        stmt = self.readable(Asset).where(Asset.id == asset_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_many(self, ids: list[uuid.UUID]) -> list[Asset]:
        return list((await self.session.execute(self.readable(Asset).where(Asset.id.in_(ids)))).scalars())

    async def page(
        self,
        company_id: uuid.UUID,
        *,
        first: int | None,
        after: str | None,
        critical: bool | None = None,
        search: str | None = None,
    ) -> Page[Asset]:
        self.require(Permission.ASSET_READ, company_id)
        stmt = self.readable(Asset).where(Asset.company_id == company_id)
        if critical is not None:
            stmt = stmt.where(Asset.is_critical.is_(critical))
        if search:
            stmt = stmt.where(func.lower(Asset.name).contains(search.lower(), autoescape=True))
        return await paginate(
            self.session, stmt, [Asset.name, Asset.id], first=first, after=after, descending=False
        )

    async def dependencies(self, asset_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        stmt = self.scope(select(AssetDependency), AssetDependency.company_id).where(
            AssetDependency.asset_id.in_(asset_ids)
        )
        out: dict[uuid.UUID, list[uuid.UUID]] = {a: [] for a in asset_ids}
        for dep in (await self.session.execute(stmt)).scalars():
            out[dep.asset_id].append(dep.depends_on_id)
        return out

    async def _reaches(self, company_id: uuid.UUID, starts: list[uuid.UUID], target: uuid.UUID) -> bool:
        """Whether `target` is reachable from any of `starts` along existing dependency edges."""
        seeds = select(Asset.id.label("id")).where(Asset.id.in_(starts)).cte("reach", recursive=True)
        step = (
            select(AssetDependency.depends_on_id)
            .join(seeds, AssetDependency.asset_id == seeds.c.id)
            .where(AssetDependency.company_id == company_id)
        )
        reach = seeds.union(step)  # UNION, not UNION ALL: terminates even on a cyclic graph
        found = await self.session.execute(select(reach.c.id).where(reach.c.id == target).limit(1))
        return found.first() is not None

    async def _set_dependencies(self, asset: Asset, depends_on: list[uuid.UUID]) -> None:
        depends_on = list(dict.fromkeys(depends_on))
        if len(depends_on) > MAX_DEPENDENCIES:
            raise InvalidInput(f"at most {MAX_DEPENDENCIES} dependencies", field="dependsOn")
        if asset.id in depends_on:
            raise InvalidInput("an asset cannot depend on itself", field="dependsOn")
        # Only the asset's own company counts: another tenant's asset is "not found", like a random id.
        found = set(
            (
                await self.session.execute(
                    select(Asset.id).where(Asset.company_id == asset.company_id, Asset.id.in_(depends_on))
                )
            ).scalars()
        )
        if found != set(depends_on):
            raise NotFound("asset not found", field="dependsOn")
        # One topology change per company at a time, so two concurrent edits cannot close a cycle
        # that neither saw on its own.
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"asset-topology:{asset.company_id}", 0)))
        )
        await self.session.execute(delete(AssetDependency).where(AssetDependency.asset_id == asset.id))
        if depends_on:
            # Cascading-failure detection walks these edges, so they must stay acyclic.
            if await self._reaches(asset.company_id, depends_on, asset.id):
                raise InvalidInput("would create a dependency cycle", field="dependsOn")
            await self.session.execute(
                insert(AssetDependency),
                [
                    {"company_id": asset.company_id, "asset_id": asset.id, "depends_on_id": d}
                    for d in depends_on
                ],
            )

    async def _flush(self) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            if "uq_assets_company_external_id" in str(exc.orig):
                raise Conflict(
                    "another asset of this company has this external id", field="externalId", code="DUPLICATE"
                ) from exc
            raise Conflict("an asset with this name already exists", field="name", code="DUPLICATE") from exc

    async def _for_update(self, asset_id: uuid.UUID) -> Asset:
        asset = (
            await self.session.execute(self.readable(Asset).where(Asset.id == asset_id).with_for_update())
        ).scalar_one_or_none()
        if asset is None:
            raise NotFound("asset not found", field="id")
        self.require(Permission.ASSET_WRITE, asset.company_id)
        return asset

    async def create(
        self, company_id: uuid.UUID, fields: dict[str, Any], depends_on: list[uuid.UUID]
    ) -> Asset:
        company = await self.session.execute(
            self.scope(select(Company.id), Company.id).where(Company.id == company_id)
        )
        if company.first() is None:
            raise NotFound("company not found", field="companyId")
        self.require(Permission.ASSET_WRITE, company_id)
        fields = validate_asset_fields(fields)
        asset = Asset(id=uuid7(), company_id=company_id, **fields)
        self.session.add(asset)
        await self._flush()
        await self._set_dependencies(asset, depends_on)
        await self.session.refresh(asset)
        await self.audit.record(
            "asset.create",
            "asset",
            asset.id,
            company_id=company_id,
            after=asset_snapshot(asset, list(dict.fromkeys(depends_on))),
        )
        return asset

    async def update(
        self, asset_id: uuid.UUID, fields: dict[str, Any], depends_on: list[uuid.UUID] | None
    ) -> Asset:
        asset = await self._for_update(asset_id)
        before = asset_snapshot(asset, (await self.dependencies([asset.id]))[asset.id])
        for key, value in validate_asset_fields(fields).items():
            setattr(asset, key, value)
        # An edited discovered asset has been looked at by a person: it is inventory now.
        asset.discovered = False if fields else asset.discovered
        asset.updated_at = func.now()
        await self._flush()
        if depends_on is not None:
            await self._set_dependencies(asset, depends_on)
        await self.session.refresh(asset)
        after = asset_snapshot(asset, (await self.dependencies([asset.id]))[asset.id])
        await self.audit.record(
            "asset.update", "asset", asset.id, company_id=asset.company_id, before=before, after=after
        )
        return asset

    async def delete(self, asset_id: uuid.UUID) -> Asset:
        asset = await self._for_update(asset_id)
        before = asset_snapshot(asset, (await self.dependencies([asset.id]))[asset.id])
        await self.session.delete(asset)
        await self.session.flush()
        await self.audit.record("asset.delete", "asset", asset.id, company_id=asset.company_id, before=before)
        return asset

"""Asset mutations: create, update and delete monitored assets and their dependency topology."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from db.repositories.assets import MAX_DEPENDENCIES
from domain.errors import InvalidInput
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    UserError,
    from_global_id,
    mutate,
    to_global_id,
)
from graph.enums import AssetType
from graph.platform.types import EXTERNAL_ID_DESCRIPTION, Asset, asset_type
from graph.remediation.platforms import Platform


def _dependency_ids(ids: list[strawberry.ID]) -> list[Any]:
    if len(ids) > MAX_DEPENDENCIES:
        raise InvalidInput(f"at most {MAX_DEPENDENCIES} dependencies", field="dependsOn")
    return [from_global_id(i, "Asset", field="dependsOn") for i in ids]


@strawberry.input(description="A new asset of one company.")
class AssetCreateInput:
    company_id: strawberry.ID = strawberry.field(description="Global ID of the company that owns the asset.")
    name: str = strawberry.field(
        description="Name as monitoring tools report it (1-255 characters, unique per company)."
    )
    type: AssetType = strawberry.field(default=AssetType.SERVER, description="What kind of thing it is.")
    ip_address: str | None = strawberry.field(default=None, description="IPv4 or IPv6 address.")
    cloud_instance_id: str | None = strawberry.field(
        default=None, description="Cloud instance id, the AWS SSM target (up to 64 characters)."
    )
    platform: Platform | None = strawberry.field(
        default=None, description="Its operating system (which runbooks can run on it); null if unknown."
    )
    external_id: str | None = strawberry.field(
        default=None, description=EXTERNAL_ID_DESCRIPTION + " Up to 255 characters, unique per company."
    )
    tags: JSON | None = strawberry.field(
        default=None, description="Key/value tags: a JSON object of at most 50 entries."
    )
    is_critical: bool = strawberry.field(
        default=False, description="Critical assets add 20 to incident priority."
    )
    depends_on: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Global IDs of assets of the same company this one depends on (at most 100).",
    )


@strawberry.type(description="Result of `assetCreate`.")
class AssetCreatePayload:
    asset: Asset | None = strawberry.field(default=None, description="The new asset.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def asset_create(
    info: strawberry.Info,
    input: Annotated[AssetCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> AssetCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        depends_on = _dependency_ids(input.depends_on)
        fields = {
            "name": input.name,
            "type": input.type.value,
            "ip_address": input.ip_address,
            "cloud_instance_id": input.cloud_instance_id,
            "platform": input.platform.name if input.platform else None,
            "external_id": input.external_id,
            "tags": {} if input.tags is None else input.tags,
            "is_critical": input.is_critical,
        }
        row = await uow.assets.create(company_id, fields, depends_on)
        return {"asset": asset_type(row)}

    return await mutate(info, work, AssetCreatePayload)


@strawberry.input(description="Asset fields to change; omitted fields stay as they are.")
class AssetUpdateInput:
    id: strawberry.ID = strawberry.field(description="Asset global ID.")
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="New unique name (null keeps it)."
    )
    type: AssetType | None = strawberry.field(
        default=strawberry.UNSET, description="New type (null keeps it)."
    )
    ip_address: str | None = strawberry.field(
        default=strawberry.UNSET, description="New IP address; null clears it."
    )
    cloud_instance_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New cloud instance id; null clears it."
    )
    platform: Platform | None = strawberry.field(
        default=strawberry.UNSET, description="New operating system; null clears it."
    )
    external_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New external id (see `Asset.externalId`); null clears it."
    )
    tags: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement tags object (null keeps them)."
    )
    is_critical: bool | None = strawberry.field(
        default=strawberry.UNSET, description="New criticality (null keeps it)."
    )
    depends_on: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Replacement dependency list; [] removes all, null keeps them."
    )


@strawberry.type(description="Result of `assetUpdate`.")
class AssetUpdatePayload:
    asset: Asset | None = strawberry.field(default=None, description="The asset after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _update_fields(
    input: Annotated[AssetUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("name", "type", "tags", "is_critical"):
        value = getattr(input, key)
        if value is not strawberry.UNSET and value is not None:
            fields[key] = value.value if key == "type" else value
    for key in ("ip_address", "cloud_instance_id", "external_id"):  # nullable: an explicit null clears them
        value = getattr(input, key)
        if value is not strawberry.UNSET:
            fields[key] = value
    if input.platform is not strawberry.UNSET:
        fields["platform"] = input.platform.name if input.platform else None
    return fields


async def asset_update(
    info: strawberry.Info,
    input: Annotated[AssetUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> AssetUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        asset_id = from_global_id(input.id, "Asset")
        depends_on = (
            None if input.depends_on in (None, strawberry.UNSET) else _dependency_ids(input.depends_on)
        )
        row = await uow.assets.update(asset_id, _update_fields(input), depends_on)
        return {"asset": asset_type(row)}

    return await mutate(info, work, AssetUpdatePayload)


@strawberry.input(description="Which asset to delete.")
class AssetDeleteInput:
    id: strawberry.ID = strawberry.field(description="Asset global ID.")


@strawberry.type(description="Result of `assetDelete`.")
class AssetDeletePayload:
    asset: Asset | None = strawberry.field(
        default=None, description="The asset as it was before deletion (it no longer depends on anything)."
    )
    deleted_asset_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the deleted asset."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def asset_delete(
    info: strawberry.Info,
    input: Annotated[AssetDeleteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> AssetDeletePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.assets.delete(from_global_id(input.id, "Asset"))
        return {"asset": asset_type(row), "deleted_asset_id": to_global_id("Asset", row.id)}

    return await mutate(info, work, AssetDeletePayload)

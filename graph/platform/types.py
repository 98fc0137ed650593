"""GraphQL types of the platform area: users, companies, assets, audit entries."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from db import tables
from graph.core import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, Node, connection, to_global_id
from graph.enums import AssetType, Category, MonitoringTool
from graph.incidents.loaders import loaders_for
from graph.remediation.platforms import Platform

if TYPE_CHECKING:
    from graph.platform.aws import CompanyAws
    from graph.platform.integrations import WebhookIntegration


@strawberry.enum(description="What a user may do: see the permission matrix in the README.")
class Role(enum.Enum):
    MSP_ADMIN = strawberry.enum_value(
        "msp_admin", description="MSP staff: every permission on every company, and the runbook library."
    )
    COMPANY_ADMIN = strawberry.enum_value(
        "company_admin",
        description="Manages the companies they belong to: users, assets, settings, keys, runbooks.",
    )
    TECHNICIAN = strawberry.enum_value(
        "technician", description="Works the incidents of the companies they belong to; reads the rest."
    )


@strawberry.type(description="A person who signs in.")
class User(Node):
    email: str = strawberry.field(description="Sign-in email, unique.")
    name: str = strawberry.field(description="Display name.")
    role: Role = strawberry.field(description="The user's role.")
    category: Category | None = strawberry.field(
        description="Technician skill category; null for none.",
        deprecation_reason="A technician has several skills: read `skills`.",
    )
    on_call: bool = strawberry.field(
        description="The technician's old on-call flag.",
        deprecation_reason="On call is a matter of schedules: read `onCallNow(companyId:)`.",
    )
    skills: list[Category] = strawberry.field(
        description="The alert categories the technician handles (empty for admins)."
    )
    timezone: str = strawberry.field(description="IANA time zone the person works in.")
    max_concurrent_incidents: int = strawberry.field(
        description="Open incidents the technician takes at most; automatic assignment skips them at it."
    )
    assignable: bool = strawberry.field(
        description="Whether the technician takes new incidents (false: on leave, training...)."
    )
    last_assigned_at: datetime | None = strawberry.field(
        description="When an incident was last assigned to them (ties go to who waited longest)."
    )
    active: bool = strawberry.field(
        description="Whether the user may sign in (false once deactivated, see `userDeactivate`)."
    )
    created_at: datetime = strawberry.field(description="When the account was created.")
    _row: strawberry.Private[Any]

    @strawberry.field(description="Companies this user works for (empty for MSP admins, who see all).")
    async def companies(self, info: strawberry.Info) -> list[Company]:
        loaders = await loaders_for(info)
        ids = await loaders.user_companies.load(self._row.id)
        return [company_type(c) for c in await loaders.company.load_many(ids) if c is not None]


def user_type(row: tables.User) -> User:
    return User(
        id=to_global_id("User", row.id),
        email=row.email,
        name=row.name,
        role=Role(row.role),
        category=Category(row.category) if row.category else None,
        on_call=row.on_call,
        skills=[Category(v) for v in row.skills or []],
        timezone=row.timezone,
        max_concurrent_incidents=row.max_concurrent_incidents,
        assignable=row.assignable,
        last_assigned_at=row.last_assigned_at,
        active=row.is_active,
        created_at=row.created_at,
        _row=row,
    )


@strawberry.type(description="How a company's webhooks are authenticated.")
class WebhookSecurity:
    hmac_enabled: bool = strawberry.field(
        description="Whether any integration requires X-Timestamp and X-Signature.",
        deprecation_reason="Signing is set per integration: read `Company.integrations`.",
    )
    api_key_hint: str = strawberry.field(description="The first characters of the current API key.")
    previous_api_key_hint: str | None = strawberry.field(
        description="The first characters of the key before the last rotation, while it still works."
    )
    previous_api_key_expires_at: datetime | None = strawberry.field(
        description="When the key before the last rotation stops working; null when it already has."
    )
    previous_hmac_secret_expires_at: datetime | None = strawberry.field(
        description="When the HMAC secret before the last rotation stops verifying; null when it already has."
    )


@strawberry.type(description="Per-company webhook rate limit (token bucket shared by all server processes).")
class RateLimit:
    per_second: float = strawberry.field(description="Sustained alerts accepted per second.")
    burst: int = strawberry.field(description="Bucket size: how many alerts may arrive at once.")


@strawberry.type(description="How a company's alerts are grouped into incidents.")
class CorrelationConfig:
    window_minutes: int = strawberry.field(
        description="Alerts of one asset+signature within this many minutes join one incident (5-15)."
    )
    flap_threshold: int = strawberry.field(
        description="More fire/resolve cycles than this within the flap window mark an incident flapping."
    )
    flap_window_minutes: int = strawberry.field(description="The flap detection window in minutes.")
    auto_resolve_minutes: int | None = strawberry.field(
        description="Quiet minutes after which incidents from tools that never resolve are resolved; null disables."
    )
    auto_resolve_tools: list[MonitoringTool] = strawberry.field(
        description="Tools whose incidents auto-resolve (tools that never send a resolve)."
    )


@strawberry.type(
    description="A client company of the MSP: the tenant every alert, asset and incident belongs to."
)
class Company(Node):
    name: str = strawberry.field(description="Unique company name.")
    created_at: datetime = strawberry.field(description="When the company was created.")
    webhook_security: WebhookSecurity = strawberry.field(description="Webhook authentication settings.")
    rate_limit: RateLimit = strawberry.field(description="Webhook rate limit.")
    correlation: CorrelationConfig = strawberry.field(description="Correlation settings.")
    alert_retention_days: int = strawberry.field(
        description="Alerts received longer ago than this many days are deleted (except those of an "
        "incident still open, and alerts not yet correlated); see `companyRetentionUpdate`."
    )
    _row: strawberry.Private[Any]

    @strawberry.field(
        description="Its integrations, one per monitoring tool's ingest URL, with whether each must sign."
    )
    def integrations(
        self,
    ) -> list[Annotated[WebhookIntegration, strawberry.lazy("graph.platform.integrations")]]:
        from graph.platform.integrations import integrations_of

        return integrations_of(self._row)

    @strawberry.field(
        description="How the platform reaches the company's AWS account, without secrets (null for "
        "callers who may not manage it)."
    )
    async def aws(
        self, info: strawberry.Info
    ) -> Annotated[CompanyAws, strawberry.lazy("graph.platform.aws")] | None:
        from graph.platform.aws import company_aws

        return await company_aws(info, self._row.id)

    @strawberry.field(description="The company's assets, by name.")
    async def assets(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
        critical: Annotated[
            bool | None,
            strawberry.argument(description="Only critical (true) or non-critical (false) assets."),
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Case-insensitive name substring.")
        ] = None,
    ) -> Connection[Asset]:
        uow = await info.context.read()
        page = await uow.assets.page(
            self._row.id, first=first, after=after, critical=critical, search=_bounded(search)
        )
        return connection(page, asset_type)


def _bounded(text: str | None, limit: int = 200) -> str | None:
    return text[:limit] if text else None


def _still_valid(expires_at: datetime | None, now: datetime) -> datetime | None:
    return expires_at if expires_at is not None and expires_at > now else None


def webhook_security(row: tables.Company) -> WebhookSecurity:
    now = datetime.now(UTC)
    key_expires = _still_valid(row.previous_api_key_expires_at, now)
    return WebhookSecurity(
        hmac_enabled=bool(row.signed_integrations),
        api_key_hint=row.api_key_hint,
        previous_api_key_hint=row.previous_api_key_hint if key_expires else None,
        previous_api_key_expires_at=key_expires,
        previous_hmac_secret_expires_at=_still_valid(row.previous_hmac_secret_expires_at, now),
    )


def company_type(row: tables.Company) -> Company:
    return Company(
        id=to_global_id("Company", row.id),
        name=row.name,
        created_at=row.created_at,
        webhook_security=webhook_security(row),
        rate_limit=RateLimit(per_second=row.rate_limit_per_second, burst=row.rate_limit_burst),
        correlation=CorrelationConfig(
            window_minutes=row.correlation_window_minutes,
            flap_threshold=row.flap_threshold,
            flap_window_minutes=row.flap_window_minutes,
            auto_resolve_minutes=row.auto_resolve_minutes,
            auto_resolve_tools=[MonitoringTool(t) for t in row.auto_resolve_tools or []],
        ),
        alert_retention_days=row.alert_retention_days,
        _row=row,
    )


EXTERNAL_ID_DESCRIPTION = (
    "The monitoring tools' own id for this asset (a CMDB id, a New Relic entity guid). An alert whose"
    " `asset_id` (webhook) or `assetId` (alertIngest) equals it belongs to this asset, whatever name the"
    " tool reports, so alerts from several tools correlate on it."
)


@strawberry.type(description="A monitored thing: server, database, network device, ...")
class Asset(Node):
    name: str = strawberry.field(description="Asset name as monitoring tools report it (unique per company).")
    type: AssetType = strawberry.field(description="What kind of thing it is.")
    ip_address: str | None = strawberry.field(description="IP address, if known.")
    cloud_instance_id: str | None = strawberry.field(description="Cloud instance id (the AWS SSM target).")
    platform: Platform | None = strawberry.field(
        description="Its operating system: which runbooks can run on it; null if unknown (none can)."
    )
    external_id: str | None = strawberry.field(description=EXTERNAL_ID_DESCRIPTION)
    tags: JSON = strawberry.field(description="Free-form key/value tags.")
    is_critical: bool = strawberry.field(description="Critical assets add 20 to incident priority.")
    discovered: bool = strawberry.field(
        description="Created automatically from an alert naming an unknown asset."
    )
    created_at: datetime = strawberry.field(description="When the asset was created.")
    _row: strawberry.Private[Any]

    @strawberry.field(description="The company that owns the asset.")
    async def company(self, info: strawberry.Info) -> Company | None:
        row = await (await loaders_for(info)).company.load(self._row.company_id)
        return company_type(row) if row else None

    @strawberry.field(description="Assets this asset depends on (topology for cascading-failure detection).")
    async def depends_on(self, info: strawberry.Info) -> list[Asset]:
        loaders = await loaders_for(info)
        ids = await loaders.dependencies.load(self._row.id)
        return [asset_type(a) for a in await loaders.asset.load_many(ids) if a is not None]


def asset_type(row: tables.Asset) -> Asset:
    return Asset(
        id=to_global_id("Asset", row.id),
        name=row.name,
        type=AssetType(row.type),
        ip_address=row.ip_address,
        cloud_instance_id=row.cloud_instance_id,
        platform=Platform[row.platform] if row.platform else None,
        external_id=row.external_id,
        tags=cast(JSON, row.tags or {}),
        is_critical=row.is_critical,
        discovered=row.discovered,
        created_at=row.created_at,
        _row=row,
    )


@strawberry.type(description="One accepted change: who did what, when, with the state before and after.")
class AuditEntry(Node):
    action: str = strawberry.field(description="What was done, e.g. `company.create`, `asset.update`.")
    entity_type: str = strawberry.field(description="Kind of object changed.")
    entity_id: str | None = strawberry.field(description="Its id.")
    company_id: strawberry.ID | None = strawberry.field(
        description="Global ID of the company concerned, if any."
    )
    actor_email: str | None = strawberry.field(
        description="Who did it: the user's email, or for work no user did, the automated or operator"
        " principal's name (`system:cli` for the command line, `system:correlation`...).",
    )
    before: JSON | None = strawberry.field(description="State before the change.")
    after: JSON | None = strawberry.field(description="State after the change.")
    request_id: str | None = strawberry.field(description="Request id, to match server logs.")
    at: datetime = strawberry.field(description="When.")


def audit_type(row: tables.AuditEntry) -> AuditEntry:
    return AuditEntry(
        id=to_global_id("AuditEntry", row.id),
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        company_id=to_global_id("Company", row.company_id) if row.company_id else None,
        actor_email=row.actor_email,
        before=cast(JSON, row.before),
        after=cast(JSON, row.after),
        request_id=row.request_id,
        at=row.at,
    )

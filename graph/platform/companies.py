"""Company queries and mutations: creation, settings, credentials."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from db.retention import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS
from domain.errors import InvalidInput
from domain.signing import DEFAULT_GRACE_HOURS
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    Connection,
    UserError,
    connection,
    from_global_id,
    mutate,
    require_principal,
)
from graph.platform.integrations import WebhookIntegrationSigningInput, signing_changes
from graph.platform.types import Company, company_type


async def companies(
    info: strawberry.Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    search: Annotated[str | None, strawberry.argument(description="Case-insensitive name substring.")] = None,
) -> Connection[Company]:
    require_principal(info)
    page = await (await info.context.read()).companies.page(
        first=first, after=after, search=search[:200] if search else None
    )
    return connection(page, company_type)


async def company(
    info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Company global ID.")]
) -> Company | None:
    require_principal(info)
    try:
        company_id = from_global_id(id, "Company")
    except InvalidInput:
        return None
    except Exception:
        return None
    row = await (await info.context.read()).companies.get(company_id)
    return company_type(row) if row else None


# ---- create / update ----


@strawberry.input(description="A new client company.")
class CompanyCreateInput:
    name: str = strawberry.field(description="Unique company name (1-120 characters).")


@strawberry.type(description="Result of `companyCreate`. The credentials are shown only here, once.")
class CompanyCreatePayload:
    company: Company | None = strawberry.field(default=None, description="The new company.")
    api_key: str | None = strawberry.field(
        default=None, description="Webhook API key (shown once; only its hash is stored)."
    )
    hmac_secret: str | None = strawberry.field(
        default=None, description="Webhook HMAC secret (shown once; stored encrypted)."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_create(
    info: strawberry.Info,
    input: Annotated[CompanyCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row, creds = await uow.companies.create(input.name)
        return {"company": company_type(row), "api_key": creds.api_key, "hmac_secret": creds.hmac_secret}

    return await mutate(info, work, CompanyCreatePayload)


@strawberry.input(description="Company fields to change.")
class CompanyUpdateInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")
    name: str = strawberry.field(description="New unique name.")


@strawberry.type(description="Result of a mutation that changes a company.")
class CompanyPayload:
    company: Company | None = strawberry.field(default=None, description="The company after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_update(
    info: strawberry.Info,
    input: Annotated[CompanyUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyPayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.companies.rename(from_global_id(input.id, "Company"), input.name)
        return {"company": company_type(row)}

    return await mutate(info, work, CompanyPayload)


# ---- credentials ----


GRACE_DESCRIPTION = (
    "How many hours the old {what} keeps working beside the new one, so each tool can be moved over"
    " (0-168, default 24; 0 ends it at once). Only one old {what} is kept: rotating again ends the older one."
)


@strawberry.input(description="Which company's API key to replace.")
class CompanyApiKeyRotateInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")
    grace_period_hours: int = strawberry.field(
        default=DEFAULT_GRACE_HOURS, description=GRACE_DESCRIPTION.format(what="key")
    )


@strawberry.type(
    description="Result of `companyApiKeyRotate`: the new key, shown once. The old key keeps working "
    "until `webhookSecurity.previousApiKeyExpiresAt`."
)
class CompanyApiKeyRotatePayload:
    company: Company | None = strawberry.field(default=None, description="The company.")
    api_key: str | None = strawberry.field(default=None, description="The new API key (shown once).")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_api_key_rotate(
    info: strawberry.Info,
    input: Annotated[CompanyApiKeyRotateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyApiKeyRotatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.id, "Company")
        row, creds = await uow.companies.rotate_api_key(company_id, input.grace_period_hours)
        return {"company": company_type(row), "api_key": creds.api_key}

    return await mutate(info, work, CompanyApiKeyRotatePayload)


@strawberry.input(description="Webhook signing settings: which integrations must sign, and the HMAC secret.")
class CompanyWebhookSecurityUpdateInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")
    hmac_enabled: bool | None = strawberry.field(
        default=None,
        description="Every integration at once: true requires signed requests on all of them, false on "
        "none (omit to keep). `integrations` is applied after it.",
    )
    integrations: list[WebhookIntegrationSigningInput] | None = strawberry.field(
        default=None,
        description="Require signed requests on these integrations, or stop requiring them; the others "
        "keep their setting.",
    )
    rotate_secret: bool = strawberry.field(
        default=False, description="Generate a new HMAC secret (returned once)."
    )
    grace_period_hours: int = strawberry.field(
        default=DEFAULT_GRACE_HOURS,
        description=GRACE_DESCRIPTION.format(what="secret") + " Only read with `rotateSecret`.",
    )


@strawberry.type(description="Result of `companyWebhookSecurityUpdate`.")
class CompanyWebhookSecurityUpdatePayload:
    company: Company | None = strawberry.field(default=None, description="The company.")
    hmac_secret: str | None = strawberry.field(
        default=None, description="The new HMAC secret when rotated (shown once)."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_webhook_security_update(
    info: strawberry.Info,
    input: Annotated[CompanyWebhookSecurityUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyWebhookSecurityUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.id, "Company")
        row, creds = await uow.companies.set_webhook_security(
            company_id,
            input.hmac_enabled,
            input.rotate_secret,
            integrations=signing_changes(input.integrations),
            grace=input.grace_period_hours,
        )
        return {"company": company_type(row), "hmac_secret": creds.hmac_secret}

    return await mutate(info, work, CompanyWebhookSecurityUpdatePayload)


@strawberry.input(description="Which company's rotated-out credentials to stop now.")
class CompanyRotationGraceEndInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")


async def company_rotation_grace_end(
    info: strawberry.Info,
    input: Annotated[CompanyRotationGraceEndInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyPayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.id, "Company")
        row = await uow.companies.end_rotation_grace(company_id)
        return {"company": company_type(row)}

    return await mutate(info, work, CompanyPayload)


@strawberry.input(description="Webhook rate limit (token bucket).")
class CompanyRateLimitUpdateInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")
    per_second: float = strawberry.field(description="Sustained alerts per second (0.01-100000).")
    burst: int = strawberry.field(description="Bucket size (1-1000000).")


async def company_rate_limit_update(
    info: strawberry.Info,
    input: Annotated[CompanyRateLimitUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyPayload:
    async def work(uow: Any) -> dict[str, Any]:
        if not 0.01 <= input.per_second <= 100_000:
            raise InvalidInput("must be between 0.01 and 100000", field="perSecond")
        if not 1 <= input.burst <= 1_000_000:
            raise InvalidInput("must be between 1 and 1000000", field="burst")
        company_id = from_global_id(input.id, "Company")
        row = await uow.companies.update_settings(
            company_id,
            "company.rate_limit_update",
            rate_limit_per_second=input.per_second,
            rate_limit_burst=input.burst,
        )
        return {"company": company_type(row)}

    return await mutate(info, work, CompanyPayload)


@strawberry.input(description="How long a company's alerts are kept.")
class CompanyRetentionUpdateInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")
    alert_retention_days: int = strawberry.field(
        description=f"Keep alerts this many days ({MIN_DAYS}-{MAX_DAYS}; default {DEFAULT_DAYS}). Older ones "
        "are deleted in the background within minutes, except those of an incident still open."
    )


async def company_retention_update(
    info: strawberry.Info,
    input: Annotated[CompanyRetentionUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyPayload:
    async def work(uow: Any) -> dict[str, Any]:
        if not MIN_DAYS <= input.alert_retention_days <= MAX_DAYS:
            raise InvalidInput(f"must be between {MIN_DAYS} and {MAX_DAYS}", field="alertRetentionDays")
        row = await uow.companies.update_settings(
            from_global_id(input.id, "Company"),
            "company.retention_update",
            alert_retention_days=input.alert_retention_days,
        )
        return {"company": company_type(row)}

    return await mutate(info, work, CompanyPayload)


# ---- deletion ----


@strawberry.input(description="Which company to delete, with all its data.")
class CompanyDeleteInput:
    id: strawberry.ID = strawberry.field(description="Company global ID.")


@strawberry.type(description="Result of `companyDelete`.")
class CompanyDeletePayload:
    deleted_company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the deleted company."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_delete(
    info: strawberry.Info,
    input: Annotated[CompanyDeleteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyDeletePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.id, "Company")
        await uow.companies.delete(company_id)
        return {"deleted_company_id": input.id}

    return await mutate(info, work, CompanyDeletePayload)

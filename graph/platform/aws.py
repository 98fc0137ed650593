"""A company's AWS access: `companyAwsUpdate`, `companyAwsClear`, `companyAwsTest`, `Company.aws`.

Secrets go in and never come out: the API shows the auth type, the region, the role ARN or the
access key id's last 4 characters. AWS failures come back as typed `userErrors`, never a stack trace.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry

from db.repositories.aws_settings import last4
from domain.aws import AWS_ERROR_CODES, AwsError, check_access
from domain.errors import DomainError
from domain.rbac import Permission
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    from_global_id,
    mutate,
    require_principal,
    user_error,
)
from graph.platform.types import Company, company_type


@strawberry.enum(description="How the platform signs in to a company's AWS account.")
class AwsAuthType(enum.Enum):
    ROLE = strawberry.enum_value("role", description="An IAM role assumed through STS with an external id.")
    ACCESS_KEY = strawberry.enum_value("access_key", description="An IAM user's access key pair.")


@strawberry.type(description="A company's AWS access, without its secrets.")
class CompanyAws:
    configured: bool = strawberry.field(description="Whether AWS access is set for the company.")
    auth_type: AwsAuthType | None = strawberry.field(default=None, description="Role or access key.")
    region: str | None = strawberry.field(default=None, description="The AWS region commands run in.")
    role_arn: str | None = strawberry.field(default=None, description="The IAM role assumed (role access).")
    access_key_id_last4: str | None = strawberry.field(
        default=None, description="The access key id's last 4 characters (access key access)."
    )
    updated_at: datetime | None = strawberry.field(default=None, description="When it was last set.")


def company_aws_type(row: Any | None) -> CompanyAws:
    if row is None:
        return CompanyAws(configured=False)
    return CompanyAws(
        configured=True,
        auth_type=AwsAuthType(row.auth_type),
        region=row.region,
        role_arn=row.role_arn,
        access_key_id_last4=last4(row.access_key_id),
        updated_at=row.updated_at,
    )


async def company_aws(info: strawberry.Info, company_id: uuid.UUID) -> CompanyAws | None:
    """`Company.aws`: null for a caller who may not manage the company's AWS access."""
    principal = require_principal(info)
    if not principal.can(Permission.COMPANY_AWS, company_id):
        return None
    return company_aws_type(await (await info.context.read()).aws.get(company_id))


@strawberry.enum(description="Why an AWS mutation was refused.")
class CompanyAwsErrorCode(enum.Enum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_REGION = "INVALID_REGION"
    INVALID_ROLE_ARN = "INVALID_ROLE_ARN"
    INVALID_EXTERNAL_ID = "INVALID_EXTERNAL_ID"
    INVALID_ACCESS_KEY_ID = "INVALID_ACCESS_KEY_ID"
    INVALID_SECRET_KEY = "INVALID_SECRET_KEY"
    AUTH_TYPE_CONFLICT = "AUTH_TYPE_CONFLICT"
    AUTH_TYPE_MISSING = "AUTH_TYPE_MISSING"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    AWS_NOT_CONFIGURED = "AWS_NOT_CONFIGURED"
    AWS_ACCESS_DENIED = "AWS_ACCESS_DENIED"
    AWS_INVALID_CREDENTIALS = "AWS_INVALID_CREDENTIALS"
    AWS_THROTTLED = "AWS_THROTTLED"
    AWS_UNAVAILABLE = "AWS_UNAVAILABLE"
    AWS_INVALID_INSTANCE = "AWS_INVALID_INSTANCE"
    AWS_INVALID_DOCUMENT = "AWS_INVALID_DOCUMENT"
    AWS_ERROR = "AWS_ERROR"


assert set(AWS_ERROR_CODES) <= {c.value for c in CompanyAwsErrorCode}


@strawberry.type(description="Why an AWS mutation could not be applied; nothing was changed.")
class CompanyAwsError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: CompanyAwsErrorCode = strawberry.field(description="Machine-readable reason.")


def aws_error(exc: DomainError) -> CompanyAwsError:
    return cast(CompanyAwsError, user_error(exc, CompanyAwsErrorCode, CompanyAwsError))


@strawberry.input(
    description="A company's AWS access: `roleArn` and `externalId` (preferred), or `accessKeyId` and "
    "`secretAccessKey`; the old access is replaced."
)
class CompanyAwsUpdateInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    region: str = strawberry.field(description="AWS region, such as eu-west-1.")
    role_arn: str | None = strawberry.field(default=None, description="IAM role to assume.")
    external_id: str | None = strawberry.field(
        default=None, description="The role's external id (2-1224 characters; stored encrypted, never shown)."
    )
    access_key_id: str | None = strawberry.field(default=None, description="Access key id (AKIA…/ASIA…).")
    secret_access_key: str | None = strawberry.field(
        default=None, description="Secret access key (stored encrypted, never shown)."
    )


@strawberry.type(description="Result of `companyAwsUpdate` and `companyAwsClear`.")
class CompanyAwsPayload:
    company: Company | None = strawberry.field(default=None, description="The company after the change.")
    user_errors: list[CompanyAwsError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_aws_update(
    info: strawberry.Info,
    input: Annotated[CompanyAwsUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyAwsPayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        access = check_access(
            region=input.region,
            role_arn=input.role_arn,
            external_id=input.external_id,
            access_key_id=input.access_key_id,
            secret_access_key=input.secret_access_key,
        )
        await uow.aws.set(company_id, access)
        return {"company": company_type(await uow.companies.get(company_id))}

    return await mutate(info, work, CompanyAwsPayload, aws_error)


@strawberry.input(description="Which company's AWS access to act on.")
class CompanyAwsInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")


async def company_aws_clear(
    info: strawberry.Info,
    input: Annotated[CompanyAwsInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyAwsPayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        await uow.aws.clear(company_id)
        info.context.services.aws.forget(company_id)
        return {"company": company_type(await uow.companies.get(company_id))}

    return await mutate(info, work, CompanyAwsPayload, aws_error)


@strawberry.type(description="Result of `companyAwsTest`: who the company's credentials act as in AWS.")
class CompanyAwsTestPayload:
    account_id: str | None = strawberry.field(default=None, description="The AWS account id.")
    arn: str | None = strawberry.field(
        default=None, description="The identity's ARN (the assumed role's session)."
    )
    user_errors: list[CompanyAwsError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def company_aws_test(
    info: strawberry.Info,
    input: Annotated[CompanyAwsInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> CompanyAwsTestPayload:
    require_principal(info)
    try:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        # The transaction ends before AWS is called: no connection is held while it answers.
        async with info.context.uow() as uow:
            access = await uow.aws.access(company_id)
        if access is None:
            raise AwsError(
                "no AWS access is set for this company", field="companyId", code="AWS_NOT_CONFIGURED"
            )
        account_id, arn = await info.context.services.aws.identity(company_id, access)
    except DomainError as exc:
        return CompanyAwsTestPayload(user_errors=[aws_error(exc)])
    return CompanyAwsTestPayload(account_id=account_id, arn=arn, user_errors=[])

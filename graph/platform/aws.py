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
    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT", description="An input value is malformed; `field` names it."
    )
    INVALID_REGION = strawberry.enum_value("INVALID_REGION", description="Not an AWS region name.")
    INVALID_ROLE_ARN = strawberry.enum_value(
        "INVALID_ROLE_ARN", description="Not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`)."
    )
    INVALID_EXTERNAL_ID = strawberry.enum_value(
        "INVALID_EXTERNAL_ID",
        description="The external id is not 2-1224 characters of letters, digits and +=,.@:/-_.",
    )
    INVALID_ACCESS_KEY_ID = strawberry.enum_value(
        "INVALID_ACCESS_KEY_ID",
        description="Not an access key id (AKIA or ASIA and 16 capital letters or digits).",
    )
    INVALID_SECRET_KEY = strawberry.enum_value(
        "INVALID_SECRET_KEY", description="Not a secret access key (40 characters)."
    )
    AUTH_TYPE_CONFLICT = strawberry.enum_value(
        "AUTH_TYPE_CONFLICT", description="Both a role and an access key were given: choose one."
    )
    AUTH_TYPE_MISSING = strawberry.enum_value(
        "AUTH_TYPE_MISSING",
        description="Neither a complete role (roleArn, externalId) nor a complete access key was given.",
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="The company does not exist or is not visible to the caller."
    )
    PERMISSION_DENIED = strawberry.enum_value(
        "PERMISSION_DENIED", description="The caller may not manage this company's AWS access."
    )
    UNAUTHENTICATED = strawberry.enum_value("UNAUTHENTICATED", description="No valid token.")
    AWS_NOT_CONFIGURED = strawberry.enum_value(
        "AWS_NOT_CONFIGURED", description="The company has no AWS access set up yet."
    )
    AWS_ACCESS_DENIED = strawberry.enum_value(
        "AWS_ACCESS_DENIED",
        description="AWS refused: the role or key lacks a permission, or the role's trust policy refuses us.",
    )
    AWS_INVALID_CREDENTIALS = strawberry.enum_value(
        "AWS_INVALID_CREDENTIALS",
        description="AWS does not accept the access key, or the platform has no credentials to assume the role with.",
    )
    AWS_THROTTLED = strawberry.enum_value(
        "AWS_THROTTLED", description="AWS throttled the request; retry later."
    )
    AWS_UNAVAILABLE = strawberry.enum_value(
        "AWS_UNAVAILABLE",
        description="AWS could not be reached or answered with a server error; retry later.",
    )
    AWS_INVALID_INSTANCE = strawberry.enum_value(
        "AWS_INVALID_INSTANCE",
        description="No instance given, or one that SSM does not know or does not manage.",
    )
    AWS_INVALID_DOCUMENT = strawberry.enum_value(
        "AWS_INVALID_DOCUMENT", description="The SSM document is unknown or refused its parameters."
    )
    AWS_ERROR = strawberry.enum_value(
        "AWS_ERROR", description="AWS refused for another reason; the message says which."
    )


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

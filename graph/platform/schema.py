"""Root fields of the platform area (merged into the schema's Query and Mutation)."""

from __future__ import annotations

import strawberry

from graph.core import Connection
from graph.platform import assets as assets_api
from graph.platform import audit as audit_api
from graph.platform import auth as auth_api
from graph.platform import aws as aws_api
from graph.platform import companies as companies_api
from graph.platform import deliveries as deliveries_api
from graph.platform import technicians as technicians_api
from graph.platform import users as users_api
from graph.platform.types import AuditEntry, Company, User


@strawberry.type
class PlatformQuery:
    me: User = strawberry.field(resolver=auth_api.me, description="The signed-in user.")
    companies: Connection[Company] = strawberry.field(
        resolver=companies_api.companies, description="Companies the caller may see, by name."
    )
    company: Company | None = strawberry.field(
        resolver=companies_api.company,
        description="One company by global ID (null if it does not exist or is not yours).",
    )
    users: Connection[User] = strawberry.field(
        resolver=users_api.users,
        description="Users the caller may see (MSP admins: all; others: members of their companies), by email.",
    )
    technicians: Connection[User] = strawberry.field(
        resolver=users_api.technicians, description="Active technicians the caller may see, by email."
    )
    audit_log: Connection[AuditEntry] = strawberry.field(
        resolver=audit_api.audit_log,
        description="Accepted changes, newest first (admins; technicians get PERMISSION_DENIED).",
    )
    webhook_deliveries: Connection[deliveries_api.WebhookDelivery] = strawberry.field(
        resolver=deliveries_api.webhook_deliveries,
        description="Recent webhook deliveries per company and integration, newest first: each answer's "
        "status and reason (admins; technicians get PERMISSION_DENIED).",
    )
    audit_log_export: audit_api.AuditLogExport = strawberry.field(
        resolver=audit_api.audit_log_export,
        description="The audit log as a CSV or JSON file (admins; technicians get PERMISSION_DENIED).",
    )


@strawberry.type
class PlatformMutation:
    technician_update: technicians_api.TechnicianUpdatePayload = strawberry.mutation(
        resolver=technicians_api.technician_update,
        description="Change a technician's skills, time zone, maximum of open incidents or availability "
        "(their admins, as for `userDeactivate`; technicians their own time zone).",
    )
    login: auth_api.LoginPayload = strawberry.mutation(
        resolver=auth_api.login, description="Sign in; returns a JWT."
    )
    profile_update: auth_api.ProfileUpdatePayload = strawberry.mutation(
        resolver=auth_api.profile_update, description="Change your own name or email."
    )
    password_change: auth_api.PasswordChangePayload = strawberry.mutation(
        resolver=auth_api.password_change, description="Change your own password (needs the current one)."
    )
    company_create: companies_api.CompanyCreatePayload = strawberry.mutation(
        resolver=companies_api.company_create,
        description="Create a client company (MSP admins). Returns its API key and HMAC secret once.",
    )
    company_update: companies_api.CompanyPayload = strawberry.mutation(
        resolver=companies_api.company_update, description="Rename a company (MSP admins)."
    )
    company_delete: companies_api.CompanyDeletePayload = strawberry.mutation(
        resolver=companies_api.company_delete,
        description="Delete a company (MSP admins): it is gone at once from the API and its webhook key "
        "stops working; its data is purged in the background; the audit log keeps who deleted it.",
    )
    company_api_key_rotate: companies_api.CompanyApiKeyRotatePayload = strawberry.mutation(
        resolver=companies_api.company_api_key_rotate,
        description="Replace a company's webhook API key; the old one keeps working for the grace period "
        "chosen (default 24 hours), so each tool can be moved to the new one.",
    )
    company_webhook_security_update: companies_api.CompanyWebhookSecurityUpdatePayload = strawberry.mutation(
        resolver=companies_api.company_webhook_security_update,
        description="Choose which integrations must send signed requests, or rotate the HMAC secret (the "
        "old one keeps verifying for the grace period chosen, default 24 hours).",
    )
    company_rotation_grace_end: companies_api.CompanyPayload = strawberry.mutation(
        resolver=companies_api.company_rotation_grace_end,
        description="Stop the API key and HMAC secret from before the last rotations now, once every tool "
        "uses the new ones.",
    )
    company_rate_limit_update: companies_api.CompanyPayload = strawberry.mutation(
        resolver=companies_api.company_rate_limit_update, description="Change a company's webhook rate limit."
    )
    company_retention_update: companies_api.CompanyPayload = strawberry.mutation(
        resolver=companies_api.company_retention_update,
        description="Change how many days a company's alerts are kept (company settings permission).",
    )
    company_aws_update: aws_api.CompanyAwsPayload = strawberry.mutation(
        resolver=aws_api.company_aws_update,
        description="Set how the platform reaches a company's AWS account: an IAM role with an external id "
        "(preferred) or an access key pair (MSP admins, the company's admins). Secrets are stored "
        "encrypted and never returned.",
    )
    company_aws_clear: aws_api.CompanyAwsPayload = strawberry.mutation(
        resolver=aws_api.company_aws_clear,
        description="Remove a company's AWS access (MSP admins, the company's admins).",
    )
    company_aws_test: aws_api.CompanyAwsTestPayload = strawberry.mutation(
        resolver=aws_api.company_aws_test,
        description="Check a company's AWS access with STS GetCallerIdentity (the role is assumed first): "
        "the account and ARN, or a typed error.",
    )
    asset_create: assets_api.AssetCreatePayload = strawberry.mutation(
        resolver=assets_api.asset_create,
        description="Add an asset to a company (MSP admins, the company's admins).",
    )
    asset_update: assets_api.AssetUpdatePayload = strawberry.mutation(
        resolver=assets_api.asset_update,
        description="Change an asset or its dependencies (MSP admins, the company's admins).",
    )
    asset_delete: assets_api.AssetDeletePayload = strawberry.mutation(
        resolver=assets_api.asset_delete,
        description="Delete an asset and its dependency edges (MSP admins, the company's admins).",
    )
    user_create: users_api.UserCreatePayload = strawberry.mutation(
        resolver=users_api.user_create,
        description="Create a user: MSP admins create anyone; company admins create company admins and technicians of their own companies.",
    )
    user_deactivate: users_api.UserPayload = strawberry.mutation(
        resolver=users_api.user_deactivate,
        description="Deactivate a user (MSP admins; company admins for users all of whose companies are "
        "theirs): they cannot sign in, and their tokens stop working at once, open websockets included.",
    )
    user_reactivate: users_api.UserPayload = strawberry.mutation(
        resolver=users_api.user_reactivate,
        description="Let a deactivated user sign in again (who may: as `userDeactivate`); their old "
        "tokens stay revoked.",
    )
    user_revoke_tokens: users_api.UserPayload = strawberry.mutation(
        resolver=users_api.user_revoke_tokens,
        description="Make every token issued to a user until now stop working, open websockets included "
        "(who may: as `userDeactivate`); the user signs in again for a new one.",
    )
    user_unlock: users_api.UserPayload = strawberry.mutation(
        resolver=users_api.user_unlock,
        description="Clear a user's failed sign-ins from every source, lifting the sign-in throttle at "
        "once (who may: as `userDeactivate`).",
    )

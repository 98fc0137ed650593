"""Per-company AWS access: how the platform reaches a client's account, and the rules on its fields.

Either an IAM role assumed through STS with an external id (preferred: nothing long-lived is held),
or an access key pair. No I/O here: `adapters.aws` turns an `AwsAccess` into boto3 clients.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass

from domain.errors import DomainError, InvalidInput

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
SECRET_ACCESS_KEY = re.compile(r"^[A-Za-z0-9/+=]{40}$")


class AwsAuthType(enum.StrEnum):
    ROLE = "role"  # sts:AssumeRole with an external id
    ACCESS_KEY = "access_key"


class AwsError(DomainError):
    """An AWS call failed; `code` says why in terms a client can act on (never a stack trace)."""

    default_code = "AWS_ERROR"


#: The codes `AwsError` carries (the GraphQL enum lists the same).
AWS_ERROR_CODES = (
    "AWS_ACCESS_DENIED",
    "AWS_INVALID_CREDENTIALS",
    "AWS_THROTTLED",
    "AWS_UNAVAILABLE",
    "AWS_INVALID_INSTANCE",
    "AWS_INVALID_DOCUMENT",
    "AWS_NOT_CONFIGURED",
    "AWS_ERROR",
)


@dataclass(frozen=True, slots=True)
class AwsAccess:
    """A company's AWS access, decrypted (lives in memory only, never logged: its repr hides secrets)."""

    region: str
    auth_type: AwsAuthType
    role_arn: str | None = None
    external_id: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def __repr__(self) -> str:
        return f"AwsAccess(region={self.region!r}, auth_type={self.auth_type.value!r}, role_arn={self.role_arn!r})"

    @property
    def fingerprint(self) -> str:
        """Changes whenever any field does: a cache keyed by it never serves old credentials."""
        parts = (self.region, self.auth_type.value, self.role_arn, self.external_id, self.access_key_id)
        raw = "\x00".join(p or "" for p in (*parts, self.secret_access_key))
        return hashlib.sha256(raw.encode()).hexdigest()


def check_access(
    *,
    region: str,
    role_arn: str | None,
    external_id: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> AwsAccess:
    """Validate what `companyAwsUpdate` was given: exactly one way in, every field well-formed.

    Raises InvalidInput naming the first field at fault (camelCase, as the API spells it).
    """
    region = (region or "").strip()
    if not REGION.match(region):
        raise InvalidInput("must be an AWS region such as eu-west-1", field="region", code="INVALID_REGION")
    role = bool(role_arn or external_id)
    keys = bool(access_key_id or secret_access_key)
    if role and keys:
        raise InvalidInput(
            "give either roleArn and externalId or accessKeyId and secretAccessKey, not both",
            field="roleArn",
            code="AUTH_TYPE_CONFLICT",
        )
    if not role and not keys:
        raise InvalidInput(
            "give roleArn and externalId (preferred) or accessKeyId and secretAccessKey",
            field="roleArn",
            code="AUTH_TYPE_MISSING",
        )
    if role:
        if not role_arn or not ROLE_ARN.match(role_arn):
            raise InvalidInput(
                "must be an IAM role ARN such as arn:aws:iam::123456789012:role/AlertWhisperer",
                field="roleArn",
                code="INVALID_ROLE_ARN",
            )
        if not external_id or not EXTERNAL_ID.match(external_id):
            raise InvalidInput(
                "must be 2-1224 characters of letters, digits and +=,.@:/-_",
                field="externalId",
                code="INVALID_EXTERNAL_ID",
            )
        return AwsAccess(region, AwsAuthType.ROLE, role_arn=role_arn, external_id=external_id)
    if not access_key_id or not ACCESS_KEY_ID.match(access_key_id):
        raise InvalidInput(
            "must be an access key id (AKIA or ASIA and 16 capital letters or digits)",
            field="accessKeyId",
            code="INVALID_ACCESS_KEY_ID",
        )
    if not secret_access_key or not SECRET_ACCESS_KEY.match(secret_access_key):
        raise InvalidInput(
            "must be a secret access key (40 characters)", field="secretAccessKey", code="INVALID_SECRET_KEY"
        )
    return AwsAccess(
        region, AwsAuthType.ACCESS_KEY, access_key_id=access_key_id, secret_access_key=secret_access_key
    )

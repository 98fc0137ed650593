"""JWT access tokens: HS256 pinned, `exp`/`iss`/`aud` required and checked.

Every token carries the generation of its user's tokens it was issued under (claim `gen`, see
`users.token_generation`): revoking a user's tokens moves the generation on, and the per-request
lookup of the user (which happens anyway, for their role and companies) refuses older tokens.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


class AuthFailure(enum.StrEnum):
    """Why a request is not authenticated (`extensions.reason` of the GraphQL error)."""

    MISSING = "missing"  # no token sent
    MALFORMED_HEADER = "malformed_header"  # not `Bearer <token>`
    INVALID_TOKEN = "invalid_token"  # bad signature, algorithm, claims, or an unknown user
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"  # `userRevokeTokens` (or a deactivation) came after it was issued
    USER_DEACTIVATED = "user_deactivated"


class TokenError(Exception):
    """The token is missing, expired, revoked, tampered with or otherwise unacceptable.

    `code` is the machine-readable code clients see everywhere (GraphQL `extensions.code`, the
    websocket close reason): `TOKEN_EXPIRED` for an expired token (sign in again, nothing else is
    wrong), `UNAUTHENTICATED` otherwise; `reason` says which case it is.
    """

    def __init__(self, reason: AuthFailure) -> None:
        super().__init__(MESSAGES[reason])
        self.reason = reason
        self.code = "TOKEN_EXPIRED" if reason is AuthFailure.TOKEN_EXPIRED else "UNAUTHENTICATED"
        self.message = MESSAGES[reason]


MESSAGES = {
    AuthFailure.MISSING: "Authentication required: send 'Authorization: Bearer <token>'.",
    AuthFailure.MALFORMED_HEADER: "Authentication required: the Authorization header must be 'Bearer <token>'.",
    AuthFailure.INVALID_TOKEN: "Invalid token: sign in again (`login`) and send the new token.",
    AuthFailure.TOKEN_EXPIRED: "Token expired: sign in again (`login`) and send the new token.",
    AuthFailure.TOKEN_REVOKED: "Token revoked: sign in again (`login`) and send the new token.",
    AuthFailure.USER_DEACTIVATED: "This account is deactivated.",
}


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a valid token says: whose it is, under which generation, until when."""

    user_id: uuid.UUID
    generation: int
    expires_at: datetime


class TokenService:
    def __init__(self, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self.ttl = timedelta(seconds=ttl_seconds)

    def issue(self, user_id: uuid.UUID, role: str, generation: int = 0, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "role": role,
            "gen": generation,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> VerifiedToken:
        """What a valid token says; TokenError otherwise. (Revocation is checked against the user.)"""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iss", "aud", "sub", "iat"]},
            )
            generation = claims.get("gen", 0)  # tokens issued before generations existed: the first
            if not isinstance(generation, int) or isinstance(generation, bool):
                raise TypeError("gen")
            return VerifiedToken(
                user_id=uuid.UUID(claims["sub"]),
                generation=generation,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError(AuthFailure.TOKEN_EXPIRED) from exc
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError, OSError) as exc:
            raise TokenError(AuthFailure.INVALID_TOKEN) from exc

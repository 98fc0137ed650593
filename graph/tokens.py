"""JWT access tokens: HS256 pinned, `exp`/`iss`/`aud` required and checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """The token is missing, expired, tampered with or otherwise unacceptable."""


class TokenService:
    def __init__(self, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self.ttl = timedelta(seconds=ttl_seconds)

    def issue(self, user_id: uuid.UUID, role: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "role": role,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> uuid.UUID:
        """The user id of a valid token; TokenError otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iss", "aud", "sub", "iat"]},
            )
            return uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise TokenError("invalid token") from exc

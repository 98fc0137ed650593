"""Typed domain errors. The GraphQL layer maps `code` to `userErrors`; the webhook maps them to 4xx.

Usage: `raise InvalidInput("must be at least 8 characters", field="password", code="WEAK_PASSWORD")`.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `code` is the machine-readable reason, `field` the input it is about."""

    default_code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code


class InvalidInput(DomainError):
    default_code = "INVALID_INPUT"


class NotFound(DomainError):
    default_code = "NOT_FOUND"


class PermissionDenied(DomainError):
    default_code = "PERMISSION_DENIED"


class Conflict(DomainError):
    default_code = "CONFLICT"


class InvalidTransition(DomainError):
    default_code = "INVALID_TRANSITION"

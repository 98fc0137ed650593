"""Password and email rules for accounts."""

from __future__ import annotations

import re

from domain.errors import InvalidInput

MIN_PASSWORD = 8
MAX_PASSWORD = 128
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def check_password(password: str, field: str = "password") -> None:
    """At least 8 characters with letters and digits (and at most 128: bcrypt reads 72 bytes)."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"must be at least {MIN_PASSWORD} characters", field=field, code="WEAK_PASSWORD")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"must be at most {MAX_PASSWORD} characters", field=field, code="INVALID_INPUT")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise InvalidInput("must contain letters and digits", field=field, code="WEAK_PASSWORD")


def normalize_email(email: str, field: str = "email") -> str:
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("is not a valid email address", field=field, code="INVALID_EMAIL")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"

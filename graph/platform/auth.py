"""Sign-in, the current user, profile and password changes."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import strawberry

from adapters.crypto import DUMMY_PASSWORD_HASH, hash_password, verify_password
from db.repositories.users import load_principal
from domain.errors import InvalidInput, PermissionDenied
from domain.passwords import check_password, normalize_email
from graph.context import client_source
from graph.core import (
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    ErrorCode,
    UserError,
    mutate,
    require_principal,
)
from graph.platform.types import User, user_type


@strawberry.input(description="Credentials to sign in with.")
class LoginInput:
    email: str = strawberry.field(description="Account email.")
    password: str = strawberry.field(description="Account password.")


@strawberry.type(description="Result of `login`.")
class LoginPayload:
    token: str | None = strawberry.field(
        default=None, description="JWT to send as `Authorization: Bearer <token>` (24 h)."
    )
    user: User | None = strawberry.field(default=None, description="The signed-in user.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.input(description="Profile fields to change; omitted fields stay as they are.")
class ProfileUpdateInput:
    name: str | None = strawberry.field(default=None, description="New display name.")
    email: str | None = strawberry.field(default=None, description="New sign-in email.")


@strawberry.type(description="Result of `profileUpdate`.")
class ProfileUpdatePayload:
    user: User | None = strawberry.field(default=None, description="The updated user.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.input(description="Current and new password.")
class PasswordChangeInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="At least 8 characters with letters and digits.")


@strawberry.type(description="Result of `passwordChange`.")
class PasswordChangePayload:
    user: User | None = strawberry.field(default=None, description="The user whose password changed.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


def _invalid_credentials() -> LoginPayload:
    return LoginPayload(
        user_errors=[
            UserError(
                field=None, message="email or password is incorrect", code=ErrorCode.INVALID_CREDENTIALS
            )
        ]
    )


async def login(
    info: strawberry.Info, input: Annotated[LoginInput, strawberry.argument(description=INPUT_DESCRIPTION)]
) -> LoginPayload:
    services = info.context.services
    if len(input.email) > 254 or len(input.password) > 128:
        return _invalid_credentials()
    email = input.email.strip().lower()
    source = client_source(info.context.request)
    async with info.context.uow() as uow:
        # Throttled per account and source: another address's failures never refuse this one.
        if await uow.login_throttle.blocked(email, source):
            return LoginPayload(
                user_errors=[
                    UserError(
                        field="email",
                        message="too many failed sign-ins; try again in 15 minutes",
                        code=ErrorCode.TOO_MANY_ATTEMPTS,
                    )
                ]
            )
        user = await uow.users.by_email(email)
        candidate = user.password_hash if user is not None and user.is_active else DUMMY_PASSWORD_HASH
        ok = await anyio.to_thread.run_sync(verify_password, input.password, candidate)
        if not ok or user is None or not user.is_active:
            await uow.login_throttle.record_failure(email, source)
            return _invalid_credentials()
        await uow.login_throttle.clear(email, source)
        principal = await load_principal(uow.session, user.id)
    token = services.tokens.issue(user.id, user.role, user.token_generation)
    # The rest of this operation (`login { user { companies { name } } }`) reads as the user who just
    # signed in: the request came without a principal (or with an old token), so its fields would
    # otherwise be refused.
    await info.context.close()
    info.context.principal = principal
    info.context.auth_error = None
    return LoginPayload(token=token, user=user_type(user), user_errors=[])


async def me(info: strawberry.Info) -> User:
    principal = require_principal(info)
    user = await (await info.context.read()).users.by_id_unscoped(principal.user_id)
    return user_type(user)


async def profile_update(
    info: strawberry.Info,
    input: Annotated[ProfileUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> ProfileUpdatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        principal = require_principal(info)
        user = await uow.users.by_id_unscoped(principal.user_id)
        changes: dict[str, Any] = {}
        if input.name is not None:
            name = input.name.strip()
            if not name or len(name) > 120:
                raise InvalidInput("must be 1 to 120 characters", field="name")
            changes["name"] = name
        if input.email is not None:
            changes["email"] = normalize_email(input.email)
        user = await uow.users.update_self(user, changes, "user.profile_update")
        return {"user": user_type(user)}

    return await mutate(info, work, ProfileUpdatePayload)


async def password_change(
    info: strawberry.Info,
    input: Annotated[PasswordChangeInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> PasswordChangePayload:
    rounds = info.context.services.settings.bcrypt_rounds

    async def work(uow: Any) -> dict[str, Any]:
        principal = require_principal(info)
        user = await uow.users.by_id_unscoped(principal.user_id)
        if len(input.current_password) > 128 or not await anyio.to_thread.run_sync(
            verify_password, input.current_password, user.password_hash
        ):
            raise PermissionDenied(
                "current password is incorrect", field="currentPassword", code="INVALID_CREDENTIALS"
            )
        check_password(input.new_password, field="newPassword")
        new_hash = await anyio.to_thread.run_sync(hash_password, input.new_password, rounds)
        user = await uow.users.update_self(user, {"password_hash": new_hash}, "user.password_change")
        return {"user": user_type(user)}

    return await mutate(info, work, PasswordChangePayload)

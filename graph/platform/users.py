"""User queries and `userCreate`: who may create whom follows the role matrix in domain/rbac.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import anyio
import strawberry

from adapters.crypto import hash_password
from domain.errors import DomainError, InvalidInput, NotFound
from domain.passwords import check_password, normalize_email
from domain.rbac import Role as DomainRole
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    Connection,
    PageInfo,
    PublicError,
    UserError,
    connection,
    from_global_id,
    mutate,
    require_principal,
)
from graph.enums import Category
from graph.platform.types import Role, User, user_type

MAX_COMPANIES = 100


@contextlib.contextmanager
def domain_errors_as_graphql() -> Iterator[None]:
    """In queries (which have no `userErrors`), a refused argument becomes a typed GraphQL error."""
    try:
        yield
    except DomainError as exc:
        error = PublicError(f"{exc.field}: {exc.message}" if exc.field else exc.message, exc.code)
        if error.extensions is not None and exc.field:
            error.extensions["field"] = exc.field
        raise error from exc


def empty_connection() -> Connection[Any]:
    return Connection(
        edges=[],
        page_info=PageInfo(has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None),
    )


def _company_filter(company_id: strawberry.ID | None) -> uuid.UUID | None:
    return from_global_id(company_id, "Company", field="companyId") if company_id is not None else None


async def _user_page(
    info: strawberry.Info,
    *,
    first: int | None,
    after: str | None,
    role: DomainRole | None,
    category: Category | None,
    company_id: strawberry.ID | None,
    active_only: bool,
) -> Connection[User]:
    require_principal(info)
    with domain_errors_as_graphql():
        try:
            company = _company_filter(company_id)
        except NotFound:
            return empty_connection()  # a malformed ID names no company: nothing matches
        page = await (await info.context.read()).users.page(
            first=first,
            after=after,
            role=role,
            category=category.value if category else None,
            company_id=company,
            active_only=active_only,
        )
    return connection(page, user_type)


async def users(
    info: strawberry.Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    role: Annotated[Role | None, strawberry.argument(description="Only users of this role.")] = None,
    category: Annotated[
        Category | None, strawberry.argument(description="Only users of this skill category.")
    ] = None,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only members of this company.")
    ] = None,
) -> Connection[User]:
    return await _user_page(
        info,
        first=first,
        after=after,
        role=DomainRole[role.name] if role else None,
        category=category,
        company_id=company_id,
        active_only=False,
    )


async def technicians(
    info: strawberry.Info,
    category: Annotated[
        Category | None, strawberry.argument(description="Only technicians of this skill category.")
    ] = None,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only technicians working for this company.")
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[User]:
    return await _user_page(
        info,
        first=first,
        after=after,
        role=DomainRole.TECHNICIAN,
        category=category,
        company_id=company_id,
        active_only=True,
    )


@strawberry.input(
    description="A new user. MSP admins create anyone; company admins create company admins and technicians of their own companies."
)
class UserCreateInput:
    email: str = strawberry.field(description="Sign-in email, unique.")
    name: str = strawberry.field(description="Display name (1-120 characters).")
    password: str = strawberry.field(
        description="Initial password: at least 8 characters with letters and digits."
    )
    role: Role = strawberry.field(description="The new user's role.")
    company_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Companies the user works for (at most 100; none for MSP admins)."
    )
    category: Category | None = strawberry.field(default=None, description="Technician skill category.")
    on_call: bool = strawberry.field(default=False, description="Whether the technician is on call.")


@strawberry.type(description="Result of `userCreate`.")
class UserCreatePayload:
    user: User | None = strawberry.field(default=None, description="The new user.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def user_create(
    info: strawberry.Info,
    input: Annotated[UserCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> UserCreatePayload:
    rounds = info.context.services.settings.bcrypt_rounds

    async def work(uow: Any) -> dict[str, Any]:
        if len(input.company_ids) > MAX_COMPANIES:
            raise InvalidInput(f"at most {MAX_COMPANIES} companies", field="companyIds")
        company_ids = list(
            dict.fromkeys(from_global_id(c, "Company", field="companyIds") for c in input.company_ids)
        )
        role = DomainRole[input.role.name]
        # Who may be created is decided before anything about the new user is looked at.
        await uow.users.authorize_create(role, company_ids)
        name = input.name.strip()
        if not name or len(name) > 120:
            raise InvalidInput("must be 1 to 120 characters", field="name")
        if "\x00" in name:  # PostgreSQL text cannot hold NUL
            raise InvalidInput("must not contain NUL characters", field="name")
        email = normalize_email(input.email)
        check_password(input.password)
        password_hash = await anyio.to_thread.run_sync(hash_password, input.password, rounds)
        row = await uow.users.create(
            email=email,
            name=name,
            password_hash=password_hash,
            role=role,
            company_ids=company_ids,
            category=input.category.value if input.category else None,
            on_call=input.on_call,
        )
        return {"user": user_type(row)}

    return await mutate(info, work, UserCreatePayload)


@strawberry.type(
    description="Result of `userDeactivate`, `userReactivate`, `userRevokeTokens` and `userUnlock`."
)
class UserPayload:
    user: User | None = strawberry.field(default=None, description="The user, as changed.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.input(description="The user to deactivate.")
class UserDeactivateInput:
    id: strawberry.ID = strawberry.field(description="The user's global ID.")


@strawberry.input(description="The user to reactivate.")
class UserReactivateInput:
    id: strawberry.ID = strawberry.field(description="The user's global ID.")


@strawberry.input(description="The user whose tokens to revoke.")
class UserRevokeTokensInput:
    id: strawberry.ID = strawberry.field(description="The user's global ID.")


@strawberry.input(description="The user whose failed sign-ins to clear.")
class UserUnlockInput:
    id: strawberry.ID = strawberry.field(description="The user's global ID.")


async def _change_user(
    info: strawberry.Info, user_gid: strawberry.ID, change: Callable[[Any, uuid.UUID], Awaitable[Any]]
) -> UserPayload:
    """The housekeeping mutations: `change(uow, user_id)` returns the changed user row."""

    async def work(uow: Any) -> dict[str, Any]:
        return {"user": user_type(await change(uow, from_global_id(user_gid, "User")))}

    return await mutate(info, work, UserPayload)


async def user_deactivate(
    info: strawberry.Info,
    input: Annotated[UserDeactivateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> UserPayload:
    return await _change_user(info, input.id, lambda uow, user_id: uow.users.set_active(user_id, False))


async def user_reactivate(
    info: strawberry.Info,
    input: Annotated[UserReactivateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> UserPayload:
    return await _change_user(info, input.id, lambda uow, user_id: uow.users.set_active(user_id, True))


async def user_revoke_tokens(
    info: strawberry.Info,
    input: Annotated[UserRevokeTokensInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> UserPayload:
    return await _change_user(info, input.id, lambda uow, user_id: uow.users.revoke_tokens(user_id))


async def user_unlock(
    info: strawberry.Info,
    input: Annotated[UserUnlockInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> UserPayload:
    return await _change_user(
        info, input.id, lambda uow, user_id: uow.users.unlock(user_id, uow.login_throttle)
    )

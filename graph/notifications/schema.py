"""Root fields of notifications: the signed-in user's own list, read marks, preferences and live feed,
and the admins' view of emails that failed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from db.notifications import user_topic
from domain.errors import NotFound
from domain.notifications import NotificationKind as DomainKind
from domain.notifications import email_kinds
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    Connection,
    PublicError,
    UserError,
    connection,
    from_global_id,
    mutate,
    now,
    parse_global_id,
    require_principal,
)
from graph.incidents.loaders import event_loaders
from graph.notifications.types import (
    Notification,
    NotificationKind,
    NotificationPreferences,
    notification_type,
)
from graph.platform.users import domain_errors_as_graphql

MAX_ID_LENGTH = 18


def notification_key(global_id: str, field: str = "ids") -> int:
    kind, raw = parse_global_id(global_id)
    if kind != "Notification" or not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_LENGTH:
        raise NotFound("notification not found", field=field)
    return int(raw)


def _preferences(info: strawberry.Info, stored: list[str] | None) -> NotificationPreferences:
    chosen = email_kinds(stored)
    return NotificationPreferences(
        email_kinds=[NotificationKind[k.value] for k in DomainKind if k in chosen],
        email_enabled=info.context.services.mailer is not None,
    )


def _people_only(info: strawberry.Info) -> None:
    if require_principal(info).is_system:
        raise PublicError("notifications belong to people; sign in as a user", "PERMISSION_DENIED")


async def notifications(
    info: strawberry.Info,
    unread_only: Annotated[
        bool, strawberry.argument(description="Only the ones you have not marked read.")
    ] = False,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Notification]:
    _people_only(info)
    uow = await info.context.read()
    with domain_errors_as_graphql():
        page = await uow.notifications.page(unread_only=unread_only, first=first, after=after)
    return connection(page, notification_type)


async def unread_notification_count(info: strawberry.Info) -> int:
    _people_only(info)
    uow = await info.context.read()
    return int(await uow.notifications.unread_count())


async def notification_preferences(info: strawberry.Info) -> NotificationPreferences:
    _people_only(info)
    uow = await info.context.read()
    return _preferences(info, await uow.notifications.email_kinds())


async def notification_email_failures(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this company's (global ID).")
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[Notification]:
    require_principal(info)
    uow = await info.context.read()
    if not uow.notifications.can_read_failed_emails():
        raise PublicError(
            "you do not have permission to read other users' notifications", "PERMISSION_DENIED"
        )
    company, unknown = None, False
    if company_id is not None:
        try:
            company = from_global_id(company_id, "Company", field="companyId")
        except NotFound:
            unknown = True
    with domain_errors_as_graphql():
        page = await uow.notifications.failed_emails(
            company_id=company, unknown_company=unknown, first=first, after=after
        )
    return connection(page, notification_type)


@strawberry.input(description="Notifications to mark read.")
class NotificationMarkReadInput:
    ids: list[strawberry.ID] = strawberry.field(description="Global IDs of your notifications (at most 100).")


@strawberry.type(description="Result of `notificationMarkRead`.")
class NotificationMarkReadPayload:
    notifications: list[Notification] = strawberry.field(
        default_factory=list, description="The notifications, now read."
    )
    unread_count: int | None = strawberry.field(default=None, description="Your unread notifications left.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def notification_mark_read(
    info: strawberry.Info,
    input: Annotated[NotificationMarkReadInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> NotificationMarkReadPayload:
    _people_only(info)

    async def work(uow: Any) -> dict[str, Any]:
        keys = [notification_key(i) for i in input.ids]
        rows = await uow.notifications.mark_read(keys, now(info))
        return {
            "notifications": [notification_type(r) for r in rows],
            "unread_count": await uow.notifications.unread_count(),
        }

    return await mutate(info, work, NotificationMarkReadPayload)


@strawberry.type(description="Result of `notificationMarkAllRead`.")
class NotificationMarkAllReadPayload:
    marked: int | None = strawberry.field(default=None, description="How many were unread.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def notification_mark_all_read(info: strawberry.Info) -> NotificationMarkAllReadPayload:
    _people_only(info)

    async def work(uow: Any) -> dict[str, Any]:
        return {"marked": await uow.notifications.mark_all_read(now(info))}

    return await mutate(info, work, NotificationMarkAllReadPayload)


@strawberry.input(description="Which notification kinds email you.")
class NotificationPreferencesUpdateInput:
    email_kinds: list[NotificationKind] = strawberry.field(
        description="Every kind to email you; the others are in-app only. An empty list: no email."
    )


@strawberry.type(description="Result of `notificationPreferencesUpdate`.")
class NotificationPreferencesUpdatePayload:
    preferences: NotificationPreferences | None = strawberry.field(default=None, description="As stored now.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def notification_preferences_update(
    info: strawberry.Info,
    input: Annotated[NotificationPreferencesUpdateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> NotificationPreferencesUpdatePayload:
    _people_only(info)

    async def work(uow: Any) -> dict[str, Any]:
        stored = await uow.notifications.set_email_kinds([k.name for k in input.email_kinds], now(info))
        return {"preferences": _preferences(info, stored)}

    return await mutate(info, work, NotificationPreferencesUpdatePayload)


async def notification_received(info: strawberry.Info) -> AsyncGenerator[Notification, None]:
    _people_only(info)
    principal = require_principal(info)
    async with info.context.services.bus.subscribe({user_topic(principal.user_id)}) as sub:
        while True:
            event = await sub.queue.get()
            if event.id is None or not str(event.id).isdigit():
                continue
            info.context.event_started()
            try:
                async with event_loaders(info.context) as loaders:
                    # The row is read (and scoped) as the subscriber: a notification of a company
                    # they lost meanwhile is not sent. Its incident and company come from loaders of
                    # this event's own, so they are read as they are now.
                    row = await (await loaders.ready()).uow.notifications.get(int(event.id))
                    if row is not None:
                        yield notification_type(row, loaders)
            finally:
                await info.context.event_finished()


@strawberry.type
class NotificationQuery:
    notifications: Connection[Notification] = strawberry.field(
        resolver=notifications, description="Your notifications, newest first."
    )
    unread_notification_count: int = strawberry.field(
        resolver=unread_notification_count, description="How many of your notifications are unread."
    )
    notification_preferences: NotificationPreferences = strawberry.field(
        resolver=notification_preferences, description="Which notifications email you."
    )
    notification_email_failures: Connection[Notification] = strawberry.field(
        resolver=notification_email_failures,
        description="Notification emails that failed for good, newest first, with the mail service's "
        "error (MSP admins; company admins for their companies).",
    )


@strawberry.type
class NotificationMutation:
    notification_mark_read: NotificationMarkReadPayload = strawberry.mutation(
        resolver=notification_mark_read, description="Mark some of your notifications read."
    )
    notification_mark_all_read: NotificationMarkAllReadPayload = strawberry.mutation(
        resolver=notification_mark_all_read, description="Mark all your notifications read."
    )
    notification_preferences_update: NotificationPreferencesUpdatePayload = strawberry.mutation(
        resolver=notification_preferences_update,
        description="Choose which notification kinds email you (in-app is always on).",
    )


@strawberry.type
class NotificationSubscription:
    # strawberry.subscription is typed as returning the generator's item, not the field's type.
    notification_received: Notification = strawberry.subscription(  # type: ignore[assignment]
        resolver=notification_received,
        description="Each notification written for you, as it commits (only yours: there is no argument).",
    )

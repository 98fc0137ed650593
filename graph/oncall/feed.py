"""`GET /api/schedules/{token}.ics`: a person's on-call intervals as an iCalendar feed.

The token is the person's secret (`calendarFeedRotate`), looked up by its hash; an unknown token, or
one of a deactivated person, is a plain 404 that says nothing more. The feed holds one week back and
eight ahead, every schedule the person is in, as VEVENTs in UTC (calendar apps show them in local
time); UIDs are stable so a re-fetch updates events instead of duplicating them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from db.oncall import person_intervals
from db.repositories.oncall import CALENDAR_TOKEN_PREFIX, calendar_token_hash
from domain.oncall import Interval, Source

BACK = timedelta(weeks=1)
AHEAD = timedelta(weeks=8)
MAX_TOKEN = 100

_PERSON = "SELECT id, name FROM users WHERE calendar_token_hash = $1 AND is_active"


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def _event(interval: Interval, schedule_name: str, names: dict[uuid.UUID, str], now: datetime) -> Event:
    event = Event()
    uid = f"{interval.schedule_id}-{interval.source.value}-{interval.start:%Y%m%dT%H%M%SZ}-{interval.user_id}"
    event.add("uid", f"{uid}@alertwhisperer")
    summary = f"On call: {schedule_name}"
    if interval.source is Source.OVERRIDE and interval.covers is not None:
        summary += f" (covering {names.get(interval.covers, 'a colleague')})"
    event.add("summary", summary)
    event.add("dtstart", interval.start)
    event.add("dtend", interval.end)
    event.add("dtstamp", now)
    event.add("categories", [interval.source.value])
    event.add("transp", "OPAQUE")
    return event


async def calendar_feed(request: Request) -> Response:
    token = str(request.path_params.get("token", ""))
    if not token.startswith(CALENDAR_TOKEN_PREFIX) or len(token) > MAX_TOKEN:
        return _not_found()
    services = request.app.state.services
    now = services.clock.now()
    async with services.pool.acquire() as conn:
        person = await conn.fetchrow(_PERSON, calendar_token_hash(token))
        if person is None:
            return _not_found()
        intervals = await person_intervals(conn, person["id"], now - BACK, now + AHEAD, limit=BACK + AHEAD)
        covered = sorted({i.covers for i, _ in intervals if i.covers is not None})
        names = (
            {
                r["id"]: r["name"]
                for r in await conn.fetch("SELECT id, name FROM users WHERE id = ANY($1)", covered)
            }
            if covered
            else {}
        )
    calendar = Calendar()
    calendar.add("prodid", "-//AlertWhisperer//On-call//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"On call: {person['name']}")
    for interval, schedule_name in intervals:
        calendar.add_component(_event(interval, schedule_name, names, now))
    return Response(
        calendar.to_ical(),
        media_type="text/calendar; charset=utf-8",
        headers={"cache-control": "private, max-age=300"},
    )

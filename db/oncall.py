"""Who is on call, read on the raw pool: for the assignment (`on_call_user_ids`) and for a person's
calendar feed (`person_intervals`).

Both load whole schedules in one statement (shifts, rotation and the overrides that matter, as
arrays of rows) and evaluate the rules of `domain.oncall` in Python; a second statement keeps only
people who may work now. These are system reads: the caller decides whose company it asks about.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.oncall import Interval, Override, Rotation, Schedule, WeeklyShift, on_call_at, shifts_between

if TYPE_CHECKING:
    from db.pool import Conn

# The rotation's members go as text inside the ROW: asyncpg decodes an anonymous record's fields only
# with codecs the connection already holds, and a uuid[] field has none on a fresh connection ("no
# decoder for composite type element ... OID 2951"), which failed `onCallNow` and the assignment.
_SCHEDULE_COLUMNS = """
    s.id, s.name, s.company_id, s.timezone,
    ARRAY(SELECT ROW(x.user_id, x.weekday, x.start_minute, x.end_minute)
          FROM oncall_shifts x WHERE x.schedule_id = s.id ORDER BY x.id) AS shifts,
    ARRAY(SELECT ROW(array_to_string(r.members, ','), r.handover_weekday, r.handover_minute, r.length_days,
                     r.start_date)
          FROM oncall_rotations r WHERE r.schedule_id = s.id) AS rotations,
    ARRAY(SELECT ROW(o.user_id, o.covers_user_id, o.starts_at, o.ends_at)
          FROM oncall_overrides o
          WHERE o.schedule_id = s.id AND o.starts_at < $3 AND o.ends_at > $2 ORDER BY o.starts_at, o.id)
        AS overrides
"""

_LIVE_COMPANY = "NOT EXISTS (SELECT 1 FROM companies c WHERE c.id = {col} AND c.deleted_at IS NOT NULL)"

# The company's own schedules and the MSP-wide ones covering it ($2..$3: the overrides' range).
_COMPANY_SCHEDULES = (
    f"SELECT {_SCHEDULE_COLUMNS} FROM oncall_schedules s "
    "WHERE (s.company_id = $1 OR (s.company_id IS NULL AND $1 = ANY(s.covers))) "
    f"AND {_LIVE_COMPANY.format(col='$1')}"
)

# Every schedule naming the person in a shift, a rotation or an override; a deleted company's none.
_PERSON_SCHEDULES = (
    f"SELECT {_SCHEDULE_COLUMNS} FROM oncall_schedules s "
    "WHERE (EXISTS (SELECT 1 FROM oncall_shifts x WHERE x.schedule_id = s.id AND x.user_id = $1)"
    " OR EXISTS (SELECT 1 FROM oncall_rotations r WHERE r.schedule_id = s.id AND r.members @> ARRAY[$1::uuid])"
    " OR EXISTS (SELECT 1 FROM oncall_overrides o WHERE o.schedule_id = s.id"
    "  AND (o.user_id = $1 OR o.covers_user_id = $1) AND o.starts_at < $3 AND o.ends_at > $2)) "
    f"AND (s.company_id IS NULL OR {_LIVE_COMPANY.format(col='s.company_id')}) ORDER BY s.name, s.id"
)

# Of these people, who may take the company's work: active, and a member of it or an MSP admin.
_AVAILABLE = (
    "SELECT u.id FROM users u WHERE u.id = ANY($1::uuid[]) AND u.is_active "
    "AND (u.role = 'msp_admin' OR EXISTS "
    "(SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.company_id = $2))"
)


def schedule_of(record: Any) -> Schedule:
    """A schedule row of `_SCHEDULE_COLUMNS` as the domain's value."""
    return Schedule(
        id=record["id"],
        timezone=record["timezone"],
        shifts=tuple(WeeklyShift(u, d, a, b) for u, d, a, b in record["shifts"]),
        rotations=tuple(
            Rotation(tuple(uuid.UUID(x) for x in m.split(",") if x), w, minute, days, start)
            for m, w, minute, days, start in record["rotations"]
        ),
        overrides=tuple(Override(u, a, b, covers=c) for u, c, a, b in record["overrides"]),
    )


async def on_call_user_ids(conn: Conn, company_id: uuid.UUID, at: datetime) -> set[uuid.UUID]:
    """The active people on call for `company_id` at `at`: its own schedules and the MSP-wide ones
    covering it, shifts, rotations and overrides applied. Two statements."""
    records = await conn.fetch(_COMPANY_SCHEDULES, company_id, at, at + timedelta(microseconds=1))
    people: set[uuid.UUID] = set()
    for record in records:
        people |= on_call_at(schedule_of(record), at)
    if not people:
        return set()
    return {r["id"] for r in await conn.fetch(_AVAILABLE, sorted(people), company_id)}


async def person_intervals(
    conn: Conn, user_id: uuid.UUID, start: datetime, end: datetime, limit: timedelta
) -> list[tuple[Interval, str]]:
    """The person's on-call intervals overlapping `start`..`end` over every schedule, each with its
    schedule's name, in order of start."""
    records = await conn.fetch(_PERSON_SCHEDULES, user_id, start, end)
    out = []
    for record in records:
        for interval in shifts_between(schedule_of(record), start, end, limit=limit):
            if interval.user_id == user_id:
                out.append((interval, str(record["name"])))
    return sorted(out, key=lambda pair: (pair[0].start, pair[0].end, pair[1]))

"""The iCalendar feed: a person's shifts through a secret URL, parsed by a real parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from domain.rbac import Role

CREATE = """mutation($i: OnCallScheduleCreateInput!) { onCallScheduleCreate(input: $i) {
  schedule { id timeZone } userErrors { field code message } } }"""
SHIFT = """mutation($i: OnCallShiftAddInput!) { onCallShiftAdd(input: $i) {
  shift { startTime endTime crossesMidnight } userErrors { field code message } } }"""
ROTATE = "mutation { calendarFeedRotate { url userErrors { code } } }"


async def test_the_feed_holds_the_persons_shifts_in_utc_and_an_unknown_token_is_a_plain_404(
    gql, factory, client
):
    # given a Berlin schedule with a technician's Saturday 22:00-06:00 shift
    company = await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [company])
    tech = await factory.user(Role.TECHNICIAN, [company])
    body = await gql(
        CREATE,
        {"i": {"companyId": company.gid, "name": "Nights", "timeZone": "Europe/Berlin"}},
        token=admin.token,
    )
    schedule = body["data"]["onCallScheduleCreate"]["schedule"]
    user_gid = (await gql("{ me { id } }", token=tech.token))["data"]["me"]["id"]
    shift = await gql(
        SHIFT,
        {
            "i": {
                "scheduleId": schedule["id"],
                "userId": user_gid,
                "weekday": "SATURDAY",
                "startTime": "22:00",
                "endTime": "06:00",
            }
        },
        token=admin.token,
    )
    assert shift["data"]["onCallShiftAdd"] == {
        "shift": {"startTime": "22:00", "endTime": "06:00", "crossesMidnight": True},
        "userErrors": [],
    }

    # when the technician makes a feed URL and a calendar fetches it
    url = (await gql(ROTATE, token=tech.token))["data"]["calendarFeedRotate"]["url"]
    resp = await client.get(url.replace("http://testserver", ""))

    # then it is an iCalendar of 9 Saturday nights (a week back, eight ahead), each 22:00-06:00 Berlin in UTC
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(resp.content).walk("VEVENT")
    assert 8 <= len(events) <= 10
    now = datetime.now(UTC)
    for event in events:
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.utcoffset() == timedelta(0)
        assert start.weekday() == 5
        assert start.hour in (20, 21)
        assert end - start in (timedelta(hours=7), timedelta(hours=8), timedelta(hours=9))
        assert now - timedelta(weeks=1, days=1) < start < now + timedelta(weeks=8)
        assert str(event["summary"]) == "On call: Nights"

    # and a rotated URL replaces the old one, and a made-up token says nothing
    newer = (await gql(ROTATE, token=tech.token))["data"]["calendarFeedRotate"]["url"]
    assert newer != url
    for gone in (url, "/api/schedules/cal_nothing.ics", "/api/schedules/x.ics"):
        miss = await client.get(gone.replace("http://testserver", ""))
        assert (miss.status_code, miss.text) == (404, "Not Found")

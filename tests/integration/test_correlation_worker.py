"""The correlation worker against real PostgreSQL: claims, windows, grouping, resolves, crash safety."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db.correlation import CorrelationWorker
from db.events import BusEvent
from db.events import topic as event_topic
from db.ingest import IngestRequest
from db.sweeps import IncidentSweeper
from domain.alerts import Category, NormalizedAlert, Severity, Tool
from domain.signatures import alias_group
from tests.helpers import event_heard, fresh_database

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def alert(
    asset: str = "web-01",
    signature: str = "high_cpu",
    *,
    at: datetime = T0,
    tool: Tool = Tool.GENERIC,
    severity: Severity = Severity.HIGH,
    resolved: bool = False,
    fingerprint: str | None = None,
    asset_ref: str | None = None,
) -> NormalizedAlert:
    return NormalizedAlert(
        asset_name=asset,
        signature=signature,
        severity=severity,
        severity_raw=severity.value,
        message=f"{signature} on {asset}",
        tool=tool,
        event_time=at,
        resolved=resolved,
        fingerprint=fingerprint or f"{tool.value}:{asset}:{signature}",
        category=Category.SERVER,
        asset_ref=asset_ref,
    )


async def ingest(services, company, *alerts: NormalizedAlert) -> list[uuid.UUID]:
    result = await services.ingest_service().writer.submit(
        IngestRequest(company_id=company.id, alerts=list(alerts))
    )
    return [uuid.UUID(i) for i in result.response["alert_ids"]]


async def drain(services, now: datetime | None = None) -> None:
    worker = CorrelationWorker(services.pool, batch_size=500)
    while (await worker.run_once(now=now or T0 + timedelta(minutes=1))).alerts:
        pass


async def incidents_of(services, company) -> list[asyncpg.Record]:
    return await services.pool.fetch(
        "SELECT * FROM incidents WHERE company_id = $1 ORDER BY first_alert_at, id", company.id
    )


async def test_alerts_of_one_asset_and_signature_from_two_tools_form_one_incident(services, factory):
    # given a critical asset and alerts from two tools within the window
    company = await factory.company()
    await factory.asset(company, "db-01", is_critical=True)
    await ingest(
        services,
        company,
        alert("db-01", "disk_full", tool=Tool.DATADOG, at=T0),
        alert("DB-01", "disk_full", tool=Tool.ZABBIX, at=T0 + timedelta(minutes=4)),
    )

    # when the worker runs
    await drain(services, now=T0 + timedelta(minutes=5))

    # then there is one incident with both tools and the spec's priority
    [incident] = await incidents_of(services, company)
    assert incident["alert_count"] == 2
    assert sorted(incident["tool_sources"]) == ["datadog", "zabbix"]
    assert incident["critical_asset"] is True
    # high 60 + critical 20 + 2 alerts * 2 + two tools 10 (before age decay)
    assert incident["priority_base"] == 94.0
    rows = await services.pool.fetch(
        "SELECT incident_id, correlated_at FROM alerts WHERE company_id = $1", company.id
    )
    assert {r["incident_id"] for r in rows} == {incident["id"]}
    assert all(r["correlated_at"] is not None for r in rows)


async def test_window_edges_are_on_event_time(services, factory):
    # given a 10 minute window and alerts exactly at the edge and just past it
    company = await factory.company()
    await ingest(services, company, alert(at=T0), alert(at=T0 + timedelta(minutes=10)))
    await drain(services)
    await ingest(services, company, alert(at=T0 + timedelta(minutes=20, microseconds=1)))
    await drain(services, now=T0 + timedelta(minutes=21))

    # then the edge joins and the later one opens a new incident
    first, second = await incidents_of(services, company)
    assert first["alert_count"] == 2
    assert second["alert_count"] == 1
    assert second["first_alert_at"] == T0 + timedelta(minutes=20, microseconds=1)


async def test_unknown_assets_are_created_as_discovered(services, factory):
    company = await factory.company()
    await ingest(services, company, alert("brand-new-host"))
    await drain(services)
    asset = await services.pool.fetchrow("SELECT * FROM assets WHERE company_id = $1", company.id)
    assert asset["name"] == "brand-new-host"
    assert asset["discovered"] is True
    [incident] = await incidents_of(services, company)
    assert incident["asset_id"] == asset["id"]


async def test_an_alerts_asset_id_matches_the_companys_asset_by_external_id_whatever_its_name(
    services, factory
):
    # given a critical asset known to the CMDB as cmdb-4711, and another company using the same id
    company, other = await factory.company(), await factory.company()
    db01 = await factory.asset(company, "db-01", external_id="cmdb-4711", is_critical=True)
    theirs = await factory.asset(other, "their-db", external_id="cmdb-4711")

    # when two tools report it under other names but with its id, within the window
    await ingest(
        services,
        company,
        alert("10.0.0.5", "disk_full", tool=Tool.DATADOG, asset_ref="cmdb-4711"),
        alert(
            "db01.internal",
            "disk_full",
            tool=Tool.ZABBIX,
            at=T0 + timedelta(minutes=2),
            asset_ref="cmdb-4711",
        ),
    )
    await drain(services, now=T0 + timedelta(minutes=3))

    # then both are one incident on that asset (critical), no asset is discovered for the names,
    # and the other company's asset with the same external id is untouched
    [incident] = await incidents_of(services, company)
    assert (incident["asset_id"], incident["alert_count"], incident["critical_asset"]) == (db01, 2, True)
    names = await services.pool.fetch("SELECT name FROM assets WHERE company_id = $1", company.id)
    assert [r["name"] for r in names] == ["db-01"]
    assert await incidents_of(services, other) == []
    assert theirs != db01


async def test_an_unknown_asset_id_is_kept_on_the_discovered_asset_so_other_tools_find_it(services, factory):
    # given a first alert naming an unknown host with the tool's id for it
    company = await factory.company()
    await ingest(services, company, alert("web-07", "high_cpu", asset_ref="i-0abc"))
    await drain(services)

    # when another tool reports the same id under another name
    await ingest(
        services,
        company,
        alert(
            "ip-10-0-0-7", "high_cpu", tool=Tool.CLOUDWATCH, at=T0 + timedelta(minutes=1), asset_ref="i-0abc"
        ),
    )
    await drain(services, now=T0 + timedelta(minutes=2))

    # then the discovered asset carries the id and both alerts are one incident
    [asset] = await services.pool.fetch("SELECT * FROM assets WHERE company_id = $1", company.id)
    assert (asset["name"], asset["external_id"], asset["discovered"]) == ("web-07", "i-0abc", True)
    [incident] = await incidents_of(services, company)
    assert (incident["asset_id"], incident["alert_count"]) == (asset["id"], 2)


async def test_resolve_messages_resolve_alerts_and_then_the_incident(services, factory):
    company = await factory.company()
    await ingest(
        services, company, alert(fingerprint="fp-a"), alert(fingerprint="fp-b", at=T0 + timedelta(seconds=5))
    )
    await drain(services)
    await ingest(services, company, alert(fingerprint="fp-a", resolved=True, at=T0 + timedelta(minutes=1)))
    await drain(services)
    [incident] = await incidents_of(services, company)
    assert incident["status"] == "NEW"
    assert incident["active_fingerprints"] == ["fp-b"]

    await ingest(services, company, alert(fingerprint="fp-b", resolved=True, at=T0 + timedelta(minutes=2)))
    await drain(services)
    [incident] = await incidents_of(services, company)
    assert incident["status"] == "RESOLVED"
    assert incident["resolved_at"] == T0 + timedelta(minutes=2)
    open_firing = await services.pool.fetchval(
        "SELECT count(*) FROM alerts WHERE company_id = $1 AND status = 'firing' AND resolved_at IS NULL",
        company.id,
    )
    assert open_firing == 0


async def test_concurrent_same_key_alerts_from_two_workers_make_one_incident(services, factory):
    # given many alerts for one key, claimed by two workers at once in small batches
    company = await factory.company()
    await ingest(
        services, company, *[alert(at=T0 + timedelta(seconds=i), fingerprint=f"fp-{i}") for i in range(40)]
    )
    w1, w2 = CorrelationWorker(services.pool, batch_size=5), CorrelationWorker(services.pool, batch_size=5)

    async def run(worker: CorrelationWorker) -> None:
        while (await worker.run_once(now=T0 + timedelta(minutes=1))).alerts:
            pass

    await asyncio.gather(run(w1), run(w2))

    # then exactly one incident counts every alert once
    [incident] = await incidents_of(services, company)
    assert incident["alert_count"] == 40


async def _blocked_on_advisory_lock(services, backend_pid: int, task: asyncio.Task) -> None:
    """Returns once PostgreSQL reports `backend_pid` waiting for an advisory lock: the state itself,
    not a guess at how long reaching it takes. Fails if `task` ends first (it did not wait)."""
    async with services.pool.acquire() as conn, asyncio.timeout(30):
        while not task.done():
            waiting = await conn.fetchval(
                "SELECT wait_event_type = 'Lock' AND wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $1",
                backend_pid,
            )
            if waiting:
                return
            await asyncio.sleep(0)  # let the task run to its lock between two looks
    raise AssertionError(f"the task finished without waiting for the lock: {task.result()!r}")


async def test_a_second_worker_waits_so_a_resolve_is_never_applied_before_its_alert(services, factory):
    # given an alert and, stored after it, its resolve
    company = await factory.company()
    await ingest(services, company, alert(fingerprint="fp-order", at=T0))
    await ingest(
        services, company, alert(fingerprint="fp-order", at=T0 + timedelta(minutes=1), resolved=True)
    )
    first, second = (
        CorrelationWorker(services.pool, batch_size=1),
        CorrelationWorker(services.pool, batch_size=1),
    )
    now = T0 + timedelta(minutes=2)

    # when one worker has done its batch (the alert) but not committed yet as another starts one
    async with services.pool.acquire() as conn_a, services.pool.acquire() as conn_b:
        await first.prepare(conn_a)
        await second.prepare(conn_b)
        batch_a = conn_a.transaction()
        await batch_a.start()
        assert (await first._batch(conn_a, now)).incidents_created == 1
        racing = asyncio.create_task(second.run_once(now=now, conn=conn_b))
        # then the other waits (its backend blocked on the batch lock) instead of taking the resolve,
        # which would find nothing open yet
        await _blocked_on_advisory_lock(services, conn_b.get_server_pid(), racing)
        assert not racing.done()
        await batch_a.commit()
        assert (await racing).alerts == 1

    # and the resolve closed the incident the alert opened
    [incident] = await incidents_of(services, company)
    assert incident["status"] == "RESOLVED"


async def test_a_crash_mid_batch_loses_nothing_and_counts_nothing_twice(services, factory):
    company = await factory.company()
    await ingest(services, company, alert(fingerprint="x1"), alert(fingerprint="x2"))

    class Crash(BaseException):  # the process dies (an Exception would be isolated and quarantined)
        pass

    class CrashingWorker(CorrelationWorker):
        async def _write(self, conn, *args, **kwargs):  # type: ignore[override]
            await super()._write(conn, *args, **kwargs)
            raise Crash  # after every write, before commit

    with pytest.raises(Crash):
        await CrashingWorker(services.pool, batch_size=500).run_once(now=T0)
    assert await incidents_of(services, company) == []
    await drain(services)
    [incident] = await incidents_of(services, company)
    assert incident["alert_count"] == 2


def deadlocking_worker(pool, times: int) -> CorrelationWorker:
    """A worker whose batch transactions lose a deadlock (after their writes) `times` times."""

    class Deadlocking(CorrelationWorker):
        losses = 0

        async def _write(self, conn, *args, **kwargs):  # type: ignore[override]
            await super()._write(conn, *args, **kwargs)
            if self.losses < times:
                self.losses += 1
                raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    return Deadlocking(pool, batch_size=500)


async def quarantined(services, company) -> int:
    return await services.pool.fetchval(
        "SELECT count(*) FROM correlation_quarantine WHERE company_id = $1", company.id
    )


async def test_a_batch_that_loses_a_deadlock_is_run_again_at_once_and_quarantines_nobody(services, factory):
    # given a batch whose incident locks deadlock with another transaction's (a reaction's), twice
    company = await factory.company()
    await ingest(services, company, alert(fingerprint="d1"), alert("db-01", fingerprint="d2"))
    worker = deadlocking_worker(services.pool, times=2)
    # when the worker runs one batch
    await worker.run_once(now=T0)
    # then that same call ran it again until it went through: each alert counted once, nobody held back
    assert worker.losses == 2
    assert sorted(i["alert_count"] for i in await incidents_of(services, company)) == [1, 1]
    assert await quarantined(services, company) == 0


async def test_a_batch_that_keeps_deadlocking_is_raised_for_the_loop_to_retry_not_quarantined(
    services, factory
):
    company = await factory.company()
    await ingest(services, company, alert(fingerprint="d3"))
    with pytest.raises(asyncpg.exceptions.DeadlockDetectedError):
        await deadlocking_worker(services.pool, times=100).run_once(now=T0)
    # nothing was written and the company's alerts are not quarantined: the next batch takes them
    assert await incidents_of(services, company) == []
    assert await quarantined(services, company) == 0
    await drain(services)
    [incident] = await incidents_of(services, company)
    assert incident["alert_count"] == 1


async def test_auto_resolve_closes_quiet_incidents_of_tools_that_never_resolve(services, factory):
    company = await factory.company(auto_resolve_minutes=30)
    await ingest(services, company, alert(tool=Tool.SPLUNK), alert("web-02", tool=Tool.DATADOG))
    await drain(services)
    sweeper = IncidentSweeper(services.pool)
    await sweeper.auto_resolve(now=T0 + timedelta(minutes=29))
    still_open = {i["asset_name"]: i["status"] for i in await incidents_of(services, company)}
    await sweeper.auto_resolve(now=T0 + timedelta(minutes=31))
    by_asset = {i["asset_name"]: i for i in await incidents_of(services, company)}
    assert still_open == {"web-01": "NEW", "web-02": "NEW"}
    assert by_asset["web-01"]["status"] == "RESOLVED"
    assert by_asset["web-02"]["status"] == "NEW"  # datadog sends resolves: not auto-resolved
    kinds = await services.pool.fetch(
        "SELECT kind FROM incident_events WHERE incident_id = $1 ORDER BY id", by_asset["web-01"]["id"]
    )
    assert [k["kind"] for k in kinds][-1] == "AUTO_RESOLVED"


async def test_maintenance_window_suppresses_alerts_inside_it(services, factory):
    company = await factory.company()
    window_id = uuid.uuid4()
    await services.pool.execute(
        "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at, asset_names, signatures) "
        "VALUES ($1, $2, 'patching', $3, $4, ARRAY['web-01'], '{}')",
        window_id,
        company.id,
        T0,
        T0 + timedelta(hours=1),
    )
    await ingest(
        services,
        company,
        alert("web-01", at=T0 + timedelta(minutes=5)),
        alert("web-02", at=T0 + timedelta(minutes=5)),
    )
    await drain(services)
    [incident] = await incidents_of(services, company)
    assert incident["asset_name"] == "web-02"
    suppressed = await services.pool.fetchrow(
        "SELECT suppressed_by, incident_id, correlated_at FROM alerts WHERE company_id = $1 AND asset_name = 'web-01'",
        company.id,
    )
    assert suppressed["suppressed_by"] == window_id
    assert suppressed["incident_id"] is None
    assert suppressed["correlated_at"] is not None


async def test_a_window_naming_a_signature_holds_back_the_other_tools_names_of_that_problem(
    services, factory
):
    # given a window for web-01's "disk_full" only, and a company rule naming two queue alerts one problem
    company = await factory.company()
    disk_window, queue_window = uuid.uuid4(), uuid.uuid4()
    for window_id, names in ((disk_window, ["disk_full"]), (queue_window, ["Worker backlog"])):
        await services.pool.execute(
            "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at, asset_names, signatures)"
            " VALUES ($1, $2, 'disk work', $3, $4, '{}', $5)",
            window_id,
            company.id,
            T0,
            T0 + timedelta(hours=1),
            names,
        )
    async with factory.uow() as uow:
        await uow.signature_aliases.create(company.id, alias_group(["AppQueueStuck", "Worker backlog"]))
    # when Datadog, Alertmanager and Zabbix report the disk under their names, and other problems come in
    at = T0 + timedelta(minutes=5)
    await ingest(
        services,
        company,
        alert("web-01", "Disk usage high", tool=Tool.DATADOG, at=at),
        alert("web-01", "NodeFilesystemAlmostOutOfSpace", tool=Tool.ALERTMANAGER, at=at),
        alert("web-01", "Free disk space is less than 10% on web-01", tool=Tool.ZABBIX, at=at),
        alert("web-01", "AppQueueStuck", at=at),
        alert("web-01", "Disk IO high", tool=Tool.DATADOG, at=at),
    )
    await drain(services)
    # then the disk alerts and the aliased queue alert are suppressed by their windows, and only the
    # other problem opens an incident
    [incident] = await incidents_of(services, company)
    assert incident["signature"] == "Disk IO high"
    held = {
        r["signature"]: r["suppressed_by"]
        for r in await services.pool.fetch(
            "SELECT signature, suppressed_by FROM alerts WHERE company_id = $1", company.id
        )
    }
    assert held == {
        "Disk usage high": disk_window,
        "NodeFilesystemAlmostOutOfSpace": disk_window,
        "Free disk space is less than 10% on web-01": disk_window,
        "AppQueueStuck": queue_window,
        "Disk IO high": None,
    }


async def test_flapping_keeps_one_incident_open_and_marked(services, factory):
    company = await factory.company(flap_threshold=2)
    t = T0
    for _ in range(4):
        await ingest(services, company, alert(at=t, fingerprint="flappy"))
        await ingest(
            services, company, alert(at=t + timedelta(seconds=30), fingerprint="flappy", resolved=True)
        )
        await drain(services, now=t + timedelta(minutes=1))
        t += timedelta(minutes=1)
    [incident] = await incidents_of(services, company)
    assert incident["flapping"] is True
    assert incident["status"] != "RESOLVED"


async def test_incident_events_are_announced_with_pg_notify(services, factory):
    company = await factory.company()
    topic = f"company:{company.id}:incidents"
    async with services.bus.subscribe({topic}) as sub:
        await ingest(services, company, alert())
        await drain(services)
        event = await asyncio.wait_for(sub.queue.get(), timeout=5)
    [incident] = await incidents_of(services, company)
    assert event == BusEvent(topic, changes=((str(incident["id"]), "CREATED"),))


async def test_a_batch_announces_its_changes_in_few_notifications_each_under_the_payload_limit(
    services, factory
):
    from db.correlation import CHANGES_PER_NOTIFY

    # given more new incidents in one batch than one notification carries
    company = await factory.company()
    topic = f"company:{company.id}:incidents"
    count = CHANGES_PER_NOTIFY + 30
    async with services.bus.subscribe({topic}) as sub:
        await ingest(services, company, *(alert(f"host-{i:03d}") for i in range(count)))
        # when one batch correlates them
        await drain(services)
        events = [await asyncio.wait_for(sub.queue.get(), timeout=5) for _ in range(2)]

    # then two notifications announce every incident once, as CREATED
    announced = [change for e in events for change in e.changes]
    assert sorted(len(e.changes) for e in events) == [30, CHANGES_PER_NOTIFY]
    assert sorted(i for i, _ in announced) == sorted(
        str(i["id"]) for i in await incidents_of(services, company)
    )
    assert {kind for _, kind in announced} == {"CREATED"}
    assert sub.queue.empty()


async def test_a_resolve_naming_no_known_asset_closes_the_open_incident_carrying_its_fingerprint(
    services, factory
):
    # given an open incident on a known asset, firing fingerprint "pd-123" and another one
    company = await factory.company()
    await factory.asset(company, "db-01")
    await ingest(
        services,
        company,
        alert("db-01", "disk_full", fingerprint="pd-123"),
        alert("db-01", "disk_full", fingerprint="pd-456", at=T0 + timedelta(seconds=1)),
    )
    await drain(services)

    # when a resolve arrives that names the asset differently (only the fingerprint matches)
    await ingest(
        services,
        company,
        alert("unknown-host", "whatever", resolved=True, fingerprint="pd-123", at=T0 + timedelta(minutes=1)),
    )
    await drain(services)

    # then it closes that fingerprint on the incident and its firing alert, and opens nothing
    [incident] = await incidents_of(services, company)
    assert incident["active_fingerprints"] == ["pd-456"]
    assert incident["status"] == "NEW"
    rows = await services.pool.fetch(
        "SELECT fingerprint, status, incident_id, resolved_at FROM alerts WHERE company_id = $1 ORDER BY event_time",
        company.id,
    )
    assert [(r["fingerprint"], r["status"], r["incident_id"], r["resolved_at"]) for r in rows] == [
        ("pd-123", "firing", incident["id"], T0 + timedelta(minutes=1)),
        ("pd-456", "firing", incident["id"], None),
        ("pd-123", "resolved", incident["id"], None),
    ]
    assets = await services.pool.fetch("SELECT name FROM assets WHERE company_id = $1", company.id)
    assert [a["name"] for a in assets] == ["db-01"]  # a resolve creates no asset


async def test_a_fingerprint_resolve_picks_the_latest_open_incident_still_firing_it(services, factory):
    # given two open incidents of one key (the window passed between them), both firing "fp-x",
    # and a third on another key where "fp-x" fired but was closed again
    company = await factory.company()
    await ingest(
        services,
        company,
        alert("web-01", "cpu", fingerprint="fp-x"),
        alert("web-02", "mem", fingerprint="fp-x", at=T0 + timedelta(seconds=1)),
        alert("web-02", "mem", fingerprint="fp-x", resolved=True, at=T0 + timedelta(seconds=2)),
        alert("web-02", "mem", fingerprint="fp-y", at=T0 + timedelta(seconds=3)),
    )
    await drain(services)
    await ingest(services, company, alert("web-01", "cpu", fingerprint="fp-x", at=T0 + timedelta(minutes=30)))
    await drain(services, now=T0 + timedelta(minutes=31))
    before = {(i["asset_name"], i["first_alert_at"]): i for i in await incidents_of(services, company)}
    assert len(before) == 3

    # when a resolve for "fp-x" arrives naming nothing the worker knows
    await ingest(
        services, company, alert("?", "?", fingerprint="fp-x", resolved=True, at=T0 + timedelta(minutes=32))
    )
    await drain(services, now=T0 + timedelta(minutes=33))

    # then only the latest open incident carrying it is resolved
    after = {(i["asset_name"], i["first_alert_at"]): i for i in await incidents_of(services, company)}
    assert after[("web-01", T0 + timedelta(minutes=30))]["status"] == "RESOLVED"
    assert after[("web-01", T0)]["status"] == "NEW"
    assert after[("web-01", T0)]["active_fingerprints"] == ["fp-x"]
    assert after[("web-02", T0 + timedelta(seconds=1))]["active_fingerprints"] == ["fp-y"]


async def test_a_late_alert_opening_an_older_incident_does_not_hide_the_latest_one(services, factory):
    # given an open incident, then a late alert from long before it (its own, older incident)
    company = await factory.company()
    await ingest(services, company, alert(at=T0 + timedelta(hours=1)))
    await drain(services, now=T0 + timedelta(hours=1, minutes=1))
    await ingest(services, company, alert(at=T0, fingerprint="late"))
    await drain(services, now=T0 + timedelta(hours=1, minutes=2))

    # when a new alert arrives within the window of the first incident
    await ingest(services, company, alert(at=T0 + timedelta(hours=1, minutes=5), fingerprint="new"))
    await drain(services, now=T0 + timedelta(hours=1, minutes=6))

    # then it joins that incident (the latest by last alert), not the later-created older one
    old, current = await incidents_of(services, company)
    assert (old["first_alert_at"], old["alert_count"]) == (T0, 1)
    assert current["alert_count"] == 2
    assert current["last_alert_at"] == T0 + timedelta(hours=1, minutes=5)


async def test_fingerprints_and_tools_with_any_characters_are_stored_as_sent(services, factory):
    # given fingerprints with the characters an array literal gives meaning to
    company = await factory.company()
    odd = ['a"b', "back\\slash", "comma,brace{}", " spaced ", "NULL", "", "ünïcødé"]
    await ingest(
        services,
        company,
        *[alert(fingerprint=fp or "x", at=T0 + timedelta(seconds=i)) for i, fp in enumerate(odd)],
    )
    await drain(services)

    # when one of them is resolved in a later batch (an update, not an insert)
    await ingest(services, company, alert(fingerprint='a"b', resolved=True, at=T0 + timedelta(minutes=1)))
    await drain(services)

    # then the stored array holds exactly the others
    [incident] = await incidents_of(services, company)
    assert sorted(incident["active_fingerprints"]) == sorted({fp or "x" for fp in odd} - {'a"b'})
    assert incident["tool_sources"] == ["generic"]


async def _correlated(services, alert_ids: list[uuid.UUID]) -> bool:
    pending = await services.pool.fetchval(
        "SELECT count(*) FROM alerts WHERE id = ANY($1::uuid[]) AND correlated_at IS NULL", alert_ids
    )
    return pending == 0


async def _ingest_and_hear_it_correlated(services, company, wake: asyncio.Event, *alerts) -> None:
    """Store `alerts`, wake the loop as the ingest commit's event does in production, and return once
    the loop has announced the incident they went to (it publishes in the committing transaction)."""
    async with event_heard(services, event_topic(company.id, "incidents")):
        ids = await ingest(services, company, *alerts)
        wake.set()  # start_workers' bus hook does this on the ingest's `alerts` event
    assert await _correlated(services, ids)


async def _worker_backends(services) -> set[int]:
    """Backends of correlation loops (other test processes may run their own on this database)."""
    rows = await services.pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'alertwhisperer-correlation'"
        " AND datname = current_database()"
    )
    return {r["pid"] for r in rows}


async def test_the_worker_loop_keeps_one_connection_and_replaces_it_when_it_breaks(services, factory):
    from graph.workers import correlation_loop

    company = await factory.company()
    others = await _worker_backends(services)
    wake = asyncio.Event()
    loop = asyncio.create_task(correlation_loop(services, wake, batch_size=50))
    try:
        # the loop correlates batch after batch on one connection of its own
        await _ingest_and_hear_it_correlated(services, company, wake, alert(fingerprint="k1"))
        [pid] = await _worker_backends(services) - others
        await _ingest_and_hear_it_correlated(
            services, company, wake, alert(fingerprint="k2", at=T0 + timedelta(seconds=5))
        )
        assert await _worker_backends(services) - others == {pid}

        # when that connection is killed, the loop takes another one and nothing is lost
        assert await services.pool.fetchval("SELECT pg_terminate_backend($1)", pid)
        await _ingest_and_hear_it_correlated(
            services, company, wake, alert(fingerprint="k3", at=T0 + timedelta(seconds=10))
        )
        [replacement] = await _worker_backends(services) - others
        assert replacement != pid
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    # and a stopped loop gives its connection back (the pool resets its settings)
    assert replacement not in await _worker_backends(services)
    [incident] = await incidents_of(services, company)
    assert incident["alert_count"] == 3


def _unkeyed_scans(plan: list[str]) -> list[str]:
    """Scans of `alerts` or `incidents` other than by an index condition: reads of the whole table (the
    claim's walk of the pending alerts' partial index is the one scan meant to read from the start)."""
    bad = []
    for i, line in enumerate(plan):
        if "Scan" not in line or (" on alerts" not in line and " on incidents" not in line):
            continue
        if "ix_alerts_pending" in line:
            continue
        following = []
        for nxt in plan[i + 1 :]:
            if "->" in nxt:
                break
            following.append(nxt)
        # a bitmap heap scan reads the rows its bitmap index scan (the next node) found by key
        keyed = ("Recheck Cond", "Index Cond") if "Bitmap Heap Scan" in line else ("Index Cond",)
        if "Seq Scan" in line or not any(k in f for f in following for k in keyed):
            bad.append(line.strip())
    return bad


def _literal(value: object) -> str:
    if isinstance(value, list):
        value = "{" + ",".join(f'"{v}"' for v in value) + "}"
    return "'" + str(value).replace("'", "''") + "'"


_PENDING = (
    "INSERT INTO alerts (id, company_id, asset_name, signature, severity, message, tool, category, fingerprint, "
    "status, event_time, raw) SELECT gen_random_uuid(), $1, 'host-' || g, 's', 'high', 'm', 'generic', 'Server', "
    "'p' || g || '-' || $3::text, 'firing', now(), '{}' FROM generate_series(1, $2::int) g"
)


async def test_the_worker_replans_as_its_tables_grow_from_empty_and_looks_rows_up_by_key(database_url):
    # given a fresh install: a new database whose worker made its plans while the tables were empty
    company, ids, alert_ids = (
        uuid.uuid4(),
        [uuid.uuid4() for _ in range(20)],
        [uuid.uuid4() for _ in range(20)],
    )
    changes = [{"id": str(i), "company_id": str(company), "created": False, "alert_count": 2} for i in ids]
    outcomes = [{"id": str(a), "incident_id": str(ids[0]), "duplicate": True} for a in alert_ids]
    arguments = {
        "claim": ("LIMIT 1000 FOR UPDATE SKIP LOCKED", ([],)),  # no company held back
        "latest incidents": (
            "ORDER BY last_alert_at DESC LIMIT 1",
            ([company] * 20, [f"k{i}" for i in range(20)]),
        ),
        "write-back": (
            "resolved_earlier AS",
            (json.dumps(changes), "[]", [], ids[:5], ["f1"] * 5, [T0.isoformat()] * 5, json.dumps(outcomes)),
        ),
    }
    plans: dict[str, list[str]] = {}
    async with fresh_database(database_url) as pool, pool.acquire() as conn:
        await conn.execute(
            "ALTER TABLE incidents SET (autovacuum_enabled = false); "
            "ALTER TABLE alerts SET (autovacuum_enabled = false); ANALYZE incidents; ANALYZE alerts; "
            "INSERT INTO companies (id, name, api_key_hash, api_key_hint, hmac_secret_enc) "
            f"VALUES ('{company}', 'plans', 'h', 'h', '\\x00')"
        )
        worker = CorrelationWorker(pool, batch_size=1000, replan_min_alerts=10)
        await worker.prepare(conn)
        await conn.execute(_PENDING, company, 3, "a")
        assert (await worker.run_once(conn=conn)).alerts == 3
        # the tables grow to thousands of incidents and alerts (no ANALYZE), and the worker
        # correlates as many alerts again as it had (its plans still those of the empty tables)
        await conn.execute(
            "INSERT INTO incidents (id, company_id, correlation_key, asset_name, signature, status, "
            "severity, category, alert_count, tool_sources, active_fingerprints, flap_times, critical_asset, "
            "first_alert_at, last_alert_at, updated_at) "
            "SELECT gen_random_uuid(), $1, 'k' || g, 'a' || g, 's', 'NEW', 'high', 'Server', 1, "
            "'{generic}', ARRAY['f' || g], '{}', false, now(), now(), now() "
            "FROM generate_series(1, 5000) g",
            company,
        )
        await conn.execute(
            "INSERT INTO alerts (id, company_id, asset_name, signature, severity, message, tool, category, "
            "fingerprint, status, event_time, raw, incident_id, correlated_at) "
            "SELECT gen_random_uuid(), $1, i.asset_name, 's', 'high', 'm', 'generic', 'Server', "
            "i.active_fingerprints[1], 'firing', now(), '{}', i.id, now() FROM incidents i",
            company,
        )
        await conn.execute(_PENDING, company, 10, "b")
        assert (await worker.run_once(conn=conn)).alerts == 10

        # when it runs its next batch
        await conn.execute(_PENDING, company, 1, "c")
        assert (await worker.run_once(conn=conn)).alerts == 1

        # (its statements' cached plans, as EXPLAIN EXECUTE shows them)
        statements = await conn.fetch("SELECT name, statement FROM pg_prepared_statements")
        for label, (marker, args) in arguments.items():
            [stmt] = [r["name"] for r in statements if marker in r["statement"]]
            call = f"EXECUTE {stmt}({', '.join(map(_literal, args))})" if args else f"EXECUTE {stmt}"
            async with conn.transaction():
                plans[label] = [r[0] for r in await conn.fetch(f"EXPLAIN {call}")]

    # then they were made again for the grown tables, and read them only through index conditions
    assert {label: _unkeyed_scans(plan) for label, plan in plans.items()} == {
        "claim": [],
        "latest incidents": [],
        "write-back": [],
    }
    assert any("ix_incidents_key_latest" in line for line in plans["latest incidents"])


async def test_the_claim_looks_each_alert_s_asset_up_by_index_however_many_assets(services, factory):
    # given a company with many assets and a backlog of uncorrelated alerts (statistics current: the
    # planner expects full batches), and the worker connection's plan for a full batch
    company = await factory.company()
    await services.pool.execute(
        "INSERT INTO assets (id, company_id, name, discovered, type) "
        "SELECT gen_random_uuid(), $1, 'bulk-' || g, true, 'other' FROM generate_series(1, 20000) g",
        company.id,
    )
    await services.pool.execute(
        "INSERT INTO alerts (id, company_id, asset_name, signature, severity, message, tool, category, fingerprint, "
        "status, event_time, raw) SELECT gen_random_uuid(), $1, 'bulk-' || g, 's', 'low', 'm', 'generic', 'Other', "
        "'f' || g, 'firing', now(), '{}' FROM generate_series(1, 3000) g",
        company.id,
    )
    await services.pool.execute("ANALYZE assets; ANALYZE alerts")
    worker = CorrelationWorker(services.pool, batch_size=1000)
    async with services.pool.acquire() as conn:
        await worker.prepare(conn)
        async with conn.transaction():
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + worker._claim, []))
    # then a full batch probes the unique name index per alert instead of reading every asset
    assert "uq_assets_company_lower_name" in plan
    assert "Seq Scan on assets" not in plan
    await services.pool.execute("DELETE FROM alerts WHERE company_id = $1", company.id)
    await services.pool.execute("DELETE FROM assets WHERE company_id = $1", company.id)


async def test_deleting_a_company_deletes_its_alerts_incidents_timeline_and_deliveries(services, factory):
    # given two companies with alerts, deliveries, incidents and timelines
    gone, kept = await factory.company(), await factory.company()
    for company in (gone, kept):
        await services.ingest_service().writer.submit(
            IngestRequest(
                company_id=company.id, alerts=[alert(), alert("db-01")], delivery_key=f"d-{company.id}"
            )
        )
    await drain(services)
    counts = """
        SELECT (SELECT count(*) FROM alerts WHERE company_id = $1) AS alerts,
               (SELECT count(*) FROM incidents WHERE company_id = $1) AS incidents,
               (SELECT count(*) FROM incident_events WHERE company_id = $1) AS events,
               (SELECT count(*) FROM webhook_deliveries WHERE company_id = $1) AS deliveries
    """
    before = dict(await services.pool.fetchrow(counts, kept.id))
    assert before == {"alerts": 2, "incidents": 2, "events": 2, "deliveries": 1}

    # when one company is deleted
    await services.pool.execute("DELETE FROM companies WHERE id = $1", gone.id)

    # then its rows are gone from every hot table, and only its rows
    assert dict(await services.pool.fetchrow(counts, gone.id)) == dict.fromkeys(before, 0)
    assert dict(await services.pool.fetchrow(counts, kept.id)) == before


async def test_auto_resolve_is_not_starved_by_quiet_incidents_it_may_not_close(services, factory):
    # given more quiet incidents that may not auto-resolve (Datadog sends resolves) than one sweep takes,
    # all older than one that may (Splunk never sends resolves)
    company = await factory.company(auto_resolve_minutes=30)
    await ingest(services, company, *(alert(f"dd-{i}", tool=Tool.DATADOG, at=T0) for i in range(3)))
    await ingest(services, company, alert("sp-01", tool=Tool.SPLUNK, at=T0 + timedelta(minutes=1)))
    await drain(services)

    # when a sweep that takes two incidents runs after the quiet period
    resolved = await IncidentSweeper(services.pool).auto_resolve(now=T0 + timedelta(hours=1), limit=2)

    # then the eligible one is closed and the others stay open
    by_asset = {i["asset_name"]: i["status"] for i in await incidents_of(services, company)}
    assert resolved == 1
    assert by_asset == {"dd-0": "NEW", "dd-1": "NEW", "dd-2": "NEW", "sp-01": "RESOLVED"}

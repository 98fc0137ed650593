"""One company's data never stops another's correlation, and /readyz says when correlation is in trouble."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta

from db.correlation import QUARANTINE_FIRST_RETRY, CorrelationWorker
from db.health import CorrelationHealth
from domain.rbac import Role
from graph.health import readiness
from graph.workers import LoopSpec, start_workers
from tests.integration.test_correlation_worker import T0, alert, drain, incidents_of, ingest

CREATE_WINDOW = """
mutation($input: MaintenanceWindowCreateInput!) {
  maintenanceWindowCreate(input: $input) { maintenanceWindow { id recurrence { frequency } } userErrors { code } }
}
"""


async def _quarantine(services) -> dict[uuid.UUID, dict]:
    rows = await services.pool.fetch("SELECT * FROM correlation_quarantine")
    return {r["company_id"]: dict(r) for r in rows}


async def _pending(services, company) -> int:
    return await services.pool.fetchval(
        "SELECT count(*) FROM alerts WHERE company_id = $1 AND correlated_at IS NULL", company.id
    )


async def test_a_one_off_maintenance_window_suppresses_its_alerts_and_stops_nobody(gql, factory, services):
    # given a company with a one-off window (no recurrence) made through the API, and another company
    patched, other = await factory.company(), await factory.company()
    admin = await factory.user(Role.COMPANY_ADMIN, [patched])
    body = await gql(
        CREATE_WINDOW,
        {
            "input": {
                "companyId": patched.gid,
                "name": "Disk swap",
                "startsAt": T0.isoformat(),
                "endsAt": (T0 + timedelta(hours=1)).isoformat(),
            }
        },
        token=admin.token,
    )
    assert body["data"]["maintenanceWindowCreate"]["userErrors"] == []
    assert body["data"]["maintenanceWindowCreate"]["maintenanceWindow"]["recurrence"] is None
    stored = await services.pool.fetchval(
        "SELECT recurrence IS NULL FROM maintenance_windows WHERE company_id = $1", patched.id
    )
    assert stored is True  # SQL NULL, not the JSON value null

    # when alerts of both companies inside the window are correlated in one batch
    await ingest(services, patched, alert("web-01", at=T0 + timedelta(minutes=5)))
    await ingest(services, other, alert("web-01", at=T0 + timedelta(minutes=5)))
    await drain(services, now=T0 + timedelta(minutes=6))

    # then the window's alert is suppressed, the other company's opened its incident, nobody is held back
    suppressed = await services.pool.fetchval(
        "SELECT suppressed_by IS NOT NULL FROM alerts WHERE company_id = $1", patched.id
    )
    assert suppressed is True
    assert await incidents_of(services, patched) == []
    assert len(await incidents_of(services, other)) == 1
    assert patched.id not in await _quarantine(services)


async def test_a_company_whose_data_breaks_a_batch_waits_while_the_others_are_correlated(
    client, factory, services
):
    # given a company with a window row its rules cannot read, and a healthy company, nothing else waiting
    await drain(services)
    broken, healthy = await factory.company(), await factory.company()
    await services.pool.execute(
        "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at, recurrence) "
        "VALUES ($1, $2, 'bad', $3, $4, $5::jsonb)",
        uuid.uuid4(),
        broken.id,
        T0,
        T0 + timedelta(hours=1),
        json.dumps({"frequency": "HOURLY"}),
    )
    await ingest(services, broken, alert("db-01", fingerprint="b1", at=T0))
    await ingest(services, healthy, alert("web-01", fingerprint="h1", at=T0))

    # when the worker runs a batch holding both companies' alerts
    worker = CorrelationWorker(services.pool, batch_size=500)
    stats = await worker.run_once(now=T0 + timedelta(minutes=1))

    # then the healthy company's alert is correlated and the broken one's waits, quarantined with its error
    assert stats.alerts == 1
    assert len(await incidents_of(services, healthy)) == 1
    assert await _pending(services, broken) == 1
    held = (await _quarantine(services))[broken.id]
    assert held["error"].startswith("ValueError: 'HOURLY' is not a valid RecurrenceFrequency")
    assert held["failures"] == 1
    assert held["retry_at"] - held["failed_at"] == QUARANTINE_FIRST_RETRY  # both the server's clock

    # and /readyz says so without refusing traffic: the API still serves everybody
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    [listed] = ready.json()["correlation"]["quarantined_companies"]
    assert listed["company_id"] == str(broken.id)
    assert listed["error"] == "ValueError"  # the kind only: the message may carry tenant data

    # when both companies send more, the healthy one keeps being correlated without failing batches
    await ingest(services, broken, alert("db-01", fingerprint="b1", at=T0 + timedelta(minutes=2)))
    await ingest(services, healthy, alert("web-02", fingerprint="h2", at=T0 + timedelta(minutes=2)))
    assert (await worker.run_once(now=T0 + timedelta(minutes=3))).alerts == 1
    assert len(await incidents_of(services, healthy)) == 2
    assert (await _quarantine(services))[broken.id]["failures"] == 1

    # when the data is mended (the bad window deleted) and the back-off has passed
    await services.pool.execute("DELETE FROM maintenance_windows WHERE company_id = $1", broken.id)
    await services.pool.execute(
        "UPDATE correlation_quarantine SET retry_at = now() - interval '1 second' WHERE company_id = $1",
        broken.id,
    )
    await drain(services, now=T0 + timedelta(minutes=3))

    # then its alerts are correlated in the order they came, and the quarantine is lifted
    [incident] = await incidents_of(services, broken)
    assert incident["alert_count"] == 2
    assert broken.id not in await _quarantine(services)
    ready = await client.get("/readyz")
    assert ready.json()["status"] == "ready"
    assert ready.json()["correlation"]["quarantined_companies"] == []


async def test_a_company_failing_again_after_its_back_off_waits_longer(factory, services):
    # given a quarantined company whose data is still broken, once its back-off has passed
    await drain(services)
    broken = await factory.company()
    await services.pool.execute(
        "INSERT INTO maintenance_windows (id, company_id, name, starts_at, ends_at, recurrence) "
        "VALUES ($1, $2, 'bad', $3, $4, '{\"frequency\": \"HOURLY\"}'::jsonb)",
        uuid.uuid4(),
        broken.id,
        T0,
        T0 + timedelta(hours=1),
    )
    await ingest(services, broken, alert("db-01", at=T0))
    await CorrelationWorker(services.pool).run_once(now=T0)
    first = (await _quarantine(services))[broken.id]
    await services.pool.execute(
        "UPDATE correlation_quarantine SET retry_at = now() - interval '1 second' WHERE company_id = $1",
        broken.id,
    )

    # when a worker tries it again
    await CorrelationWorker(services.pool).run_once(now=T0)

    # then it is held back twice as long, and its alert still waits
    again = (await _quarantine(services))[broken.id]
    assert again["failures"] == 2
    assert again["retry_at"] - again["failed_at"] > first["retry_at"] - first["failed_at"] + timedelta(
        seconds=20
    )
    assert await _pending(services, broken) == 1
    await services.pool.execute("DELETE FROM maintenance_windows WHERE company_id = $1", broken.id)
    await services.pool.execute("DELETE FROM correlation_quarantine WHERE company_id = $1", broken.id)
    await services.pool.execute("DELETE FROM alerts WHERE company_id = $1", broken.id)


async def test_readyz_is_unavailable_while_correlation_falls_behind(client, factory, services):
    # given an alert that has waited two minutes for correlation (no worker is running)
    await drain(services)
    company = await factory.company()
    [alert_id] = await ingest(services, company, alert(at=T0))
    await services.pool.execute(
        "UPDATE alerts SET received_at = now() - interval '2 minutes' WHERE id = $1", alert_id
    )

    # when /readyz is asked
    late = await client.get("/readyz")

    # then it is unavailable and says why; once the alert is correlated it is ready again
    assert late.status_code == 503
    assert late.json()["status"] == "unavailable"
    assert late.json()["problems"][0].startswith("correlation is 12")
    assert late.json()["problems"][0].endswith("s behind (the limit is 60 s)")
    await drain(services)
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["correlation"]["lag_seconds"] == 0


async def _loop_row(services, name: str) -> dict:
    for _ in range(200):
        row = await services.pool.fetchrow("SELECT * FROM background_loops WHERE name = $1", name)
        if row is not None:
            return dict(row)
        await asyncio.sleep(0.02)
    raise AssertionError(f"loop {name} never reported")


async def test_a_loop_that_cannot_start_is_logged_and_keeps_readyz_unavailable(client, services, caplog):
    # given a registered loop whose start fails (a module that cannot be imported)
    async def start(services, wake):
        raise ImportError("No module named 'graph.some_rule'")

    tasks = await start_workers(services, loops=[LoopSpec("broken-loop", start)])
    try:
        # when it is started, then it is an error in the log and a failed_to_start row
        row = await _loop_row(services, "broken-loop")
        assert row["state"] == "failed_to_start"
        assert row["error"] == "ImportError: No module named 'graph.some_rule'"
        assert any(
            r.levelname == "ERROR" and r.getMessage() == "background loop failed to start"
            for r in caplog.records
        )

        # and /readyz names it
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "background loop broken-loop failed to start (ImportError)" in ready.json()["problems"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await services.pool.execute("DELETE FROM background_loops WHERE name = 'broken-loop'")


async def test_workers_whose_module_cannot_be_imported_are_reported_not_silently_absent(
    client, services, monkeypatch
):
    # given the workers' module cannot be imported (it once turned correlation off without a word)
    from graph.worker_process import start_workers_safely

    monkeypatch.setitem(sys.modules, "graph.workers", None)

    # when the server starts its workers
    tasks = await start_workers_safely(services)
    try:
        # then a failed_to_start row keeps /readyz unavailable
        row = await _loop_row(services, "workers")
        assert row["state"] == "failed_to_start"
        assert row["error"] == "ModuleNotFoundError: import of graph.workers halted; None in sys.modules"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await services.pool.execute("DELETE FROM background_loops WHERE name = 'workers'")


def test_a_loop_failing_three_steps_in_a_row_makes_readyz_unavailable():
    # given the correlation loop's third failed step in a row
    loop = {"name": "correlation", "instance": "h:1", "state": "failing", "error": "DataError", "failures": 2}
    two = CorrelationHealth(lag_seconds=0.0, quarantined=[], loops=[loop])
    three = CorrelationHealth(lag_seconds=0.0, quarantined=[], loops=[loop | {"failures": 3}])

    # then two failures are still ready, three are not
    assert readiness("0010", two, 60).status_code == 200
    answer = readiness("0010", three, 60)
    assert answer.status_code == 503
    assert json.loads(answer.body)["problems"] == ["background loop correlation is failing (DataError)"]

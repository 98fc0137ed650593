"""Signature folding in the correlation worker, against real PostgreSQL: one problem from several
tools is one incident that keeps every original signature, company aliases change what is one
problem (and re-key the open incidents), and resolves still close the right incident."""

from __future__ import annotations

from datetime import timedelta

from domain.alerts import Tool
from domain.signatures import alias_group
from tests.integration.test_correlation_worker import T0, alert, drain, incidents_of, ingest


async def add_alias(factory, company, signatures, canonical=None):
    async with factory.uow() as uow:
        return await uow.signature_aliases.create(company.id, alias_group(signatures, canonical))


async def test_one_problem_from_four_tools_is_one_incident_keeping_each_original_signature(services, factory):
    # given disk-full alerts on one host from four tools, each with its own name for the problem
    company = await factory.company()
    await factory.asset(company, "web-01")
    await ingest(
        services,
        company,
        alert("web-01", "Disk usage high", tool=Tool.DATADOG, at=T0),
        alert("web-01", "DiskFull", tool=Tool.ALERTMANAGER, at=T0 + timedelta(minutes=1)),
        alert("web-01", "disk_full", tool=Tool.GENERIC, at=T0 + timedelta(minutes=2)),
        alert("web-01", "Disk space is low on web-01", tool=Tool.ZABBIX, at=T0 + timedelta(minutes=3)),
        alert("web-01", "DiskFull", tool=Tool.ALERTMANAGER, at=T0 + timedelta(minutes=4)),
        # and a different problem on the same host
        alert("web-01", "Disk IO high", tool=Tool.DATADOG, at=T0 + timedelta(minutes=2)),
    )
    await drain(services, now=T0 + timedelta(minutes=5))

    # then the four names are one incident, the look-alike another
    disk, io = await incidents_of(services, company)
    assert (disk["canonical_signature"], io["canonical_signature"]) == ("disk_full", "disk_high_io")
    assert disk["signature"] == "Disk usage high"  # as its first alert's tool called it
    assert disk["signatures"] == ["Disk usage high", "DiskFull", "disk_full", "Disk space is low on web-01"]
    assert sorted(disk["tool_sources"]) == ["alertmanager", "datadog", "generic", "zabbix"]
    assert (disk["alert_count"], disk["duplicate_count"]) == (5, 1)

    # when each tool's resolve arrives
    await ingest(
        services,
        company,
        *(
            alert(
                "web-01",
                name,
                tool=tool,
                at=T0 + timedelta(minutes=6),
                resolved=True,
                fingerprint=f"{tool.value}:web-01:{name}",
            )
            for tool, name in [
                (Tool.DATADOG, "Disk usage high"),
                (Tool.ALERTMANAGER, "DiskFull"),
                (Tool.GENERIC, "disk_full"),
                (Tool.ZABBIX, "Disk space is low on web-01"),
            ]
        ),
    )
    await drain(services, now=T0 + timedelta(minutes=7))
    # then the disk incident is resolved and the IO one still open
    disk, io = await incidents_of(services, company)
    assert (disk["status"], io["status"]) == ("RESOLVED", "NEW")


async def test_an_incident_opened_under_the_old_key_is_still_closed_by_its_resolve(services, factory):
    # given an incident opened before signatures were folded (key `asset|raw signature`, no list)
    company = await factory.company()
    asset = await factory.asset(company, "db-01")
    await ingest(services, company, alert("db-01", "Disk usage high", tool=Tool.DATADOG, at=T0))
    await drain(services, now=T0 + timedelta(minutes=1))
    [opened] = await incidents_of(services, company)
    await services.pool.execute(
        "UPDATE incidents SET correlation_key = $2, canonical_signature = NULL, signatures = '{}' WHERE id = $1",
        opened["id"],
        f"{asset}|disk usage high",
    )
    # when its resolve arrives
    await ingest(
        services,
        company,
        alert("db-01", "Disk usage high", tool=Tool.DATADOG, at=T0 + timedelta(minutes=2), resolved=True),
    )
    await drain(services, now=T0 + timedelta(minutes=3))
    # then it follows the fingerprint and closes that incident, opening nothing
    [closed] = await incidents_of(services, company)
    assert (closed["id"], closed["status"]) == (opened["id"], "RESOLVED")


async def test_a_company_alias_makes_two_signatures_one_incident_and_rekeys_the_open_one(services, factory):
    # given an open incident "AppQueueStuck" on app-01, and another company without the alias
    company, other = await factory.company(), await factory.company()
    await ingest(services, company, alert("app-01", "AppQueueStuck", tool=Tool.ALERTMANAGER, at=T0))
    await ingest(services, other, alert("app-01", "AppQueueStuck", tool=Tool.ALERTMANAGER, at=T0))
    await drain(services, now=T0 + timedelta(minutes=1))

    # when the company says "worker backlog" is the same problem
    group = await add_alias(
        factory, company, ["AppQueueStuck", "worker backlog"], canonical="app queue stuck"
    )
    [rekeyed] = await incidents_of(services, company)
    assert rekeyed["canonical_signature"] == group.canonical == "app_queue_stuck"

    # and a Zabbix "Worker backlog on app-01" arrives in both companies
    late = T0 + timedelta(minutes=3)
    await ingest(services, company, alert("app-01", "Worker backlog on app-01", tool=Tool.ZABBIX, at=late))
    await ingest(services, other, alert("app-01", "Worker backlog on app-01", tool=Tool.ZABBIX, at=late))
    await drain(services, now=T0 + timedelta(minutes=4))

    # then it joins the open incident in the company with the alias, and not in the other one
    [joined] = await incidents_of(services, company)
    assert joined["id"] == rekeyed["id"]
    assert joined["signatures"] == ["AppQueueStuck", "Worker backlog on app-01"]
    assert len(await incidents_of(services, other)) == 2

    # when the alias is deleted, the incident is keyed by its own signature again
    async with factory.uow() as uow:
        await uow.signature_aliases.delete(group.id)
    await ingest(
        services, company, alert("app-01", "worker-backlog", tool=Tool.GENERIC, at=T0 + timedelta(minutes=5))
    )
    await ingest(
        services, company, alert("app-01", "app_queue_stuck", tool=Tool.GENERIC, at=T0 + timedelta(minutes=5))
    )
    await drain(services, now=T0 + timedelta(minutes=6))
    first, second = await incidents_of(services, company)
    assert first["id"] == joined["id"]
    assert first["canonical_signature"] == "app_queue_stuck"
    assert first["signatures"] == ["AppQueueStuck", "Worker backlog on app-01", "app_queue_stuck"]
    assert (second["canonical_signature"], second["signatures"]) == ("backlog_worker", ["worker-backlog"])

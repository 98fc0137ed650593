"""The runbook a company's alert gets: the repository's candidates through `best_runbook`."""

from __future__ import annotations

from dataclasses import replace

from db.uow import UnitOfWork
from domain.rbac import system_principal
from domain.runbook_library import LIBRARY
from domain.runbooks import Platform, best_runbook, incident_signatures

LINUX_DISK = next(s for s in LIBRARY if s.name == "Disk cleanup (Linux)")


async def test_the_companys_own_live_runbook_wins_and_globals_fill_in(factory, services):
    # given two companies; A has its own disk runbook and an archived one, B has its own too
    a, b = await factory.company(), await factory.company()
    async with factory.uow() as uow:
        own, _ = await uow.runbooks.create(a.id, replace(LINUX_DISK, name="A disk cleanup"))
        old, _ = await uow.runbooks.create(a.id, replace(LINUX_DISK, name="A old cleanup"))
        await uow.runbooks.archive(old.id)
        await uow.runbooks.create(b.id, replace(LINUX_DISK, name="B disk cleanup"))

    # when A's candidates are read by the automated principal the decisions will run under
    principal = system_principal("decisions")
    async with UnitOfWork(services.sessionmaker, principal, services.cipher) as uow:
        candidates = await uow.runbooks.candidates(a.id)

    # then B's runbook and the archived one are not among them, and A's own wins on Linux
    names = {c.name for c in candidates}
    assert "B disk cleanup" not in names
    assert "A old cleanup" not in names
    assert best_runbook(candidates, a.id, "disk_space_low", Platform.LINUX).id == own.id
    # a pattern of the library matches a tool's own name on Windows, where A has none of its own
    windows = best_runbook(candidates, a.id, "HighDiskUsageC", Platform.WINDOWS)
    assert windows.name == "Disk cleanup (Windows)"
    assert windows.company_id is None
    assert windows.version == 1
    assert best_runbook(candidates, a.id, "disk_space_low", None) is None


async def test_the_library_is_found_under_every_tool_s_name_for_the_problem(factory, services):
    # given a company without runbooks of its own
    a = await factory.company()
    principal = system_principal("decisions")
    async with UnitOfWork(services.sessionmaker, principal, services.cipher) as uow:
        candidates = await uow.runbooks.candidates(a.id)

    # then Datadog's, Alertmanager's and Linux's own names of a full disk find the disk cleanup of the
    # asset's platform, by their canonical signature (disk_full)
    for raw in ("Disk usage high", "NodeFilesystemAlmostOutOfSpace", "No space left on device"):
        incident = incident_signatures(raw, asset_name="web-01")
        assert incident.canonical == "disk_full"
        linux = best_runbook(candidates, a.id, incident, Platform.LINUX)
        assert (linux.name, linux.company_id) == ("Disk cleanup (Linux)", None)
        assert best_runbook(candidates, a.id, incident, Platform.WINDOWS).name == "Disk cleanup (Windows)"

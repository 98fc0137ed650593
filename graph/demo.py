"""Demo tenant: an MSP admin, a company admin, technicians and three client companies with assets."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from adapters.crypto import api_key_hash, hash_password
from db.tables import Asset, Company
from db.uow import UnitOfWork
from domain.demo import DEMO_ASSETS, LOOP_COMPANY_SETTINGS
from domain.rbac import Role

DEMO_PASSWORD = "demo-pass-2026"

COMPANIES: dict[str, list[dict[str, Any]]] = {
    # The layout the demo scenarios play on (domain.demo.DEMO_ASSETS), dependencies included.
    "Acme Retail": [a.fields() for a in DEMO_ASSETS],
    "Globex Health": [
        {"name": "ehr-app-01", "type": "application", "ip_address": "10.10.1.20", "is_critical": True},
        {
            "name": "pg-ehr",
            "type": "database",
            "ip_address": "10.10.2.5",
            "cloud_instance_id": "i-0b1c2d3e4f5a60001",
            "is_critical": True,
        },
        {"name": "fw-edge", "type": "network", "ip_address": "10.10.0.1"},
    ],
    "Initech Finance": [
        {
            "name": "ledger-api",
            "type": "application",
            "ip_address": "172.16.5.10",
            "cloud_instance_id": "i-0c1d2e3f4a5b60001",
            "is_critical": True,
        },
        {"name": "nas-01", "type": "storage", "ip_address": "172.16.9.2"},
        {"name": "core-switch", "type": "network", "ip_address": "172.16.0.2"},
    ],
}
DEPENDENCIES = {
    **{a.name: list(a.depends_on) for a in DEMO_ASSETS if a.depends_on},
    "ehr-app-01": ["pg-ehr"],
}

USERS: list[dict[str, Any]] = [
    {"email": "admin@msp.example", "name": "Morgan MSP-Admin", "role": Role.MSP_ADMIN, "companies": []},
    {
        "email": "acme.admin@msp.example",
        "name": "Casey Company-Admin",
        "role": Role.COMPANY_ADMIN,
        "companies": ["Acme Retail"],
    },
    {
        "email": "net.tech@msp.example",
        "name": "Nico Network",
        "role": Role.TECHNICIAN,
        "category": "Network",
        "on_call": True,
        "companies": list(COMPANIES),
    },
    {
        "email": "db.tech@msp.example",
        "name": "Dana Database",
        "role": Role.TECHNICIAN,
        "category": "Database",
        "companies": list(COMPANIES),
    },
    {
        "email": "server.tech@msp.example",
        "name": "Sam Server",
        "role": Role.TECHNICIAN,
        "category": "Server",
        "on_call": True,
        "companies": ["Acme Retail", "Globex Health"],
    },
    {
        "email": "sec.tech@msp.example",
        "name": "Riley Security",
        "role": Role.TECHNICIAN,
        "category": "Security",
        "companies": ["Initech Finance"],
    },
]


@dataclass(frozen=True)
class DemoCredentials:
    users: list[tuple[str, str, str]]  # email, password, role
    api_keys: dict[str, str]  # company -> API key
    rotated: list[str]  # companies whose key is not the one the demo made (rotated, or made elsewhere)


KEYS_FILE = "demo-api-keys.json"
#: The company `serve --demo` plays its scenario loop on.
DEMO_COMPANY = "Acme Retail"


async def ensure_demo_assets(uow: UnitOfWork, company_id: uuid.UUID) -> None:
    """Give the company what the demo scenarios play on (`DEMO_ASSETS`): missing assets are created,
    and an existing one of the same name gets the layout's platform, instance id and dependencies
    where it has none (its other fields are left as they are)."""
    rows = (
        await uow.session.execute(
            select(Asset).where(Asset.company_id == company_id, Asset.name.in_([a.name for a in DEMO_ASSETS]))
        )
    ).scalars()
    by_name = {a.name: a for a in rows}
    deps = await uow.assets.dependencies([a.id for a in by_name.values()])
    for spec in DEMO_ASSETS:  # upstream first: dependencies exist before their dependents
        targets = [by_name[t].id for t in spec.depends_on if t in by_name]
        found = by_name.get(spec.name)
        if found is None:
            by_name[spec.name] = await uow.assets.create(company_id, spec.fields(), targets)
            continue
        fields = {
            k: v
            for k, v in spec.fields().items()
            if k in ("platform", "cloud_instance_id") and getattr(found, k) is None
        }
        missing_deps = bool(targets) and not deps.get(found.id)
        if fields or missing_deps:
            await uow.assets.update(found.id, fields, targets if missing_deps else None)


# The product defaults the loop company's settings replace; a value someone changed is kept.
_DEFAULTS = {"flap_window_minutes": 30, "approval_expiry_minutes": 60, "auto_resolve_minutes": 60}


async def _loop_settings(uow: UnitOfWork, company_id: uuid.UUID) -> None:
    """Give the company `serve --demo` loops on the settings of an unattended loop
    (`LOOP_COMPANY_SETTINGS`, why there), where it still has the product's defaults."""
    for column, value in LOOP_COMPANY_SETTINGS.items():
        col = getattr(Company, column)
        await uow.session.execute(
            update(Company).where(Company.id == company_id, col == _DEFAULTS[column]).values({col: value})
        )


def _remembered_keys(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        keys = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in keys.items() if isinstance(k, str) and isinstance(v, str)}


def _remember_keys(path: Path, keys: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=2)
    tmp.replace(path)


async def seed_demo(uow_factory: Any, bcrypt_rounds: int = 12, home: Path | None = None) -> DemoCredentials:
    """Create the demo data if it is missing (idempotent: existing rows are left as they are).

    The database keeps only a hash of each API key, so the keys the demo makes are also kept in
    `<home>/demo-api-keys.json` (beside the generated development secrets, readable by the owner
    only): a restarted `serve --demo` prints them again, and a key rotated since is reported as such.
    """
    keys_file = home / KEYS_FILE if home is not None else None
    remembered = _remembered_keys(keys_file)
    api_keys: dict[str, str] = {}
    rotated: list[str] = []
    async with uow_factory() as uow:
        uow: UnitOfWork  # type: ignore[no-redef]
        ids = {}
        for name, assets in COMPANIES.items():
            existing = (
                await uow.session.execute(
                    select(Company).where(Company.name == name, Company.deleted_at.is_(None))
                )
            ).scalar_one_or_none()
            if existing is None:
                company, creds = await uow.companies.create(name)
                api_keys[name] = creds.api_key or ""
                by_name = {}
                for asset in assets:
                    row = await uow.assets.create(company.id, dict(asset), [])
                    by_name[row.name] = row
                for src, targets in DEPENDENCIES.items():
                    if src in by_name:
                        await uow.assets.update(by_name[src].id, {}, [by_name[t].id for t in targets])
                ids[name] = company.id
            else:
                ids[name] = existing.id
                if name == DEMO_COMPANY:  # seeded before the layout had platforms and dependencies
                    await ensure_demo_assets(uow, existing.id)
                key = remembered.get(name)
                if key is not None and api_key_hash(key) == existing.api_key_hash:
                    api_keys[name] = key
                else:
                    rotated.append(name)
        await _loop_settings(uow, ids[DEMO_COMPANY])
        # Their remediations are simulated, and they take demo runs (`demoStart`).
        await uow.session.execute(
            update(Company).where(Company.id.in_(list(ids.values())), ~Company.demo).values(demo=True)
        )
        password_hash = hash_password(DEMO_PASSWORD, bcrypt_rounds)
        for spec in USERS:
            if await uow.users.by_email(spec["email"]) is None:
                await uow.users.create(
                    email=spec["email"],
                    name=spec["name"],
                    password_hash=password_hash,
                    role=spec["role"],
                    company_ids=[ids[c] for c in spec["companies"]],
                    category=spec.get("category"),
                    on_call=spec.get("on_call", False),
                )
    if keys_file is not None and api_keys != remembered:
        _remember_keys(keys_file, api_keys)
    return DemoCredentials(
        users=[(u["email"], DEMO_PASSWORD, u["role"].value) for u in USERS],
        api_keys=api_keys,
        rotated=rotated,
    )


async def start_demo_loop(uow_factory: Any, services: Any, api_key: str | None) -> str:
    """`serve --demo`: a looping MIXED run on the demo company, so a dashboard is alive on first
    open; a run already under way (a restart) is left to go on. What it did, in words."""
    from db.demo import reusable_key, start_run
    from domain.demo import DemoScenario
    from graph.remediation.approvals import raw_connection

    async with uow_factory() as uow:
        uow: UnitOfWork  # type: ignore[no-redef]
        company = (
            await uow.session.execute(
                select(Company).where(Company.name == DEMO_COMPANY, Company.deleted_at.is_(None))
            )
        ).scalar_one_or_none()
        if company is None:
            return f"no demo company {DEMO_COMPANY!r}: no demo run"
        conn = await raw_connection(uow)
        running = await conn.fetchval(
            "SELECT scenario FROM demo_runs WHERE company_id = $1 AND status = 'RUNNING'", company.id
        )
        if running:
            return f"the {running} demo run on {DEMO_COMPANY} goes on"
        # The key the demo printed, else its last run's, else a new one (the old keeps its grace period).
        key = (
            services.cipher.encrypt(api_key)
            if api_key
            else await reusable_key(conn, company.id, services.cipher.decrypt)
        )
        if key is None:
            _, credentials = await uow.companies.rotate_api_key(company.id)
            await uow.session.flush()
            key = services.cipher.encrypt(credentials.api_key)
        await start_run(
            conn,
            company_id=company.id,
            scenario=DemoScenario.MIXED,
            api_key_enc=key,
            started_by="system:serve-demo",
            now=services.clock.now(),
            loop=True,
        )
    return f"a MIXED demo run loops on {DEMO_COMPANY} (demoStop ends it)"

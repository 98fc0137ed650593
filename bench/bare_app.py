"""The comparison point for the ingest benchmark: a bare Starlette JSON POST endpoint.

Served exactly like the real app (`uvicorn --factory bench.bare_app:app --loop uvloop --http httptools`):
read the body, parse the JSON, answer 202 with a small JSON body. No database, no auth.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def receive_alert(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    count = len(payload["alerts"]) if isinstance(payload, dict) and "alerts" in payload else 1
    return Response(
        orjson.dumps({"status": "received", "count": count}), status_code=202, media_type="application/json"
    )


def app() -> Starlette:
    return Starlette(routes=[Route("/bare", receive_alert, methods=["POST"])])

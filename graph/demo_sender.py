"""How a demo run's webhooks reach the ingest path (`db.demo.DemoSender`).

In a process that serves the webhooks itself (the API's inline workers, tests), the request goes to
the `WebhookEndpoint` in-process through an ASGI transport: the same handler a tool's request meets.
A separate worker process posts over HTTP to ALERTWHISPERER_DEMO_INGEST_URL (`serve` sets it to its own
address for the worker it supervises). Imported on a demo run's first step only: an idle worker
loads no HTTP client.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx

PATH = "/api/webhooks/"
TIMEOUT_SECONDS = 15.0


class HttpDemoSender:
    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=TIMEOUT_SECONDS)

    async def post(self, tool: str, headers: dict[str, str], body: bytes) -> int:
        try:
            response = await self.client.post(PATH + tool, content=body, headers=headers)
        except httpx.HTTPError:
            return 503  # the server is away (restarting): the step is tried again
        return response.status_code


def demo_sender(services: Any) -> HttpDemoSender:
    """In-process when this process has the ingest service, else HTTP to the configured address."""
    if getattr(services, "ingest", None) is not None:
        from graph.webhooks.routes import WebhookEndpoint

        endpoint = WebhookEndpoint(services.settings)
        holder = SimpleNamespace(state=SimpleNamespace(services=services))

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope["app"] = holder
            await endpoint(scope, receive, send)

        return HttpDemoSender("http://demo.internal", httpx.ASGITransport(app=app))
    url = services.settings.demo_ingest_url
    if not url:
        raise RuntimeError(
            "demo runs need the webhook endpoint: run the workers inline, or set ALERTWHISPERER_DEMO_INGEST_URL"
        )
    return HttpDemoSender(url)

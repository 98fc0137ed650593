"""CloudWatch alarms arrive through SNS: verify the envelope, confirm subscriptions, pass notifications on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from starlette.responses import Response

from domain.alerts import PayloadError

log = logging.getLogger(__name__)


async def _https_get(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        resp = await client.get(url)
        resp.raise_for_status()
        return resp.content


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class SnsGateway:
    def __init__(
        self,
        verify: bool = True,
        verifier: Any = None,
        http_get: Callable[[str], Awaitable[bytes]] = _https_get,
    ) -> None:
        self.verify = verify
        self.http_get = http_get
        self._verifier = verifier

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            from adapters.sns import SnsVerifier

            self._verifier = SnsVerifier(fetch_cert=self.http_get)
        return self._verifier

    async def handle_envelope(self, payload: Any) -> Response | None:
        """A response for envelopes that are not alerts (or are not genuine); None for notifications."""
        from adapters.sns import SnsVerificationError, confirm_subscription
        from domain.normalizers.cloudwatch import sns_envelope_kind

        try:
            kind = sns_envelope_kind(payload)
        except PayloadError as exc:
            return _json(
                {
                    "error": "invalid payload",
                    "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
                },
                422,
            )
        if self.verify:
            try:
                await self.verifier.verify(payload)
            except SnsVerificationError as exc:
                return _json({"error": f"SNS signature verification failed: {exc}"}, 403)
        if kind == "SubscriptionConfirmation":
            try:
                await confirm_subscription(payload["SubscribeURL"], self.http_get)
            except SnsVerificationError as exc:
                return _json({"error": f"cannot confirm subscription: {exc}"}, 403)
            except httpx.HTTPError:
                log.warning("SNS subscription confirmation request failed")
                return _json({"error": "could not reach the SNS SubscribeURL; SNS will retry"}, 502)
            return _json({"status": "subscription_confirmed", "topic_arn": payload.get("TopicArn")}, 200)
        if kind == "UnsubscribeConfirmation":
            return _json({"status": "ignored", "alert_ids": []}, 200)
        return None

"""Company lookup by API key for webhooks, cached in-process.

The cache is only an accelerator: entries live 30 s and are dropped at once when any process
announces a credential or settings change (`system:companies` events over LISTEN/NOTIFY).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import asyncpg

from adapters.crypto import DataCipher, api_key_hash

TTL_SECONDS = 30.0
NEGATIVE_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class WebhookCompany:
    id: uuid.UUID
    name: str
    hmac_enabled: bool
    hmac_secret: bytes
    rate_per_second: float
    rate_burst: int


class WebhookCompanyCache:
    def __init__(self, pool: asyncpg.Pool, cipher: DataCipher) -> None:
        self._pool = pool
        self._cipher = cipher
        self._entries: OrderedDict[str, tuple[float, WebhookCompany | None]] = OrderedDict()

    async def by_api_key(self, api_key: str) -> WebhookCompany | None:
        key_hash = api_key_hash(api_key)
        now = time.monotonic()
        hit = self._entries.get(key_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self._pool.fetchrow(
            "SELECT id, name, hmac_enabled, hmac_secret_enc, rate_limit_per_second, rate_limit_burst "
            "FROM companies WHERE api_key_hash = $1 AND deleted_at IS NULL",
            key_hash,
        )
        company = None
        if row is not None:
            company = WebhookCompany(
                id=row[0],
                name=row[1],
                hmac_enabled=row[2],
                hmac_secret=self._cipher.decrypt(row[3]).encode(),
                rate_per_second=row[4],
                rate_burst=row[5],
            )
        ttl = TTL_SECONDS if company else NEGATIVE_TTL_SECONDS
        self._entries[key_hash] = (now + ttl, company)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
        return company

    def on_event(self, event: dict[str, Any]) -> None:
        """Bus hook: forget a company whose credentials or settings changed anywhere."""
        if event.get("topic") != "system:companies":
            return
        target = str(event.get("id"))
        for key, (_, company) in list(self._entries.items()):
            if company is None or str(company.id) == target:
                self._entries.pop(key, None)

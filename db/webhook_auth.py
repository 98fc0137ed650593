"""Company lookup by API key for webhooks, cached in-process.

The cache is only an accelerator: entries live 30 s and are dropped at once when any process
announces a credential or settings change (`system:companies` events over LISTEN/NOTIFY).

A key or secret from before the last rotation authenticates until its expiry, read against the
clock on every request (a cached entry never outlives it), so a grace period ends on time.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from adapters.crypto import DataCipher, api_key_hash
from domain.alerts import Tool

TTL_SECONDS = 30.0
NEGATIVE_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class WebhookCompany:
    id: uuid.UUID
    name: str
    signed_integrations: frozenset[str]
    hmac_secret: bytes
    rate_per_second: float
    rate_burst: int
    # The secret before the last rotation and when it stops verifying (unix seconds), if any.
    previous_hmac_secret: bytes | None = None
    previous_hmac_secret_expires: float | None = None
    # Set when the request's key is the one before the last rotation: when it stops working.
    key_expires: float | None = None

    def requires_signature(self, tool: Tool) -> bool:
        return tool.value in self.signed_integrations

    def previous_secret(self, now: float) -> bytes | None:
        """The rotated-out secret while its grace period lasts."""
        expires = self.previous_hmac_secret_expires
        return self.previous_hmac_secret if expires is not None and now < expires else None


_SELECT = (
    "SELECT id, name, signed_integrations, hmac_secret_enc, rate_limit_per_second, rate_limit_burst,"
    " previous_hmac_secret_enc, extract(epoch FROM previous_hmac_secret_expires_at),"
    " CASE WHEN api_key_hash = $1 THEN NULL ELSE extract(epoch FROM previous_api_key_expires_at) END "
    "FROM companies WHERE (api_key_hash = $1 OR previous_api_key_hash = $1) AND deleted_at IS NULL "
    # A key that is current somewhere wins over one rotated out elsewhere (never both: keys are random).
    "ORDER BY api_key_hash = $1 DESC LIMIT 1"
)


class WebhookCompanyCache:
    def __init__(
        self, pool: asyncpg.Pool, cipher: DataCipher, clock: Callable[[], float] = time.time
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, WebhookCompany | None]] = OrderedDict()

    async def by_api_key(self, api_key: str) -> WebhookCompany | None:
        key_hash = api_key_hash(api_key)
        now = time.monotonic()
        hit = self._entries.get(key_hash)
        if hit is not None and hit[0] > now:
            return self._unexpired(hit[1])
        row = await self._pool.fetchrow(_SELECT, key_hash)
        company = None
        if row is not None:
            company = WebhookCompany(
                id=row[0],
                name=row[1],
                signed_integrations=frozenset(row[2] or ()),
                hmac_secret=self._cipher.decrypt(row[3]).encode(),
                rate_per_second=row[4],
                rate_burst=row[5],
                previous_hmac_secret=self._cipher.decrypt(row[6]).encode() if row[6] is not None else None,
                previous_hmac_secret_expires=float(row[7]) if row[7] is not None else None,
                key_expires=float(row[8]) if row[8] is not None else None,
            )
        ttl = TTL_SECONDS if company else NEGATIVE_TTL_SECONDS
        self._entries[key_hash] = (now + ttl, company)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
        return self._unexpired(company)

    def _unexpired(self, company: WebhookCompany | None) -> WebhookCompany | None:
        if company is not None and company.key_expires is not None and self._clock() >= company.key_expires:
            return None  # the old key's grace period is over
        return company

    def now(self) -> float:
        """The clock the grace periods are read against (unix seconds)."""
        return self._clock()

    def forget(self, target: str) -> None:
        """Forget a company (by id) whose credentials or settings changed anywhere; a miss cached for
        an unknown key goes too, as the change may be the key that now exists."""
        for key, (_, company) in list(self._entries.items()):
            if company is None or str(company.id) == target:
                self._entries.pop(key, None)

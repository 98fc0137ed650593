"""Time-ordered UUIDs (RFC 9562 version 7), so new rows land at the end of their indexes."""

from __future__ import annotations

import base64
import os
import random
import time
import uuid

# The random bits only keep ids unique within a millisecond (they are not secrets: access is by tenant
# scope), so a seeded generator is enough and spares a system call per id on the ingest hot path.
# A forked child re-seeds, so two processes never share a sequence.
_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def uuid7() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = _random.getrandbits(74)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # rand_a (12 bits)
    value |= 0x2 << 62  # variant 10
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return uuid.UUID(int=value)


def global_id(type_name: str, id_: uuid.UUID | int | str) -> str:
    """The API's opaque global ID of an object (`node(id:)` takes it): base64url of `Type:id`."""
    return base64.urlsafe_b64encode(f"{type_name}:{id_}".encode()).decode().rstrip("=")

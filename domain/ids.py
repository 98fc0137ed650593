"""Time-ordered UUIDs (RFC 9562 version 7), so new rows land at the end of their indexes."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0x2 << 62  # variant 10
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return uuid.UUID(int=value)

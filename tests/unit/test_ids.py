"""uuid7: RFC 9562 layout, time order across milliseconds, no repeats, no shared sequence after fork."""

from __future__ import annotations

import os
import time
import uuid
from types import SimpleNamespace

from domain.ids import uuid7


def test_layout_is_version_7_with_the_rfc_variant_and_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    u = uuid7()
    after = time.time_ns() // 1_000_000
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert before <= u.int >> 80 <= after


def test_ids_are_unique_and_ordered_across_milliseconds(monkeypatch):
    ids = [uuid7() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    # given a clock at the last nanosecond of one millisecond, then at the first of the next
    clock = iter([1_764_000_000_000_999_999, 1_764_000_000_001_000_000])
    monkeypatch.setattr("domain.ids.time", SimpleNamespace(time_ns=lambda: next(clock)))
    # when an id is made at each, then the later one sorts after, whatever the random bits
    first = uuid7()
    assert uuid7() > first


def test_a_forked_child_does_not_repeat_the_parents_sequence():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next ids and leave at once
        os.write(write, "".join(uuid7().hex[13:] for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = "".join(uuid7().hex[13:] for _ in range(3))
    assert len(child) == len(parent) == 3 * 19
    assert child != parent

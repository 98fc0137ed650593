"""Start-up objects are frozen out of the cyclic GC, so full collections stay short under load."""

from __future__ import annotations

import gc
import time

from graph.runtime import quiet_garbage_collector


def test_start_up_objects_are_frozen_and_collections_are_rarer():
    before = gc.get_threshold()
    try:
        kept = [[i] for i in range(200_000)]  # long-lived objects made while starting
        quiet_garbage_collector()
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold()[0] == 50_000
        started = time.perf_counter()
        gc.collect()
        frozen_pause = time.perf_counter() - started
        gc.unfreeze()
        started = time.perf_counter()
        gc.collect()
        full_pause = time.perf_counter() - started
        # a full collection skips what was frozen: it is faster than one that walks everything
        assert frozen_pause < full_pause
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

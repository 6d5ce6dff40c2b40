"""Python's cyclic garbage collector held off while a run times networks batch by batch.

Unpacking and capturing one network make ~10,000 Python objects, so the collector ran every few
milliseconds, and each full collection walked all the run holds (a profile's samples): 120 ms a
time on a 2-core VM, and it more than doubled the time to unpack a network inside the loop (25 ms
against 10 ms; docs/results.md). Within the loop the objects held from before are frozen (never
walked again), automatic collection is off, and the young generations are collected once per
batch, between timings, with a full collection every ``full_every`` batches. Networks are freed by
reference counting as before; only cyclic garbage waits for the batch's end.
"""
from __future__ import annotations

import gc
import itertools
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def collect_between_batches(full_every: int = 50) -> Iterator[Callable[[], None]]:
    """Yields ``collect``, to call once per batch; restores the collector as it was on exit."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    batches = itertools.count(1)

    def collect() -> None:
        gc.collect(2 if next(batches) % full_every == 0 else 1)

    try:
        yield collect
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()

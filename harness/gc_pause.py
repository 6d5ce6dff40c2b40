"""Python's cyclic garbage collector held off while a run times networks.

Unpacking and capturing one network make ~10,000 Python objects, and every eager forward makes
more, so the collector ran every few milliseconds, and each full collection walked all the process holds
(torch's own objects, a profile's samples): 100-150 ms a time on a 2-core VM, inside whatever was
running, a timed run included. On a GPU host, unpacking a network inside the loop took 31.6 ms
against 9.0 ms on its own (docs/results.md). Within a timing loop the objects held from before are
frozen (never walked again), automatic collection is off, and the young generations are collected
between timings (once per batch, or per network stored), with a full collection every
``full_every`` calls. Networks are freed by reference counting as before; only cyclic garbage
waits.
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

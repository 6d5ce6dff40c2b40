import gc
import weakref

from harness.gc_pause import collect_between_batches


class _Node:
    pass


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_collection_waits_for_the_batch_end_and_the_collector_is_restored():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with collect_between_batches() as collect:
        assert not gc.isenabled() and gc.get_freeze_count() >= before
        garbage = _cycle()
        for _ in range(20_000):  # far past the threshold that would trigger a collection
            _Node()
        assert garbage() is not None  # cyclic garbage waits...
        collect()
        assert garbage() is None  # ...until the batch's collection
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_full_collections_come_every_few_batches(monkeypatch):
    generations = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: generations.append(generation) or 0)
    with collect_between_batches(full_every=3) as collect:
        for _ in range(6):
            collect()
    assert generations == [1, 1, 2, 1, 1, 2]


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with collect_between_batches():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

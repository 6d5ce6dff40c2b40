"""Profile schema 2: metrics beside latency, reading schema 1 as it is, and migrating it with nothing lost."""
import dataclasses
import shutil
import sqlite3

import pytest

from harness.store import SCHEMA_VERSION, ProfileStore, Sample, untimed
from tests.store_writer import make_sample


def memory_sample(k: int, mb: float, kind: str = "primary", **kw) -> Sample:
    timed = make_sample(k, **kw)
    return dataclasses.replace(timed, kind=kind, peak_memory_mb=mb, extra={"weights_mb": 1.0}, **untimed())


def all_rows(store: ProfileStore) -> list[dict]:
    return [dataclasses.asdict(s) for s in store.samples(kind=None, metric=None)]


@pytest.fixture
def old_profile(root, tmp_path):
    """A copy of a shipped profile (schema 1): the shipped file itself is never opened for writing."""
    path = tmp_path / "old.db"
    shutil.copy(root / "profiles" / "onnxruntime-2threads.db", path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    conn.close()
    return path


def test_old_profile_reads_without_being_changed(old_profile):
    before = old_profile.read_bytes()
    with ProfileStore(old_profile, create=False) as store:
        assert store.version == 1
        samples = store.samples(kind=None)
        assert samples and all(s.peak_memory_mb is None and s.energy_mj is None for s in samples)
        assert store.count(metric="memory") == 0 and store.noise_floor(metric="memory")["n"] == 0
        summary = store.summary()
    assert summary["schema_version"] == 1 and summary["metrics"] == {}
    assert old_profile.read_bytes() == before  # reading migrates nothing


def test_migration_keeps_every_sample(old_profile):
    with ProfileStore(old_profile, create=False) as store:
        before, summary_before = all_rows(store), store.summary()
        assert store.migrate() == len(before)
        assert store.version == SCHEMA_VERSION and store.migrate() == 0  # once only
        assert all_rows(store) == before  # ids, timings, extra, fingerprints: all equal
        after_summary = store.summary()
    for key in ("samples", "repeats", "unique_architectures", "backends", "devices", "latency_ms", "noise_floor"):
        assert after_summary[key] == summary_before[key], key
    with ProfileStore(old_profile, create=False) as store:  # reopened: schema 2 on disk
        assert store.version == SCHEMA_VERSION and all_rows(store) == before
    with sqlite3.connect(old_profile) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_latency_writes_keep_an_old_file_old_and_memory_migrates_it(old_profile):
    with ProfileStore(old_profile, create=False) as store:
        n = store.count(kind=None)
        assert store.add([make_sample(900_001)]) == 1
        assert store.version == 1  # a latency sample fits schema 1: older gnnlat keeps reading the file
        primary = store.samples()[0]
        stored = store.add_metric([dataclasses.replace(primary, peak_memory_mb=3.5, id=None, **untimed())], "memory")
        assert stored == 1 and store.version == SCHEMA_VERSION
        assert store.count(kind=None) == n + 1  # filled into the primary, not added
        filled = store.samples(metric="memory")
        assert [s.id for s in filled] == [primary.id]
        assert filled[0].latency_ms == primary.latency_ms and filled[0].peak_memory_mb == 3.5


def test_memory_only_samples_stay_out_of_latency_readers(tmp_path):
    with ProfileStore(tmp_path / "m.db") as store:
        store.add([make_sample(0, 2.0)])
        store.add_metric([memory_sample(0, 4.0), memory_sample(1, 5.0), memory_sample(1, 5.0, "repeat")], "memory")
        assert store.count() == 1 and len(store.samples()) == 1  # latency readers see the timed one
        assert store.primary_keys() == {make_sample(0).arch_key}
        assert store.count(metric="memory") == 2 and store.count(metric=None) == 2
        mem = store.samples(metric="memory")
        assert [s.value("memory") for s in mem] == [4.0, 5.0]
        assert mem[1].latency_ms is None and mem[1].noisy is None and mem[1].extra == {"weights_mb": 1.0}
        assert store.noise_floor(metric="memory") == {"n": 1, "median": 0.0, "p90": 0.0}
        summary = store.summary()
    assert summary["metrics"]["memory"]["samples"] == 2 and summary["metrics"]["memory"]["unit"] == "MB"
    assert summary["latency_ms"]["max"] == 2.0


@pytest.mark.parametrize("change, message", [
    (dict(peak_memory_mb=None), "needs latency_ms, peak_memory_mb or energy_mj"),
    (dict(peak_memory_mb=-1.0), "peak_memory_mb"),
    (dict(rounds=3), "no timing"),
])
def test_bad_metric_samples_rejected(tmp_path, change, message):
    bad = dataclasses.replace(memory_sample(0, 2.0), **change)
    with ProfileStore(tmp_path / "m.db") as store:
        with pytest.raises(ValueError, match=message):
            store.add_metric([bad], "memory")
        assert store.count(kind=None, metric=None) == 0


def test_a_timing_fills_in_a_memory_only_primary_and_extras_merge(tmp_path):
    with ProfileStore(tmp_path / "m.db") as store:
        store.add_metric([memory_sample(0, 4.0)], "memory")  # memory first: an untimed primary
        timed = make_sample(0, 2.5)
        assert store.add([timed]) == 1  # not dropped as a duplicate primary: it fills the timing in
        assert store.count(kind=None, metric=None) == 1
        [s] = store.samples()
        assert s.latency_ms == 2.5 and s.rounds == timed.rounds and s.noisy == timed.noisy
        assert s.peak_memory_mb == 4.0 and s.extra == {"weights_mb": 1.0, **timed.extra}
        assert store.add([make_sample(0, 9.0)]) == 0  # a second timed primary is still a duplicate
        assert store.samples()[0].latency_ms == 2.5

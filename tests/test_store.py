"""Profile store: round trips, validation, bad files, filters, noise floor, concurrency, kill -9."""
from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from harness.store import (SCHEMA_VERSION, ProfileStore, ProfileStoreError, arch_key,
                           fingerprint_id)
from store_writer import FINGERPRINT, make_sample

WRITER = Path(__file__).with_name("store_writer.py")
OTHER_FP = {"device": "other-gpu", "gpu": "H100", "driver": "550", "backend": "triton"}


def writer(path: Path, *args: str) -> subprocess.Popen:
    """Start tests/store_writer.py on ``path`` (importing harness from this checkout)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(WRITER.parents[1]), str(WRITER.parent)]))
    return subprocess.Popen([sys.executable, str(WRITER), str(path), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_profile(path: Path, n: int) -> None:
    with ProfileStore(path) as store:
        for i in range(0, n, 50):
            store.add([make_sample(k) for k in range(i, min(i + 50, n))])


# ---- round trip and keys -------------------------------------------------------------------


def test_round_trip_keeps_every_field(tmp_path):
    s = make_sample(3, kind="primary")
    s.extra = {"opset": 17, "round_minima": [1.25, 1.5]}
    with ProfileStore(tmp_path / "p.sqlite") as store:
        assert store.add([s]) == 1
    with ProfileStore(tmp_path / "p.sqlite", create=False) as store:
        (back,) = store.samples()
    assert back.id is not None and back.created_at is not None
    assert asdict(replace(back, id=None, created_at=None)) == asdict(s)
    assert isinstance(back.noisy, bool) and isinstance(back.rounds, int)
    assert back.arch_key == s.arch_key and back.fingerprint_id == fingerprint_id(FINGERPRINT)


def test_keys_are_canonical_and_sensitive():
    s = make_sample(0)
    shuffled = dict(reversed(list(s.config.items())))
    assert arch_key(s.genotype_json, shuffled) == s.arch_key
    assert arch_key(s.genotype_json, {**s.config, "batch": 8}) != s.arch_key
    assert fingerprint_id(dict(reversed(list(FINGERPRINT.items())))) == fingerprint_id(FINGERPRINT)
    assert len(s.arch_key) == 16 and len(fingerprint_id(OTHER_FP)) == 16


def test_duplicate_primary_ignored_repeats_kept(tmp_path):
    with ProfileStore(tmp_path / "p.sqlite") as store:
        assert store.add([make_sample(1), make_sample(2)]) == 2
        assert store.add([make_sample(1, latency_ms=9.0), make_sample(3)]) == 1
        assert store.add([make_sample(1, latency_ms=9.0, kind="repeat")] * 2) == 2
        assert store.count() == 3 and store.count(kind="repeat") == 2 and store.count(kind=None) == 5
        assert store.samples()[0].latency_ms == make_sample(1).latency_ms  # first primary wins
        assert [s.latency_ms for s in store.samples(kind="repeat")] == [9.0, 9.0]


# ---- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["latency_ms", "median_ms", "p90_ms"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_bad_latency_rejects_whole_batch(tmp_path, field, value):
    bad = replace(make_sample(5), **{field: value})
    with ProfileStore(tmp_path / "p.sqlite") as store:
        with pytest.raises(ValueError, match=field):
            store.add([make_sample(4), bad, make_sample(6)])
        assert store.count(kind=None) == 0 and store.fingerprints() == {}


@pytest.mark.parametrize("change, field", [
    ({"cv": -0.1}, "cv"), ({"round_spread": math.nan}, "round_spread"), ({"backend": ""}, "backend"),
    ({"config": {"C": 16}}, "config"), ({"kind": "extra"}, "kind"), ({"rounds": 0}, "rounds"),
    ({"extra": {"x": math.inf}}, "extra"),
])
def test_bad_fields_named(tmp_path, change, field):
    with ProfileStore(tmp_path / "p.sqlite") as store:
        with pytest.raises(ValueError, match=field):
            store.add([replace(make_sample(0), **change)])
        assert store.count(kind=None) == 0


def test_bad_config_value_named(tmp_path):
    s = make_sample(0)
    s.config = {**s.config, "resolution": 32.0}
    with ProfileStore(tmp_path / "p.sqlite") as store, pytest.raises(ValueError, match="resolution"):
        store.add([s])


# ---- opening files -------------------------------------------------------------------------


def test_zero_byte_file_is_a_new_profile(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with ProfileStore(path) as store:
        assert store.count() == 0
        store.add([make_sample(0)])
    with ProfileStore(path, create=False) as store:
        assert store.count() == 1


def test_missing_or_empty_file_with_create_false(tmp_path):
    with pytest.raises(ProfileStoreError, match="no such profile"):
        ProfileStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    (tmp_path / "empty.sqlite").touch()
    with pytest.raises(ProfileStoreError, match="empty"):
        ProfileStore(tmp_path / "empty.sqlite", create=False)


@pytest.mark.parametrize("content", [b"C,layers,latency\n16,8,1.5\n",
                                     random.Random(0).randbytes(8192)])
def test_non_sqlite_file_is_not_a_profile(tmp_path, content):
    path = tmp_path / "p.sqlite"
    path.write_bytes(content)
    with pytest.raises(ProfileStoreError, match="not a gnnlat profile"):
        ProfileStore(path)
    assert path.read_bytes() == content


def test_sqlite_of_another_app_is_not_a_profile(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users(name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ProfileStoreError, match="not a gnnlat profile"):
        ProfileStore(path)
    assert path.read_bytes() == before  # not switched to WAL, not given our tables


@pytest.mark.parametrize("version, message", [(99, "newer gnnlat \\(schema 99 > 2\\)"), (0, "old")])
def test_other_schema_versions_refused(tmp_path, version, message):
    path = tmp_path / "p.sqlite"
    write_profile(path, 3)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.close()
    with pytest.raises(ProfileStoreError, match=message):
        ProfileStore(path)


def test_truncated_profile_is_corrupt(tmp_path):
    path = tmp_path / "p.sqlite"
    write_profile(path, 1500)
    data = path.read_bytes()
    assert len(data) > 100_000 and not Path(f"{path}-wal").exists()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProfileStoreError, match="corrupt"):
        with ProfileStore(path) as store:
            store.samples()


def test_garbage_pages_are_corrupt(tmp_path):
    path = tmp_path / "p.sqlite"
    write_profile(path, 1500)
    data = bytearray(path.read_bytes())
    page = 4096
    data[8 * page: 40 * page] = random.Random(1).randbytes(32 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(ProfileStoreError, match="corrupt"):
        with ProfileStore(path) as store:
            store.samples()


def test_closed_store_raises(tmp_path):
    store = ProfileStore(tmp_path / "p.sqlite")
    store.close()
    with pytest.raises(ProfileStoreError, match="closed"):
        store.count()


# ---- queries -------------------------------------------------------------------------------


def test_fingerprints_and_backends_stay_apart(tmp_path):
    other = fingerprint_id(OTHER_FP)
    mine = fingerprint_id(FINGERPRINT)
    with ProfileStore(tmp_path / "p.sqlite") as store:
        store.add([make_sample(k) for k in range(4)])
        store.add([make_sample(k, fingerprint=OTHER_FP, backend="triton") for k in range(2, 5)])
        assert store.count() == 7
        assert store.count(fingerprint_id=mine) == 4 and store.count(fingerprint_id=other) == 3
        assert store.count(backend="triton", fingerprint_id=mine) == 0
        assert {s.fingerprint_id for s in store.samples(fingerprint_id=other)} == {other}
        assert store.primary_keys(fingerprint_id=other) == {make_sample(k).arch_key for k in (2, 3, 4)}
        assert store.primary_keys(backend="cpu") == {make_sample(k).arch_key for k in range(4)}
        assert store.fingerprints() == {mine: FINGERPRINT, other: OTHER_FP}


def test_noise_floor_on_hand_built_values(tmp_path):
    primaries = [make_sample(0, 10.0), make_sample(1, 20.0), make_sample(2, 40.0)]
    repeats = [make_sample(0, 11.0, "repeat"), make_sample(0, 12.0, "repeat"),
               make_sample(1, 19.0, "repeat"), make_sample(2, 40.0, "repeat"),
               make_sample(9, 5.0, "repeat"),                                  # no primary
               make_sample(0, 30.0, "repeat", fingerprint=OTHER_FP)]           # other device
    with ProfileStore(tmp_path / "p.sqlite") as store:
        assert store.noise_floor() == {"n": 0, "median": None, "p90": None}
        store.add(primaries + repeats)
        floor = store.noise_floor()
        # relative differences 0.1, 0.2, 0.05, 0.0 -> median 0.075, p90 (linear) 0.1 + 0.7 * 0.1
        assert floor["n"] == 4
        assert floor["median"] == pytest.approx(0.075) and floor["p90"] == pytest.approx(0.17)
        assert store.noise_floor(fingerprint_id=fingerprint_id(OTHER_FP))["n"] == 0
        assert store.noise_floor(backend="triton")["n"] == 0


def test_summary(tmp_path):
    with ProfileStore(tmp_path / "p.sqlite") as store:
        empty = store.summary()
        assert empty["samples"] == 0 and empty["latency_ms"] is None and empty["config_ranges"] == {}
        big = make_sample(1, 3.0)
        big.config = {**big.config, "C": 36, "batch": 4}
        store.add([make_sample(0, 1.0), big, make_sample(2, 2.0), make_sample(0, 1.5, "repeat"),
                   make_sample(0, 7.0, fingerprint=OTHER_FP, backend="triton")])
        summary = store.summary()
    assert set(summary) == {"path", "schema_version", "samples", "repeats", "unique_architectures",
                            "backends", "devices", "config_ranges", "latency_ms", "noisy",
                            "noise_floor", "metrics"}
    assert summary["metrics"] == {}  # latency alone
    assert summary["schema_version"] == SCHEMA_VERSION
    assert summary["samples"] == 4 and summary["repeats"] == 1
    assert summary["unique_architectures"] == 3  # genotype 0 on two devices counts once
    assert summary["backends"] == {"cpu": 3, "triton": 1}
    assert {(d["device"], d["backend"], d["samples"]) for d in summary["devices"]} == {
        ("test-cpu", "cpu", 3), ("other-gpu", "triton", 1)}
    assert summary["config_ranges"]["C"] == [16, 36] and summary["config_ranges"]["batch"] == [1, 4]
    assert summary["latency_ms"] == {"min": 1.0, "median": 2.5, "max": 7.0}
    assert summary["noisy"] == 2  # make_sample(k) is noisy for k % 7 == 0
    assert summary["noise_floor"]["n"] == 1 and summary["noise_floor"]["median"] == pytest.approx(0.5)


# ---- processes -----------------------------------------------------------------------------


def test_two_concurrent_writers(tmp_path):
    path = tmp_path / "shared.sqlite"  # both processes also race to create it
    procs = [writer(path, "--start", "0", "--stop", "400", "--batch", "4"),
             writer(path, "--start", "200", "--stop", "600", "--batch", "3")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert err == ""
    added = sum(int(line.split()[-1]) for out, _ in outputs for line in out.splitlines()
                if line.startswith("batch"))
    assert added == 600  # the 200 overlapping architectures were stored exactly once
    with ProfileStore(path, create=False) as store:
        assert store.count() == 600
        assert store.primary_keys() == {make_sample(k).arch_key for k in range(600)}


def kill_after(path: Path, batches: int, total: int, delay: float) -> None:
    """Start a resuming writer; SIGKILL it ``delay`` s after it has reported ``batches`` commits.

    The delay decouples the kill from the writer's own print, so it lands inside a batch.
    """
    proc = writer(path, "--stop", str(total), "--batch", "5", "--skip-existing")
    for _ in range(batches):
        line = proc.stdout.readline()
        assert line.startswith("batch"), proc.stderr.read()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def assert_whole_batches(path: Path, total: int) -> int:
    """Every batch of 5 is fully stored or absent, and stored ones form a prefix of the sequence."""
    with ProfileStore(path, create=False) as store:
        n = store.count()
        assert n % 5 == 0 and 0 < n < total
        assert store.primary_keys() == {make_sample(k).arch_key for k in range(n)}
        return n


def test_kill_9_mid_run_then_resume(tmp_path):
    path = tmp_path / "p.sqlite"
    total = 3000
    seen = [0]
    for i in range(10):  # kills at assorted moments; most land between batches, some inside one
        kill_after(path, batches=3 + i % 4, total=total, delay=0.0037 * i)
        seen.append(assert_whole_batches(path, total))
        assert seen[-1] > seen[-2]
    proc = writer(path, "--stop", str(total), "--batch", "5", "--skip-existing")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == f"done {total - seen[-1]}"
    with ProfileStore(path, create=False) as store:
        samples = store.samples()
    assert len(samples) == total == len({s.arch_key for s in samples})
    assert [s.genotype_json for s in samples] == [make_sample(k).genotype_json for k in range(total)]

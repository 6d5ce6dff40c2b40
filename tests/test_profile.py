import random

import pytest

from gnnlat.network import NetworkConfig
from harness.profile import (VARY_COST_LIMIT, ProfileConfig, ProfileStats, architecture_stream,
                             run_profile, vary_config)
from harness.store import ProfileStore
from harness.timers import CpuTimer, TimerSettings

TINY = NetworkConfig(C=4, layers=3, resolution=8)
FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)


def _keys(path):
    with ProfileStore(path, create=False) as s:
        return [x.arch_key for x in s.samples()], s.count(kind="repeat")


def test_stream_is_a_pure_function_of_the_seed():
    a = architecture_stream(ProfileConfig(n=1, out="x", seed=3, vary_config=True))
    b = architecture_stream(ProfileConfig(n=1, out="x", seed=3, vary_config=True))
    c = architecture_stream(ProfileConfig(n=1, out="x", seed=4, vary_config=True))
    first = [next(a) for _ in range(10)]
    assert first == [next(b) for _ in range(10)]
    assert first != [next(c) for _ in range(10)]


def test_vary_config_stays_within_the_cost_limit_and_varies():
    rng = random.Random(0)
    base = NetworkConfig()
    limit = VARY_COST_LIMIT * base.C ** 2 * base.layers * base.resolution ** 2 * base.batch
    configs = [vary_config(rng, base) for _ in range(300)]
    assert all(c.C ** 2 * c.layers * c.resolution ** 2 * c.batch <= limit for c in configs)
    for key in ("C", "layers", "resolution", "batch"):
        assert len({getattr(c, key) for c in configs}) >= 3
    # A base smaller than the search config still gets the full ranges (no endless rejection).
    tiny = [vary_config(rng, NetworkConfig(C=4, layers=3, resolution=8, in_channels=1)) for _ in range(50)]
    assert all(c.in_channels == 1 for c in tiny) and len({c.C for c in tiny}) >= 3


def test_run_profile_fills_resumes_without_duplicates_and_repeats_later(tmp_path):
    out = str(tmp_path / "p.db")
    timer = CpuTimer(settings=FAST)
    cfg = ProfileConfig(n=6, out=out, config=TINY, repeat_frac=0.5, repeat_delay=2, batch_archs=2)
    stats = ProfileStats()
    summary = run_profile(cfg, timer, stats=stats)
    keys, repeats = _keys(out)
    assert summary["samples"] == 6 and len(keys) == len(set(keys)) == 6
    assert repeats >= 1  # re-timed once samples were old enough
    assert 0 < stats.overhead_frac < 1 and stats.archs_per_hour > 0

    # Same command again: nothing to do. A larger n continues the same sequence.
    run_profile(cfg, timer)
    assert _keys(out)[0] == keys
    run_profile(ProfileConfig(n=9, out=out, config=TINY, repeat_frac=0.5, repeat_delay=2, batch_archs=2), timer)
    more, _ = _keys(out)
    assert more[:6] == keys and len(more) == len(set(more)) == 9

    # A fresh run with the same seed samples exactly the same architectures.
    fresh = str(tmp_path / "fresh.db")
    run_profile(ProfileConfig(n=9, out=fresh, config=TINY, repeat_frac=0.0, batch_archs=3), timer)
    assert sorted(_keys(fresh)[0]) == sorted(more)


def test_profile_config_validation():
    with pytest.raises(ValueError, match="--n"):
        ProfileConfig(n=0, out="x")
    with pytest.raises(ValueError, match="repeat-frac"):
        ProfileConfig(n=1, out="x", repeat_frac=2)

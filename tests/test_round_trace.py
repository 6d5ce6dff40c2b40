"""The replay of benchmarks/round_trace.py on made-up recordings (no timing)."""
import pytest

from benchmarks.round_trace import load_rounds_module, score


def _trace(network_ms, anchor_ms, segments=4, rotation_s=0.2, segment_s=5.0):
    """Two networks and the anchor in rotation; ``*_ms(t)`` gives a round's runs at time t."""
    rounds = [[], [], []]
    segs = []
    for s in range(segments):
        s0 = s * segment_s
        t = s0
        while t < s0 + segment_s - 1e-9:
            rounds[0].append((t, [network_ms(t)] * 3))
            rounds[1].append((t + 0.05, [2 * network_ms(t + 0.05)] * 3))
            rounds[2].append((t + 0.1, [anchor_ms(t + 0.1)] * 3))
            t += rotation_s
        segs.append(([0, 1], s0, s0 + segment_s))
    return {"rounds": rounds, "segments": segs}


def test_a_machine_that_changes_speed_between_segments_gives_the_same_ratio_every_time():
    speed = lambda t: 1.0 if int(t // 5) % 2 == 0 else 1.4  # noqa: E731
    result = score(_trace(lambda t: 1.0 * speed(t), lambda t: 0.5 * speed(t)), load_rounds_module(None), None)
    assert result["timings"] == 8 and result["flagged"] == 0
    assert result["pair_diff_p95"] == pytest.approx(0.0, abs=1e-12)
    assert 4 <= result["rounds_mean"] < 25  # stopped once the rule held, well before the segment ended


def test_a_network_slowed_alone_for_a_whole_segment_shows_in_the_pair_differences():
    slow = lambda t: 1.3 if 5 <= t < 10 else 1.0  # noqa: E731
    result = score(_trace(lambda t: slow(t), lambda t: 0.5), load_rounds_module(None), None)
    assert result["pair_diff_p95"] == pytest.approx(0.3, rel=1e-6)  # no rule can see this; the replay reports it


def test_fewer_runs_per_round_replays_the_first_runs_only():
    def trace():
        rounds = [[], []]
        for k in range(60):  # a network whose first run of every round is 20% slow, then steady
            rounds[0].append((0.2 * k, [1.2, 1.0, 1.0]))
            rounds[1].append((0.2 * k + 0.1, [0.5, 0.5, 0.5]))
        return {"rounds": rounds, "segments": [([0], 0.0, 6.0), ([0], 6.0, 12.0)]}

    rule = load_rounds_module(None)
    full, first = score(trace(), rule, None), score(trace(), rule, None, runs_per_round=1)
    assert full["timed_ms_mean"] == pytest.approx(3.2 * full["rounds_mean"])
    assert first["timed_ms_mean"] == pytest.approx(1.2 * first["rounds_mean"])  # the slow first runs alone
    assert full["pair_diff_p95"] == first["pair_diff_p95"] == pytest.approx(0.0, abs=1e-12)

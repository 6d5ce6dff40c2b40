"""Speed detection: the anchor timed here against the anchor latency of the predictor's profile."""
import pytest

from gnnlat.network import SEARCH_CONFIG
from gnnlat.predictor import LatencyPredictor
from gnnlat.published import DARTS_V2
from harness.profile import ProfileConfig, anchor_job, run_profile
from harness.rounds import ScheduleConfig
from harness.store import ProfileStore, arch_key
from harness.timers import CpuTimer, TimerSettings
from workflows.devices import SpeedCheck, anchor_reference, check_speed, reference_anchor

FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)


def test_speed_warning_only_beyond_ten_percent_and_says_how_much():
    assert SpeedCheck(1.05, 1.0, "profile anchor", True).warning() is None
    slow = SpeedCheck(2.1, 1.2, "profile anchor", True)
    assert "75% slower" in slow.warning() and "even if the fingerprints match" in slow.warning()
    assert "20% faster" in SpeedCheck(0.8, 1.0, "predicted anchor", True).warning()
    assert SpeedCheck(2.1, 1.2, "profile anchor", True).to_dict()["ratio"] == pytest.approx(1.75)


def test_anchor_reference_is_the_median_anchor_of_the_search_config(tmp_path):
    out = str(tmp_path / "p.db")
    quick = ScheduleConfig(window_s=0.01, anchor_every_s=0.0)
    run_profile(ProfileConfig(n=3, out=out, config=SEARCH_CONFIG, repeat_frac=0.0, schedule=quick, build_workers=0),
                CpuTimer(settings=FAST))
    refs = anchor_reference([out])
    with ProfileStore(out, create=False) as s:
        samples = s.samples()
    (fp, ref), = refs.items()
    assert fp == samples[0].fingerprint_id and ref["anchor_key"] == arch_key(*anchor_job(SEARCH_CONFIG))
    assert ref["batches"] == 3
    assert min(x.extra["anchor_ms"] for x in samples) <= ref["anchor_ms"] <= max(x.extra["anchor_ms"] for x in samples)


def test_reference_falls_back_to_the_predicted_anchor():
    p = LatencyPredictor(meta={"anchor_refs": {"abc": {"anchor_ms": 1.5}}})
    assert reference_anchor(p, "abc") == (1.5, "profile anchor")
    assert reference_anchor(p, "other") == (1.5, "profile anchor")  # another device's, still a reference
    old = LatencyPredictor(meta={})  # predictors trained before anchor references
    ms, source = reference_anchor(old, "abc")
    assert source == "predicted anchor" and ms == pytest.approx(float(old.predict([DARTS_V2], SEARCH_CONFIG)[0]))


def test_check_speed_uses_a_given_anchor_timing():
    p = LatencyPredictor(meta={"backend": "cpu", "anchor_refs": {"x": {"anchor_ms": 10.0}}})
    check = check_speed(p, "cpu", local_ms=13.0)
    assert check.ratio == pytest.approx(1.3) and "30% slower" in check.warning()
    assert check_speed(p, "triton") is None or check_speed(p, "triton").local_ms > 0  # no CUDA: not checked


def test_anchored_measurement_rescales_the_agreed_ratio_to_the_reference_anchor(tmp_path):
    from gnnlat.checkpoint import save_predictor
    from gnnlat.network import NetworkConfig
    from harness.store import fingerprint_id
    from workflows.devices import anchored_measurement, measurement_predictor

    fp = CpuTimer().fingerprint()
    save_predictor(LatencyPredictor(meta={"backend": "cpu", "anchor_refs": {fingerprint_id(fp): {"anchor_ms": 1.5}}}),
                   tmp_path / "p.pt")
    p = measurement_predictor("cpu", str(tmp_path / "p.pt"))
    measured = {"backend": "cpu", "fingerprint": fp, "latency_ms": 2.4, "agreement": {"anchor_ratio": 0.8}}
    at_search = anchored_measurement(p, measured, SEARCH_CONFIG)
    assert at_search == {"anchored_ms": pytest.approx(1.2), "anchor_reference_ms": 1.5,
                         "anchor_reference": "profile anchor"}
    small = NetworkConfig(C=8, layers=5)  # no profile anchor at this config: the predicted one
    other = anchored_measurement(p, measured, small)
    assert other["anchor_reference"] == "predicted anchor"
    assert other["anchored_ms"] == pytest.approx(0.8 * float(p.predict([DARTS_V2], small)[0]))
    # Without an anchor ratio (an un-anchored timing) or a predictor there is no anchored figure, never a guess.
    unanchored = {**measured, "agreement": None}
    assert anchored_measurement(p, unanchored, SEARCH_CONFIG)["anchored_ms"] is None
    assert anchored_measurement(None, measured, SEARCH_CONFIG)["anchored_ms"] is None


def test_validation_reads_anchored_labels_at_the_predictors_speed(tmp_path):
    from workflows.records import load_records
    from workflows.validation import to_predictor_speed

    out = str(tmp_path / "p.db")
    quick = ScheduleConfig(window_s=0.01, anchor_every_s=0.0)
    run_profile(ProfileConfig(n=3, out=out, config=SEARCH_CONFIG, repeat_frac=0.0, schedule=quick, build_workers=0),
                CpuTimer(settings=FAST))
    (fp, ref), = anchor_reference([out]).items()
    records = load_records(out, labels="anchored")
    slower = {fp: {**ref, "anchor_ms": 2 * ref["anchor_ms"]}}
    slower_day = LatencyPredictor(meta={"backend": "cpu", "anchor_refs": slower})
    scaled, factors = to_predictor_speed(slower_day, records, [out])
    assert factors == {fp: pytest.approx(2.0)}
    assert [r.latency_ms for r in scaled] == pytest.approx([2 * r.latency_ms for r in records])
    # min labels, another device's reference, or none at all: the labels stay as measured
    assert to_predictor_speed(slower_day, load_records(out, labels="min"), [out])[1] == {}
    other = LatencyPredictor(meta={"backend": "cpu", "anchor_refs": {"elsewhere": {**ref, "anchor_ms": 9.0}}})
    assert to_predictor_speed(other, records, [out]) == (records, {})
    assert to_predictor_speed(LatencyPredictor(meta={"backend": "cpu"}), records, [out]) == (records, {})

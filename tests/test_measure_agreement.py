"""The verdicts of benchmarks/measure_agreement.py (the noisy-machine check of `measure`)."""
from benchmarks.measure_agreement import report


def _pass(measured: float, fastest_run: float, anchored: float | None = None) -> dict:
    return {"measure": {"net": {"latency_ms": measured, "anchored_ms": anchored}},
            "independent": {"net": {"fastest_run": fastest_run, "fastest_round_mean": 1.2 * fastest_run,
                                    "anchored": anchored}}}


def test_passes_within_five_percent_and_the_timer_within_six_are_reported_as_such():
    text = report(["net"], [_pass(1.00, 1.00), _pass(1.04, 1.00), _pass(1.02, 0.97)])
    assert "| net | 1.000, 1.040, 1.020 | 4.0% |" in text
    assert "net (raw): passes within 5% of each other; 3 of 3 within 6% of the independent timer" in text
    assert "anchored" not in text  # no anchored figures, no anchored table


def test_a_pass_outside_the_bounds_is_not_hidden():
    text = report(["net"], [_pass(1.00, 1.00, 0.9), _pass(1.10, 1.00, 0.9), _pass(1.00, 0.90, 0.9)])
    assert "net (raw): passes NOT within 5% of each other; 1 of 3 within 6% of the independent timer" in text
    assert "net (anchored): passes within 5% of each other; 3 of 3 within 6% of the independent timer" in text

"""Regression metrics on hand-computed values."""
import math

import numpy as np
import pytest

from gnnlat.metrics import regression_metrics, relative_errors


def test_hand_computed_values():
    true = [1.0, 2.0, 4.0, 10.0]
    pred = [1.1, 2.0, 3.0, 10.4]  # relative errors 0.10, 0, 0.25, 0.04
    m = regression_metrics(pred, true)
    assert m["n"] == 4
    assert m["mape"] == pytest.approx((0.10 + 0 + 0.25 + 0.04) / 4)
    assert m["within_5"] == pytest.approx(2 / 4)
    assert m["within_10"] == pytest.approx(3 / 4)  # exactly 10 % counts as within
    assert m["max_error"] == pytest.approx(0.25)
    assert m["rmse_ms"] == pytest.approx(math.sqrt((0.01 + 0 + 1.0 + 0.16) / 4))
    # Same order in both: perfect rank agreement.
    assert m["kendall_tau"] == pytest.approx(1.0)
    assert m["spearman_rho"] == pytest.approx(1.0)


def test_rank_metrics_see_swaps():
    m = regression_metrics([2.0, 1.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    # One discordant pair out of six: tau = (5 - 1) / 6.
    assert m["kendall_tau"] == pytest.approx(4 / 6)
    # Rank differences (1, 1, 0, 0): rho = 1 - 6 * 2 / (4 * 15).
    assert m["spearman_rho"] == pytest.approx(0.8)
    reversed_ = regression_metrics([4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert reversed_["kendall_tau"] == pytest.approx(-1.0)


def test_perfect_and_degenerate_input():
    m = regression_metrics(np.array([5.0]), np.array([5.0]))
    assert m["mape"] == 0 and m["within_5"] == 1 and m["rmse_ms"] == 0
    assert math.isnan(m["kendall_tau"]) and math.isnan(m["spearman_rho"])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="differ in length"):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no samples"):
        regression_metrics([], [])
    with pytest.raises(ValueError, match="> 0"):
        relative_errors([1.0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        relative_errors([float("nan")], [1.0])

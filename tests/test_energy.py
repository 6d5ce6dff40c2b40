"""Energy counters on a fake powercap tree, and the plain "not measurable here" answer."""
import time
from pathlib import Path

import pytest

from gnnlat.published import DARTS_V2
from gnnlat.network import NetworkConfig
from harness.energy import EnergyUnavailable, RaplCounter, energy_counter, energy_per_run_mj, rapl_zones
from harness.metric_profile import EnergyMeter, MetricProfileError, run_metric_profile
from harness.profile import ProfileConfig
from harness.store import ProfileStore
from harness.timers import make_timer
from tests.cli_helpers import assert_clean_failure, invoke, invoke_json
from workflows.measure import measure_energy


def fake_powercap(root: Path, zones: dict[str, int], max_range: int = 10**9) -> Path:
    """A sysfs-like tree: package zones intel-rapl:N with energy_uj and max_energy_range_uj, and a
    sub-zone intel-rapl:0:0 (core) that must not be counted twice."""
    for name, uj in zones.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "energy_uj").write_text(f"{uj}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    sub = root / "intel-rapl:0:0"
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5\n")
    return root


def test_zones_are_the_packages(tmp_path):
    root = fake_powercap(tmp_path / "powercap", {"intel-rapl:0": 100, "intel-rapl:1": 200})
    assert [z.name for z in rapl_zones(root)] == ["intel-rapl:0", "intel-rapl:1"]
    assert RaplCounter(root).read_uj() == [100, 200]


def test_delta_undoes_a_wrap(tmp_path):
    root = fake_powercap(tmp_path / "powercap", {"intel-rapl:0": 0}, max_range=1_000_000)
    counter = RaplCounter(root)
    assert counter.delta_mj([999_000], [1_000]) == pytest.approx(2.0)  # 1,000 + 1,000 µJ across the wrap
    assert counter.delta_mj([1_000], [4_000]) == pytest.approx(3.0)


def test_energy_per_run_divides_by_runs(tmp_path):
    root = fake_powercap(tmp_path / "powercap", {"intel-rapl:0": 0, "intel-rapl:1": 0})
    counter = RaplCounter(root)
    files = [root / "intel-rapl:0" / "energy_uj", root / "intel-rapl:1" / "energy_uj"]

    def run():  # each inference "uses" 1.5 mJ on package 0 and 0.5 mJ on package 1
        for f, uj in zip(files, (1500, 500)):
            f.write_text(str(int(f.read_text()) + uj))

    assert energy_per_run_mj(run, counter, min_window_s=0.01) == pytest.approx(2.0)


def test_no_powercap_is_said_plainly(tmp_path):
    with pytest.raises(EnergyUnavailable, match="not measurable here: .* does not exist"):
        energy_counter("cpu", tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EnergyUnavailable, match="no RAPL package zone"):
        energy_counter("onnxruntime", empty)


def test_root_only_counter_is_said_plainly(tmp_path, monkeypatch):
    root = fake_powercap(tmp_path / "powercap", {"intel-rapl:0": 1})
    real = Path.read_text

    def denied(self, *a, **kw):  # tests run as root here, so the kernel's 0400 cannot be imitated with chmod
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(EnergyUnavailable, match="root only"):
        energy_counter("cpu", root)


def test_measure_energy_never_guesses(tmp_path):
    out = measure_energy(DARTS_V2, NetworkConfig(C=4, layers=3, resolution=8), "cpu", powercap_root=tmp_path / "absent")
    assert out["energy_mj"] is None and "not measurable here" in out["energy_unavailable"]


class WallClockCounter:
    """An energy counter's stand-in (this machine has none): a constant 40 W, read off the clock."""

    source = "stand-in"

    def read_uj(self) -> list[int]:
        return [int(time.perf_counter() * 40e6)]

    def delta_mj(self, before: list[int], after: list[int]) -> float:
        return (after[0] - before[0]) / 1e3


class StuckCounter(WallClockCounter):
    def read_uj(self) -> list[int]:
        return [7]


TINY = NetworkConfig(C=4, layers=3, resolution=8)


def test_energy_profile_stores_resumes_and_repeats(tmp_path):
    out = tmp_path / "e.db"
    meter = EnergyMeter(make_timer("onnxruntime"), WallClockCounter(), window_s=0.02)
    first = run_metric_profile(ProfileConfig(n=4, out=str(out), config=TINY, repeat_frac=1.0), meter)
    assert first["metric"] == "energy" and first["measured"] == 4
    again = run_metric_profile(ProfileConfig(n=30, out=str(out), config=TINY, repeat_frac=1.0), meter)
    assert again["measured"] == 26 and again["measured_repeats"] > 0  # the first four are not measured again
    with ProfileStore(out, create=False) as store:
        samples = store.samples(metric="energy")
        assert store.count() == 0 and len(samples) == 30  # energy only: no timing columns filled
    # 40 W for a run of a tiny network (a fraction of a millisecond to a few): mJ, not J or µJ.
    assert all(0.001 < s.energy_mj < 1000 and s.extra["energy_source"] == "stand-in" for s in samples)
    assert all(s.extra["energy_window_s"] == 0.02 for s in samples)


def test_a_counter_that_does_not_advance_is_not_a_measurement(tmp_path):
    meter = EnergyMeter(make_timer("cpu"), StuckCounter(), window_s=0.01)
    with pytest.raises(EnergyUnavailable, match="did not advance"):
        run_metric_profile(ProfileConfig(n=1, out=str(tmp_path / "e.db"), config=TINY), meter)
    with ProfileStore(tmp_path / "e.db", create=False) as store:
        assert store.count(metric="energy") == 0


@pytest.mark.parametrize("window", [0.0, -1.0, float("nan"), float("inf")])
def test_the_energy_window_must_be_positive(window):
    with pytest.raises(MetricProfileError, match="window"):
        EnergyMeter(make_timer("cpu"), WallClockCounter(), window_s=window)


def test_energy_profile_cli_says_plainly_when_there_is_no_counter(tmp_path, monkeypatch):
    import harness.energy

    absent, real = tmp_path / "absent", harness.energy.energy_counter
    monkeypatch.setattr(harness.energy, "energy_counter", lambda backend: real(backend, absent))
    res = invoke("profile", "--metric", "energy", "--n", "2", "--out", tmp_path / "e.db", "--backend", "onnxruntime",
                 "--C", "4", "--layers", "3", "--resolution", "8")
    assert_clean_failure(res, "not measurable here")


def test_energy_profile_cli_and_an_energy_predictor(tmp_path, monkeypatch):
    import harness.energy

    monkeypatch.setattr(harness.energy, "energy_counter", lambda backend: WallClockCounter())
    db, model = tmp_path / "e.db", tmp_path / "e.pt"
    out = invoke_json("profile", "--metric", "energy", "--n", "12", "--out", db, "--backend", "onnxruntime",
                      "--energy-window-s", "0.02", "--C", "4", "--layers", "3", "--resolution", "8")
    assert out["metric"] == "energy" and out["metrics"]["energy"]["samples"] == 12
    trained = invoke_json("train-predictor", "--profile", db, "--metric", "energy", "--out", model, "--epochs", "2",
                          "--val-frac", "0.25")
    assert trained["metric"] == "energy" and trained["unit"] == "mJ"
    assert invoke("profile", "--metric", "energy", "--n", "1", "--out", db, "--energy-window-s", "0").exit_code != 0

"""Energy counters on a fake powercap tree, and the plain "not measurable here" answer."""
from pathlib import Path

import pytest

from gnnlat.published import DARTS_V2
from gnnlat.network import NetworkConfig
from harness.energy import EnergyUnavailable, RaplCounter, energy_counter, energy_per_run_mj, rapl_zones
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

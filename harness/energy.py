"""Energy per inference, from a hardware counter, or a plain statement of why there is none.

Energy is never estimated: a figure comes from a cumulative counter read before and after many
inferences, or the harness says it is not measurable here and why (``EnergyUnavailable.reason``).

* **CPU** (cpu, onnxruntime): Linux powercap / Intel RAPL, ``/sys/class/powercap/<zone>/energy_uj``
  of each top-level package zone (``intel-rapl:N``; AMD exposes the same interface), summed. The
  counter wraps at ``max_energy_range_uj``; one wrap between two reads is undone. Since 2020 the
  files are readable by root only (CVE-2020-8694), which is then the stated reason.
* **GPU** (triton): NVML's total energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta
  and later), through ``pynvml`` when installed.

The package counter sees the whole CPU package, so the figure includes other processes' work:
it is meaningful on a quiet machine, which a shared VM is not (and such VMs expose no RAPL).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gnnlat.errors import GnnlatError

POWERCAP_ROOT = Path("/sys/class/powercap")
MIN_WINDOW_S = 1.0  # RAPL updates about every ms; a second of runs makes one read's step negligible


class EnergyUnavailable(GnnlatError):
    """No energy counter can be read on this machine for this backend; the message says why."""

    @property
    def reason(self) -> str:
        return str(self)


@dataclass(frozen=True)
class RaplZone:
    """One top-level powercap zone (a CPU package)."""

    name: str
    energy_path: Path
    max_range_uj: int


class RaplCounter:
    """Summed package energy (µJ → mJ) of the powercap zones under ``root``."""

    source = "powercap/rapl"

    def __init__(self, root: Path = POWERCAP_ROOT):
        self.root = Path(root)
        self.zones = rapl_zones(self.root)

    def read_uj(self) -> list[int]:
        out = []
        for z in self.zones:
            try:
                out.append(int(z.energy_path.read_text().strip()))
            except PermissionError:
                raise EnergyUnavailable(f"energy is not measurable here: {z.energy_path} is readable by "
                                        "root only (powercap/RAPL, CVE-2020-8694)") from None
            except (OSError, ValueError) as e:
                raise EnergyUnavailable(f"energy is not measurable here: cannot read {z.energy_path} ({e})") from None
        return out

    def delta_mj(self, before: list[int], after: list[int]) -> float:
        """Energy between two reads (mJ), undoing one counter wrap per zone."""
        total = 0
        for z, b, a in zip(self.zones, before, after):
            total += a - b if a >= b else a + z.max_range_uj - b
        return total / 1e3


def rapl_zones(root: Path = POWERCAP_ROOT) -> list[RaplZone]:
    """The package zones (``intel-rapl:N``, not their ``:N:M`` sub-zones); EnergyUnavailable with
    the reason when there is no powercap tree or no readable package zone."""
    if not root.is_dir():
        raise EnergyUnavailable(f"energy is not measurable here: {root} does not exist (no Linux powercap/RAPL "
                                "interface: a virtual machine or a kernel without it)")
    zones = []
    for d in sorted(root.glob("*rapl:*")):
        if d.name.count(":") != 1 or not (d / "energy_uj").exists():
            continue
        try:
            max_range = int((d / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            max_range = 2**32
        zones.append(RaplZone(d.name, d / "energy_uj", max_range))
    if not zones:
        raise EnergyUnavailable(f"energy is not measurable here: {root} has no RAPL package zone with an "
                                "energy_uj counter")
    return zones


class NvmlCounter:
    """NVML's total energy of GPU 0 (mJ since the driver loaded)."""

    source = "nvml"

    def __init__(self, index: int = 0):
        try:
            import pynvml
        except ImportError:
            raise EnergyUnavailable("energy is not measurable here: the GPU energy counter needs NVML "
                                    "(pip install nvidia-ml-py)") from None
        try:
            pynvml.nvmlInit()
            self._nvml, self._handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
            self.read_uj()
        except Exception as e:  # pynvml raises NVMLError subclasses per cause
            raise EnergyUnavailable(f"energy is not measurable here: NVML has no energy counter ({e})") from None

    def read_uj(self) -> list[int]:
        return [int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) * 1000]

    def delta_mj(self, before: list[int], after: list[int]) -> float:
        return (after[0] - before[0]) / 1e3


def energy_counter(backend: str, powercap_root: Path = POWERCAP_ROOT) -> RaplCounter | NvmlCounter:
    """The counter for ``backend``'s device, or EnergyUnavailable saying why there is none."""
    if backend == "triton":
        return NvmlCounter()
    counter = RaplCounter(powercap_root)
    counter.read_uj()  # permission problems surface now, not in the middle of a measurement
    return counter


def energy_per_run_mj(fn: Callable[[], object], counter: RaplCounter | NvmlCounter,
                      min_window_s: float = MIN_WINDOW_S, sync: Callable[[], None] = lambda: None) -> float:
    """Energy of one ``fn()`` (mJ): back-to-back runs for at least ``min_window_s``, counter read
    before and after, divided by the number of runs."""
    fn()
    sync()
    before, t0, n = counter.read_uj(), time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < min_window_s:
        fn()
        n += 1
    sync()
    return counter.delta_mj(before, counter.read_uj()) / n

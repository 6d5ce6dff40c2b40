"""Is this machine the device a predictor was made for? The one rule, used by every command."""
from __future__ import annotations

from dataclasses import dataclass

from gnnlat.checkpoint import matches_device
from gnnlat.predictor import LatencyPredictor
from harness.store import fingerprint_id
from harness.timers import make_timer, resolve_backend


@dataclass(frozen=True)
class DeviceCheck:
    """This machine's fingerprint for ``backend`` against the predictor's training devices."""

    backend: str
    match: bool
    local_device: str
    predictor_devices: tuple[str, ...]

    def warning(self, predictor_name: str, predictor_backend: str | None) -> str | None:
        """A one-line warning when the devices differ, else None."""
        if self.match:
            return None
        return (f"{predictor_name} was profiled on {', '.join(self.predictor_devices)} ({predictor_backend}); "
                f"this machine ({self.local_device}, {self.backend}) differs, so measured and predicted "
                "latencies come from different devices. Profile this machine and train a predictor for it "
                "for a faithful search.")


def check_device(predictor: LatencyPredictor, backend: str | None = None) -> DeviceCheck:
    """Compare this machine (timed with ``backend``, default the predictor's) with the predictor's
    training devices by fingerprint (:func:`gnnlat.checkpoint.matches_device`)."""
    backend = resolve_backend(backend or predictor.backend or "auto")
    local = make_timer(backend).fingerprint()
    devices = tuple(sorted({fp.get("device", "?") for fp in predictor.fingerprints.values()}))
    return DeviceCheck(backend, matches_device(predictor, fingerprint_id(local)), str(local.get("device", "?")),
                       devices)

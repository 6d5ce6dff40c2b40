"""Is this machine the device a predictor was made for? The one rule, used by every command."""
from __future__ import annotations

from dataclasses import dataclass

from gnnlat.checkpoint import load_predictor, matches_device
from gnnlat.errors import GnnlatError
from gnnlat.network import SEARCH_CONFIG, Network, NetworkConfig
from gnnlat.predictor import LatencyPredictor
from gnnlat.published import DARTS_V2
from gnnlat.shipped import predictor_path, reference_predictor
from harness.profile import anchor_job
from harness.rounds import ScheduleConfig
from harness.store import arch_key, fingerprint_id
from harness.stream import time_interleaved
from harness.timers import make_timer, resolve_backend
from workflows.records import anchor_medians, read_samples


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
                "latencies come from different devices. Calibrate it to this machine from a few dozen "
                f"measurements (python cli.py calibrate --predictor {predictor_name} --backend {self.backend} "
                "--n 50 --out calibrated.pt), or profile this machine and train a predictor for it.")


def check_device(predictor: LatencyPredictor, backend: str | None = None) -> DeviceCheck:
    """Compare this machine (timed with ``backend``, default the predictor's) with the predictor's
    training devices by fingerprint (:func:`gnnlat.checkpoint.matches_device`)."""
    backend = resolve_backend(backend or predictor.backend or "auto")
    local = make_timer(backend, predictor.threads).fingerprint()
    devices = tuple(sorted({fp.get("device", "?") for fp in predictor.fingerprints.values()}))
    return DeviceCheck(backend, matches_device(predictor, fingerprint_id(local)), str(local.get("device", "?")),
                       devices)


# ---- speed: the same device, a different day ----------------------------------------------------

SPEED_TOL = 0.10  # a machine more than this much faster or slower than the profile's gets a warning


def anchor_reference(paths, backend: str | None = None) -> dict[str, dict]:
    """The anchor's typical latency per device in profile stores: ``{fingerprint id: {"anchor_key",
    "anchor_ms", "batches"}}``, the median over batches of the anchor at the search config. A
    predictor keeps it (meta ``anchor_refs``) so a later machine can tell how fast it runs."""
    key = arch_key(*anchor_job(SEARCH_CONFIG))
    samples = [s for path in paths for part in read_samples(path, backend, None, use_repeats=True) for s in part]
    return {fp: {"anchor_key": key, "anchor_ms": ms, "batches": n}
            for (_, fp, anchor_key), (ms, n) in anchor_medians(samples, ", ".join(map(str, paths))).items()
            if anchor_key == key}


@dataclass(frozen=True)
class SpeedCheck:
    """The anchor (DARTS V2 at the search config) timed here against the predictor's reference:
    the anchor latency of its profile, or, for a predictor without one, its own prediction."""

    local_ms: float
    reference_ms: float
    source: str  # "profile anchor" | "predicted anchor"
    agreed: bool  # the local anchor timing's windows agreed

    @property
    def ratio(self) -> float:
        return self.local_ms / self.reference_ms

    def to_dict(self) -> dict:
        return {"local_ms": self.local_ms, "reference_ms": self.reference_ms, "source": self.source,
                "ratio": self.ratio, "agreed": self.agreed, "warning": self.warning()}

    def warning(self) -> str | None:
        if abs(self.ratio - 1) <= SPEED_TOL:
            return None
        how = "slower" if self.ratio > 1 else "faster"
        return (f"this machine runs the anchor (DARTS V2) in {self.local_ms:.3f} ms against {self.reference_ms:.3f} ms "
                f"for the predictor's profile ({self.source}): {abs(self.ratio - 1):.0%} {how}, even if the "
                "fingerprints match; measured latencies will differ from predictions by about that much")


def reference_anchor(predictor: LatencyPredictor, fp_id: str) -> tuple[float, str]:
    """(reference ms, source): this device's profile anchor, else any device's, else the prediction."""
    refs = predictor.meta.get("anchor_refs") or {}
    if isinstance(refs, str):  # meta values may come back as their text form
        refs = {}
    ref = refs.get(fp_id) or next(iter(refs.values()), None)
    if ref:
        return float(ref["anchor_ms"]), "profile anchor"
    return float(predictor.predict([DARTS_V2], SEARCH_CONFIG)[0]), "predicted anchor"


def check_speed(predictor: LatencyPredictor, backend: str | None = None, local_ms: float | None = None) -> SpeedCheck | None:
    """Time the anchor here (unless ``local_ms`` is given: the anchor at the search config, already
    timed) and compare it with the predictor's reference. None when the backend cannot run here."""
    try:
        timer = make_timer(resolve_backend(backend or predictor.backend or "auto"), predictor.threads)
    except GnnlatError:
        return None
    agreed = True
    if local_ms is None:
        if timer.backend == "triton":
            local_ms, agreed = timer.time_one(Network(DARTS_V2, SEARCH_CONFIG)).latency_ms, True
        else:
            schedule = ScheduleConfig(window_s=0.5, min_gap=2, min_rounds=6, max_windows=10)
            timing, verdict, _ = time_interleaved(timer, [anchor_job(SEARCH_CONFIG)], schedule)[0]
            local_ms, agreed = timing.latency_ms, verdict.agreed
    ref_ms, source = reference_anchor(predictor, fingerprint_id(timer.fingerprint()))
    return SpeedCheck(float(local_ms), ref_ms, source, agreed)


def measurement_speed(measured: dict, config: NetworkConfig, predictor: LatencyPredictor | None) -> SpeedCheck | None:
    """The speed check of a ``measure`` against ``predictor`` (:func:`measurement_predictor`; None:
    no check). The anchor timed with the network is reused when it ran at the search config, where
    the references were taken."""
    if predictor is None:
        return None
    local_ms = measured.get("anchor_ms") if config == SEARCH_CONFIG else None
    return check_speed(predictor, measured["backend"], local_ms)


def anchored_measurement(predictor: LatencyPredictor | None, measured: dict, config: NetworkConfig) -> dict:
    """The measurement at the reference speed of the predictor's profile:

    .. math:: t_\\text{anchored} = \\frac{t}{t_\\text{anchor}} \\cdot t^\\text{ref}_\\text{anchor},

    with :math:`t / t_\\text{anchor}` the ratio the measurement's windows agreed on (the anchor, DARTS
    V2 at the same config, timed in the same seconds) and :math:`t^\\text{ref}_\\text{anchor}` the
    anchor's latency in the predictor's profile (search config) or its prediction (other configs).

    Why: a shared machine's speed moves by 10-30% within minutes, and both networks move with it;
    their ratio does not (docs/results.md), and the anchored labels a predictor trains on are in
    the same units. ``anchored_ms`` is None without an anchor ratio or a predictor."""
    ratio = (measured.get("agreement") or {}).get("anchor_ratio")
    if predictor is None or not ratio:
        return {"anchored_ms": None, "anchor_reference_ms": None, "anchor_reference": None}
    if config == SEARCH_CONFIG:
        reference_ms, source = reference_anchor(predictor, fingerprint_id(measured["fingerprint"]))
    else:
        reference_ms, source = float(predictor.predict([DARTS_V2], config)[0]), "predicted anchor"
    return {"anchored_ms": float(ratio) * reference_ms, "anchor_reference_ms": reference_ms,
            "anchor_reference": source}


def measurement_predictor(backend: str, path: str | None) -> LatencyPredictor | None:
    """The predictor a ``measure`` compares with: the one at ``path``, else the shipped reference
    predictor of the measuring ``backend`` (None when there is none)."""
    try:
        return load_predictor(predictor_path(path or reference_predictor(backend)))
    except GnnlatError:
        if path:
            raise
        return None

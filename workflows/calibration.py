"""Calibrating a predictor to this machine: choose architectures, profile them, adapt the predictor.

The architectures come from the harness's own random streams (the fixed config with ``seed``,
varied configs with ``seed + 1``), so a re-run chooses the same ones; they are timed by the
profiling loop into a profile store (resumable: what the store already holds for this device is
not timed again) and the base predictor is fine-tuned on them and blended with a roofline fitted
on them (:mod:`gnnlat.calibration`).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gnnlat.calibration import CalibrationConfig, calibrate_predictor, choose_cover
from gnnlat.network import NetworkConfig
from gnnlat.predictor import LatencyPredictor, PredictorError
from harness.profile import ProfileConfig, architecture_stream, run_profile
from harness.profile_stats import ProfileStats
from harness.store import ProfileStore, arch_key, fingerprint_id
from harness.timers import Timer
from workflows.devices import anchor_reference
from workflows.records import load_records

CANDIDATES_PER_SAMPLE = 20  # the spread is chosen among this many random candidates per sample


@dataclass
class CalibrateConfig:
    """N architectures to time into ``profile``; the calibrated predictor goes to ``out`` (when
    given), which must not be the profile: the predictor would overwrite the measurements."""

    n: int
    profile: str
    seed: int = 0
    config: NetworkConfig = field(default_factory=NetworkConfig)
    fine_tune: CalibrationConfig = field(default_factory=CalibrationConfig)
    out: str | None = None

    @classmethod
    def writing(cls, out: str, n: int, profile: str | None = None, **kw) -> "CalibrateConfig":
        """The config of a run that writes ``out``; the profile defaults to ``out`` with ``.db``."""
        cfg = cls(n=n, profile=profile or str(Path(out).with_suffix(".db")), out=out, **kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.out is not None and Path(self.profile).resolve() == Path(self.out).resolve():
            raise PredictorError("--profile and --out must be different files")


def candidates(cfg: CalibrateConfig) -> tuple[list, list]:
    """(fixed-config, varied-config) random architectures to choose the calibration set from."""
    count = CANDIDATES_PER_SAMPLE * cfg.n
    fixed = ProfileConfig(n=1, out="", seed=cfg.seed, config=cfg.config)
    varied = ProfileConfig(n=1, out="", seed=cfg.seed + 1, config=cfg.config, vary_config=True)
    return (list(itertools.islice(architecture_stream(fixed), count)),
            list(itertools.islice(architecture_stream(varied), count)))


def run_calibration(base: LatencyPredictor, cfg: CalibrateConfig, timer: Timer,
                    progress: Callable[[int, int], None] | None = None,
                    stats: ProfileStats | None = None) -> tuple[LatencyPredictor, dict]:
    """(calibrated predictor, report): ``cfg.n`` architectures chosen by ``choose_cover``, timed
    on ``timer``'s device into ``cfg.profile``, and ``base`` adapted to their labels."""
    if base.metric != "latency":
        raise PredictorError(f"calibrate times latency; a {base.metric} predictor needs a {base.metric} profile "
                             "of this machine (profile --metric) and train-predictor")
    cfg.validate()
    t0 = time.perf_counter()
    fixed, varied = candidates(cfg)
    pool = fixed + varied
    chosen = [pool[i] for i in choose_cover(base, fixed, varied, cfg.n)]
    keys = {arch_key(g.to_json(), c.to_dict()) for g, c in chosen}
    fp_id = fingerprint_id(timer.fingerprint())
    with ProfileStore(cfg.profile) as store:
        held = store.primary_keys(timer.backend, fp_id)
    profile = ProfileConfig(n=len(held | keys), out=cfg.profile, seed=cfg.seed, config=cfg.config,
                            architectures=tuple(chosen))
    summary = run_profile(profile, timer, progress, stats)
    t_profiled = time.perf_counter()
    records = [r for r in load_records(cfg.profile, timer.backend, fp_id) if r.key in keys]
    predictor = calibrate_predictor(base, records, cfg.fine_tune)
    predictor.meta["anchor_refs"] = anchor_reference([cfg.profile], timer.backend)
    report = {"n": len(records), "profile": str(Path(cfg.profile)), "backend": timer.backend,
              "fingerprint_id": fp_id, "labels": records[0].label if records else None,
              "profile_seconds": t_profiled - t0, "fit_seconds": time.perf_counter() - t_profiled,
              "seconds": time.perf_counter() - t0, "archs_per_hour": summary.get("archs_per_hour"),
              "noise_floor": summary.get("live_noise_floor"),
              "train": predictor.meta["metrics"]["train"], "blend": predictor.meta["calibration"]["blend"]}
    return predictor, report

"""run_sweep: search and retrain for every (λ, seed), then measure every derived network together.

The λ columns are compared under one machine state: after all runs, every derived genotype is
re-timed in shared interleaved rounds (:func:`workflows.measure.measure_together`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gnnlat.genotype import Genotype
from gnnlat.lat_ref import reference_latency
from gnnlat.network import NetworkConfig
from gnnlat.predictor import LatencyPredictor
from gnnlat.search_config import SearchConfig
from gnnlat.sweep import SweepError, cell_dir, remeasure_together, run_one, summarize_sweep
from gnnlat.sweep_baselines import BaselineConfig, run_baselines, summarize_baselines
from gnnlat.train import TrainConfig
from workflows.measure import MeasureConfig, measure_latency, measure_peak_memory, measure_together


@dataclass
class SweepConfig:
    """The grid (λ values × seeds), the shared search and retraining settings, the deployment
    network the latency term predicts, and the backend that measures it."""

    lams: list[float]
    seeds: int = 3
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    deploy: NetworkConfig = field(default_factory=NetworkConfig)
    backend: str = "auto"
    out_dir: str = "runs/sweep"
    measure: MeasureConfig = field(default_factory=MeasureConfig)  # how hard each run's latency is measured
    baselines: BaselineConfig | None = field(default_factory=BaselineConfig)  # None: searches only

    def validate(self) -> None:
        if not self.lams or self.seeds < 1:
            raise SweepError("a sweep needs at least one λ and at least one seed")
        if any(not lam >= 0 for lam in self.lams):
            raise SweepError(f"every λ must be a number >= 0, got {self.lams}")


@dataclass
class SweepResult:
    """Per-λ summary (mean ± std over seeds, with ``vs_lam0``: relative latency against λ = 0 when
    λ = 0 was swept), every run, and LAT_ref."""

    summary: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    lat_ref_ms: float
    baseline_summary: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)  # every baseline run, screening included


@dataclass(frozen=True)
class SweepCell:
    """Everything one (λ, seed) cell needs, in one picklable object: a Ray task runs it on another
    node exactly as the local loop runs it here."""

    cfg: SweepConfig
    predictor: LatencyPredictor
    memory_predictor: LatencyPredictor | None
    lat_ref_ms: float

    def __call__(self, lam: float, seed: int) -> dict[str, Any]:
        """Search, retrain and measure one cell (a finished cell is read back, an interrupted one resumes)."""
        cfg = self.cfg
        memory_fn = self.memory_predictor.latency_fn(cfg.deploy) if cfg.search.uses_memory else None
        return run_one(lam, seed, cfg.search, cfg.train, self.predictor.latency_fn(cfg.deploy), self.lat_ref_ms,
                       lambda g: measure_latency(g, cfg.deploy, cfg.backend, self.predictor.threads,
                                                 measure=cfg.measure)["latency_ms"],
                       Path(cfg.out_dir), memory_fn)


def run_sweep(cfg: SweepConfig, predictor: LatencyPredictor,
              progress: Callable[[int, int], None] | None = None,
              memory_predictor: LatencyPredictor | None = None, ray_address: str | None = None) -> SweepResult:
    """Run (or resume) every (λ, seed) cell, here one after another or as Ray tasks on the cluster at
    ``ray_address`` (``workflows.ray_sweep``), re-time all derived networks together here, measure
    their peak memory (deterministic, so each once), summarise. ``memory_predictor`` serves the
    memory term when ``cfg.search.lam_memory`` is set."""
    cfg.validate()
    if cfg.search.uses_memory and memory_predictor is None:
        raise SweepError("a sweep with a memory term needs a memory predictor")
    lat_ref_ms = reference_latency(predictor.latency_fn(cfg.deploy), cfg.search.lat_ref)
    cell = SweepCell(cfg, predictor, memory_predictor, lat_ref_ms)
    jobs = [(lam, seed) for lam in cfg.lams for seed in range(cfg.seeds)]
    if ray_address is not None:
        from workflows.ray_sweep import run_cells_on_ray

        rows = run_cells_on_ray(ray_address, cell, jobs,
                                lambda lam, seed: cell_dir(Path(cfg.out_dir), lam, seed, cfg.search), progress)
    else:
        rows = []
        for done, (lam, seed) in enumerate(jobs):
            if progress:
                progress(done, len(jobs))
            rows.append(cell(lam, seed))
    if progress:
        progress(len(jobs), len(jobs))
    base_rows = []
    if cfg.baselines:  # one progress bar: the cells, then the baselines' retrainings
        base_rows = run_baselines(rows, cfg.seeds, cfg.train, lambda gs: predictor.predict(gs, cfg.deploy),
                                  Path(cfg.out_dir), cfg.baselines,
                                  progress and (lambda d, t: progress(len(jobs) + d, len(jobs) + t)))
    timed = remeasure_together(rows + base_rows, lambda gs: [t["latency_ms"] for t in measure_together(
        gs, cfg.deploy, cfg.backend, predictor.threads)])
    mem_backend = memory_predictor.backend if memory_predictor is not None else cfg.backend
    timed = [{**r, "peak_memory_mb": measure_peak_memory(Genotype.from_dict(r["genotype"]), cfg.deploy,
                                                         mem_backend or "cpu", predictor.threads)["peak_memory_mb"]}
             for r in timed]
    rows, base_rows = timed[:len(rows)], timed[len(rows):]
    return SweepResult(with_lam0_comparison(summarize_sweep(rows)), rows, lat_ref_ms,
                       summarize_baselines(base_rows), base_rows)


def with_lam0_comparison(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds ``vs_lam0``: measured latency relative to λ = 0 (None when λ = 0 was not swept)."""
    base = next((s for s in summary if s["lam"] == 0), None)
    return [{**s, "vs_lam0": s["measured_ms"] / base["measured_ms"] - 1 if base else None} for s in summary]

"""A search or a retraining followed by a measurement of its network on this machine."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pathlib import Path

from gnnlat.export import export_network
from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.predictor import LatencyPredictor
from gnnlat.search import SearchResult, run_search
from gnnlat.search_config import SearchConfig
from gnnlat.train import TrainConfig, train_network
from workflows.devices import anchored_measurement
from workflows.measure import measure_latency, measure_peak_memory


@dataclass
class MeasuredSearch:
    """A finished search, its derived network's measured latency and the prediction's error, and
    the measured peak memory when the search had a memory term."""

    result: SearchResult
    measured: dict[str, Any]  # the harness sample (workflows.measure)
    memory: dict[str, Any] | None = None  # workflows.measure.measure_peak_memory of the derived network

    @property
    def measured_ms(self) -> float:
        return float(self.measured["latency_ms"])

    @property
    def relative_error(self) -> float:
        """(predicted − measured) / measured for the derived genotype at the deployment config."""
        return (self.result.predicted_ms - self.measured_ms) / self.measured_ms

    @property
    def costs(self) -> list[dict[str, Any]]:
        """One entry per cost term (latency first): name, unit, lam, ref, predicted, measured."""
        r = self.result
        out = [{"name": "latency", "unit": "ms", "lam": r.lam, "ref": r.lat_ref, "predicted": r.predicted_ms,
                "measured": self.measured_ms}]
        for term in r.costs:
            measured = self.memory["peak_memory_mb"] if term["name"] == "memory" and self.memory else None
            out.append({**term, "measured": measured})
        return out


def search_and_measure(cfg: SearchConfig, predictor: LatencyPredictor, deploy: NetworkConfig, backend: str,
                       resume: bool = False, progress: Callable[[dict[str, Any]], None] | None = None,
                       memory_predictor: LatencyPredictor | None = None) -> MeasuredSearch:
    """Search with ``predictor`` (and ``memory_predictor`` for a memory term) predicting ``deploy``;
    time the derived network with ``backend`` and, with a memory term, measure its peak memory on
    the memory predictor's backend. The derived network at ``deploy`` is written beside its
    genotype as ``model.onnx`` (untrained: the search's weights belong to the supernet, so
    ``train`` gives the network its own)."""
    memory_fn = memory_predictor.latency_fn(deploy) if memory_predictor is not None else None
    result = run_search(cfg, predictor.latency_fn(deploy), resume=resume, progress=progress, memory_fn=memory_fn)
    export_network(Network(result.genotype, deploy), "onnx", Path(result.out_dir) / "model.onnx")
    memory = (measure_peak_memory(result.genotype, deploy, memory_predictor.backend or "cpu", memory_predictor.threads)
              if memory_fn is not None and cfg.uses_memory else None)
    measured = measure_latency(result.genotype, deploy, backend, predictor.threads)
    measured.update(anchored_measurement(predictor, measured, deploy))  # at the predictor's speed: workflows.devices
    return MeasuredSearch(result, measured, memory)


def train_and_measure(genotype: Genotype, cfg: TrainConfig, deploy: NetworkConfig, backend: str,
                      progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Retrain ``genotype`` from scratch, then time it at ``deploy``: one flat report."""
    trained = train_network(genotype, cfg, progress)
    measured = measure_latency(genotype, deploy, backend)
    return {**trained, "measured_ms": measured["latency_ms"], "backend": measured["backend"],
            "deploy_config": deploy.to_dict()}

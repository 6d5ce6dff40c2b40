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
from workflows.measure import measure_latency


@dataclass
class MeasuredSearch:
    """A finished search, its derived network's measured latency and the prediction's error."""

    result: SearchResult
    measured: dict[str, Any]  # the harness sample (workflows.measure)

    @property
    def measured_ms(self) -> float:
        return float(self.measured["latency_ms"])

    @property
    def relative_error(self) -> float:
        """(predicted − measured) / measured for the derived genotype at the deployment config."""
        return (self.result.predicted_ms - self.measured_ms) / self.measured_ms


def search_and_measure(cfg: SearchConfig, predictor: LatencyPredictor, deploy: NetworkConfig, backend: str,
                       resume: bool = False, progress: Callable[[dict[str, Any]], None] | None = None
                       ) -> MeasuredSearch:
    """Search with ``predictor`` predicting ``deploy``; time the derived network with ``backend``.
    The derived network at ``deploy`` is written beside its genotype as ``model.onnx`` (untrained:
    the search's weights belong to the supernet, so ``train`` gives the network its own)."""
    result = run_search(cfg, predictor.latency_fn(deploy), resume=resume, progress=progress)
    export_network(Network(result.genotype, deploy), "onnx", Path(result.out_dir) / "model.onnx")
    return MeasuredSearch(result, measure_latency(result.genotype, deploy, backend, predictor.threads))


def train_and_measure(genotype: Genotype, cfg: TrainConfig, deploy: NetworkConfig, backend: str,
                      progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Retrain ``genotype`` from scratch, then time it at ``deploy``: one flat report."""
    trained = train_network(genotype, cfg, progress)
    measured = measure_latency(genotype, deploy, backend)
    return {**trained, "measured_ms": measured["latency_ms"], "backend": measured["backend"],
            "deploy_config": deploy.to_dict()}

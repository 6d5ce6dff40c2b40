"""The shipped reference predictor, or an untrained one of the default size (same cost) if absent."""
from pathlib import Path

from gnnlat.predictor import LatencyPredictor

SHIPPED = Path(__file__).resolve().parents[1] / "predictors" / "onnxruntime-reference.pt"


def reference_predictor() -> LatencyPredictor:
    return LatencyPredictor.load(SHIPPED) if SHIPPED.is_file() else LatencyPredictor().eval()

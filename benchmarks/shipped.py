"""The shipped reference predictor, or an untrained one of the default size (same cost) if absent."""
from gnnlat.checkpoint import load_predictor
from gnnlat.predictor import LatencyPredictor
from gnnlat.shipped import DEFAULT_PREDICTOR, ShippedFileError, shipped_predictor


def reference_predictor() -> LatencyPredictor:
    try:
        return load_predictor(shipped_predictor(DEFAULT_PREDICTOR))
    except ShippedFileError:
        return LatencyPredictor().eval()

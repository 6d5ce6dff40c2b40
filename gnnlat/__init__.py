"""gnnlat: latency-aware differentiable NAS with a compact GNN latency predictor."""
__version__ = "0.1.0"

"""Deployable files of a discrete network: ONNX or TorchScript, in eval mode, checked against PyTorch.

ONNX is written node by node from the network's modules (:mod:`gnnlat.onnx_graph`: milliseconds,
where tracing takes most of a second) at a fixed opset, the same bytes the harness times on ONNX
Runtime; the TorchScript-based exporter stays as the reference it is checked against. TorchScript
is a trace (the network has no data-dependent control flow in eval mode). :func:`export_difference`
reloads the written file with the runtime a deployment would use and reports the largest absolute
difference from PyTorch's output.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from gnnlat.errors import GnnlatError
from gnnlat.network import Network
from gnnlat.onnx_graph import network_onnx_model

ONNX_OPSET = 17
FORMATS = ("onnx", "torchscript")


class ExportError(GnnlatError, ValueError):
    """An export request that cannot be carried out (unknown format, unreadable output)."""


def onnx_bytes(network: Network, opset: int = ONNX_OPSET) -> bytes:
    """The eval-mode network as ONNX bytes (input ``input``, output ``logits``; batch fixed), written
    from its modules (:func:`gnnlat.onnx_graph.network_onnx_model`)."""
    return network_onnx_model(network, opset).SerializeToString()


def traced_onnx_bytes(network: Network, opset: int = ONNX_OPSET) -> bytes:
    """ONNX from ``torch.onnx.export``'s TorchScript tracer: the reference for the written graph."""
    model = network.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (network.example_input(),), buf, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"])
    return buf.getvalue()


def export_network(network: Network, fmt: str, path: str | Path) -> Path:
    """Write the eval-mode network to ``path`` as ``fmt`` (``onnx`` or ``torchscript``)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        path.write_bytes(onnx_bytes(network))
    else:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(network.eval(), network.example_input())
            torch.jit.save(traced, str(path))
    return path


def export_difference(network: Network, fmt: str, path: str | Path, seed: int = 0) -> float:
    """Largest absolute difference between PyTorch's logits and the exported file's, on one random
    input of the network's config (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    c = network.config
    x = torch.randn(c.batch, c.in_channels, c.resolution, c.resolution, generator=gen)
    with torch.no_grad():
        expected = network.eval()(x).numpy()
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": x.numpy()})[0]
    elif fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript is deprecated upstream but still what many deploy
            got = torch.jit.load(str(path)).eval()(x).numpy()
    else:
        raise ExportError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}")
    return float(np.max(np.abs(got - expected)))

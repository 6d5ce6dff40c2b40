"""Peak memory of one inference: what a network needs resident at its worst moment.

The measurement is the allocator's own account, not the operating system's: on a CPU the resident
set of a process cannot resolve a batch-1 network's activations (a few hundred kB that the C
allocator serves from pages it already holds; the high-water mark moved by 0 to 1.1 MB over one
inference of the same network), so

* **cpu** (eager PyTorch; also the figure the onnxruntime backend reports, since ONNX Runtime's
  Python API exposes no allocation account): one warm forward in eval mode under
  ``inference_mode`` runs inside the torch profiler with ``profile_memory=True``. Every allocation
  and free of the CPU allocator is an event; the running sum of their sizes, in order, peaks at the
  *activation peak* (activations, the output and operator workspace live at once). Weights
  (parameters and buffers) and the input are resident before the forward starts and are added.
  The result is a function of the network and the torch build: repeats agree exactly.
* **triton** (CUDA): ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, through
  the CUDA seam (``harness.timers.CudaOps.peak_memory_bytes``, used by ``TritonTimer.peak_memory``):
  weights, input, activations and cuDNN workspace the caching allocator handed out (not its
  reserved slack).

``MB`` is 10^6 bytes throughout. This module imports no timer: the timers own their backends and
call it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gnnlat.network import Network

MB = 1e6
HOST_METHOD = "torch profiler cpu allocator"


@dataclass(frozen=True)
class PeakMemory:
    """One inference's peak memory and its parts (bytes); ``method`` names the measurement."""

    peak_bytes: int
    weights_bytes: int
    input_bytes: int
    activation_peak_bytes: int
    method: str

    @property
    def peak_memory_mb(self) -> float:
        return self.peak_bytes / MB

    def to_dict(self) -> dict:
        return {"peak_memory_mb": self.peak_memory_mb, "weights_mb": self.weights_bytes / MB,
                "input_mb": self.input_bytes / MB, "activation_peak_mb": self.activation_peak_bytes / MB,
                "memory_method": self.method}


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers, each storage counted once."""
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def allocation_peak(events: list[int]) -> int:
    """Highest running sum of allocation sizes (frees are negative); 0 when nothing was allocated."""
    live = peak = 0
    for nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def host_allocation_peak(fn: Callable[[], object]) -> int:
    """The CPU allocator's peak over one ``fn()`` (bytes, after one unmeasured call that takes any
    first-run allocations), from the profiler's memory events in the order they happened."""
    from torch.profiler import ProfilerActivity, profile  # the profiler is heavy; only memory needs it

    fn()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())  # a stable sort: same-instant events keep their order
    return allocation_peak([int(e.nbytes()) for e in events])


def host_peak_memory(network: Network) -> PeakMemory:
    """Peak memory of one inference of ``network`` with eager PyTorch on the CPU (module docstring)."""
    model = network.eval()
    x = network.example_input()

    def run() -> object:
        with torch.inference_mode():
            return model(x)

    weights, inp = tensor_bytes(model), x.untyped_storage().nbytes()
    act = host_allocation_peak(run)
    return PeakMemory(weights + inp + act, weights, inp, act, HOST_METHOD)

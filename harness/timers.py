"""Timers behind one interface: ``cpu`` (eager torch), ``onnxruntime`` and ``triton`` (do_bench).

Shared machines see interference in bursts. A burst that lands on one long timing run ruins it, so
every timer times a small batch of networks in short *interleaved rounds* and reports the minimum
over rounds (a burst then costs a few rounds a little, not one network a lot). The median, p90, the
coefficient of variation and the spread of the per-round minima are kept as well. When the two
lowest round minima disagree by more than ``agree_tol`` the network is re-timed (bounded) and
flagged ``noisy`` if they still disagree.
"""
from __future__ import annotations

import io
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from gnnlat.network import Network
from harness.fingerprint import fingerprint

BACKENDS = ("cpu", "onnxruntime", "triton")
ONNX_OPSET = 17


class TimerError(RuntimeError):
    """The backend cannot run here (missing CUDA or runtime) or a measurement failed."""


@dataclass(frozen=True)
class TimerSettings:
    rounds: int = 5
    round_ms: float = 100.0  # timed work per network per round; sets the repetitions
    min_reps: int = 3
    max_reps: int = 200
    warmup_ms: float = 40.0
    agree_tol: float = 0.03  # two lowest round minima must agree this well
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.rounds < 2 or self.min_reps < 1 or self.max_reps < self.min_reps:
            raise ValueError("timer settings need rounds >= 2 and 1 <= min_reps <= max_reps")
        if not (self.round_ms > 0 and self.warmup_ms >= 0 and self.agree_tol > 0):
            raise ValueError("timer settings need round_ms > 0, warmup_ms >= 0, agree_tol > 0")


@dataclass
class Timing:
    """One network's measurement; ``latency_ms`` is the robust statistic profiles store."""

    latency_ms: float
    median_ms: float
    p90_ms: float
    cv: float
    rounds: int
    reps: int
    round_spread: float
    noisy: bool
    round_minima: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(runs: list[list[float]], reps: int, agree_tol: float) -> Timing:
    """Statistics of one network's per-round run times (ms)."""
    all_runs = np.array([t for r in runs for t in r], dtype=float)
    minima = sorted(min(r) for r in runs)
    if not np.all(np.isfinite(all_runs)) or minima[0] <= 0:
        raise TimerError(f"non-finite or non-positive timing: {minima[:3]}")
    lo = minima[0]
    return Timing(
        latency_ms=float(lo),
        median_ms=float(np.median(all_runs)),
        p90_ms=float(np.quantile(all_runs, 0.9)),
        cv=float(all_runs.std() / all_runs.mean()),
        rounds=len(runs),
        reps=reps,
        round_spread=float((minima[-1] - lo) / lo),
        noisy=bool((minima[1] - lo) / lo > agree_tol),
        round_minima=[float(m) for m in minima],
    )


class Timer(ABC):
    """Times batches of networks with interleaved rounds."""

    backend: str = ""

    def __init__(self, threads: int = 1, settings: TimerSettings = TimerSettings()):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.settings = settings

    def fingerprint(self) -> dict:
        return fingerprint(self.backend, self.threads, **self._fingerprint_extra())

    def _fingerprint_extra(self) -> dict:
        return {}

    @abstractmethod
    def prepare(self, network: Network) -> Callable[[], object]:
        """Return a callable that runs one blocking inference of ``network``."""

    def clock(self, fn: Callable[[], object], reps: int) -> list[float]:
        """Wall time of ``reps`` back-to-back calls, each timed on its own (ms)."""
        out = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            fn()
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def _reps_for(self, fn: Callable[[], object]) -> int:
        s = self.settings
        deadline, n, t0 = time.perf_counter() + s.warmup_ms / 1e3, 0, time.perf_counter()
        while n < 2 or time.perf_counter() < deadline:
            fn()
            n += 1
        per_run_ms = (time.perf_counter() - t0) * 1e3 / n
        return int(min(s.max_reps, max(s.min_reps, round(s.round_ms / per_run_ms))))

    def time_many(self, networks: Sequence[Network]) -> list[Timing]:
        """Time a small batch of networks in interleaved rounds; one Timing each."""
        with self._session():
            fns = [self.prepare(n) for n in networks]
            reps = [self._reps_for(f) for f in fns]
            runs: list[list[list[float]]] = [[] for _ in fns]
            self._interleave(fns, reps, runs, range(len(fns)))
            tol = self.settings.agree_tol
            for _ in range(self.settings.max_retries):
                redo = [i for i in range(len(fns)) if summarize(runs[i], reps[i], tol).noisy]
                if not redo:
                    break
                self._interleave(fns, reps, runs, redo)
        return [summarize(r, k, tol) for r, k in zip(runs, reps)]

    def _interleave(self, fns, reps, runs, which) -> None:
        which = list(which)
        for r in range(self.settings.rounds):
            # Rotate the order so no network always runs right after a particular other one.
            k = r % len(which)
            for i in which[k:] + which[:k]:
                runs[i].append(self.clock(fns[i], reps[i]))

    def _session(self):
        return _ThreadScope(self.threads)

    def time_one(self, network: Network) -> Timing:
        return self.time_many([network])[0]


class _ThreadScope:
    """Pin torch's intra-op threads for the timing and restore them after."""

    def __init__(self, threads: int):
        self.threads, self.saved = threads, None

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)
        return False


class CpuTimer(Timer):
    """Eager PyTorch on the CPU, eval mode, under inference_mode, fixed thread count."""

    backend = "cpu"

    def prepare(self, network: Network) -> Callable[[], object]:
        model = network.eval()
        x = network.example_input()

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        return run


def export_onnx(network: Network, opset: int = ONNX_OPSET) -> bytes:
    """Export the eval-mode network to ONNX bytes (TorchScript exporter: fast, no onnxscript)."""
    model = network.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (network.example_input(),), buf, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"])
    return buf.getvalue()


class OnnxRuntimeTimer(Timer):
    """ONNX Runtime CPU execution provider, all graph optimizations, fixed intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, threads: int = 1, settings: TimerSettings = TimerSettings(), opset: int = ONNX_OPSET):
        super().__init__(threads, settings)
        self.opset = opset
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
            raise TimerError(f"onnxruntime is not installed: {exc}") from None

    def _fingerprint_extra(self) -> dict:
        return {"opset": self.opset}

    def session(self, network: Network):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return ort.InferenceSession(export_onnx(network, self.opset), opts, providers=["CPUExecutionProvider"])

    def prepare(self, network: Network) -> Callable[[], object]:
        sess = self.session(network)
        feed = {"input": network.example_input().numpy()}
        return lambda: sess.run(None, feed)


class TritonTimer(Timer):
    """CUDA timing with ``triton.testing.do_bench`` (CUDA events, L2 flushed between runs).

    Each round is one do_bench call with ``return_mode="all"``, so the same round-minimum statistic
    applies as on the CPU backends.
    """

    backend = "triton"
    default_settings = TimerSettings(round_ms=25.0, warmup_ms=25.0)

    def __init__(self, threads: int = 1, settings: TimerSettings = default_settings):
        super().__init__(threads, settings)
        if not torch.cuda.is_available():
            raise TimerError("the triton backend needs a CUDA GPU; none is available here "
                             "(use --backend onnxruntime or cpu)")
        import triton.testing  # noqa: F401

    def prepare(self, network: Network) -> Callable[[], object]:
        model = network.eval().cuda()
        x = network.example_input().cuda()

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        return run

    def _reps_for(self, fn: Callable[[], object]) -> int:
        fn()
        torch.cuda.synchronize()
        return 0  # do_bench sizes its own repetitions from round_ms

    def clock(self, fn: Callable[[], object], reps: int) -> list[float]:
        from triton.testing import do_bench

        return list(do_bench(fn, warmup=self.settings.warmup_ms, rep=self.settings.round_ms, return_mode="all"))


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "triton" if torch.cuda.is_available() else "onnxruntime"
    return backend


def make_timer(backend: str = "auto", threads: int = 1, settings: TimerSettings | None = None) -> Timer:
    """``auto`` picks triton when CUDA is available, else onnxruntime."""
    backend = resolve_backend(backend)
    classes = {"cpu": CpuTimer, "onnxruntime": OnnxRuntimeTimer, "triton": TritonTimer}
    if backend not in classes:
        raise ValueError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
    kwargs = {"threads": threads}
    if settings is not None:
        kwargs["settings"] = settings
    return classes[backend](**kwargs)

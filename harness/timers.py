"""Timers behind one interface: ``cpu`` (eager torch), ``onnxruntime`` and ``triton`` (do_bench).

Shared machines see interference in bursts. A burst that lands on one long timing run ruins it, so
every timer times a small batch of networks in short *interleaved rounds* and reports the minimum
over rounds (a burst then costs a few rounds a little, not one network a lot). The median, p90, the
coefficient of variation and the spread of the per-round minima are kept as well. When the two
lowest round minima disagree by more than ``agree_tol`` the network is re-timed (bounded) and
flagged ``noisy`` if they still disagree.

Every CUDA call the triton path makes goes through one seam, :class:`CudaOps` (module attribute
``CUDA``), so the whole GPU path can run, and be tested, on a machine without one (:class:`HostCuda`).
"""
from __future__ import annotations

import functools
import itertools
import os
import tempfile
import time
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from gnnlat.errors import GnnlatError
from gnnlat.network import Network
from gnnlat.export import ONNX_OPSET, onnx_bytes
from harness.fingerprint import fingerprint
from harness.memory import PeakMemory, host_allocation_peak, host_peak_memory, tensor_bytes
from harness.store import TimingStats

BACKENDS = ("cpu", "onnxruntime", "triton")


class TimerError(GnnlatError, RuntimeError):
    """The backend cannot run here (missing CUDA or runtime) or a measurement failed."""


class TimerConfigError(TimerError, ValueError):
    """Bad timer input: settings, thread count or backend name."""


@dataclass(frozen=True)
class TimerSettings:
    rounds: int = 5  # interleaved rounds per batch; on the round scheduler, the fewest per network
    round_ms: float = 25.0  # timed work per network per round; sets the repetitions
    min_reps: int = 3
    max_reps: int = 200
    warmup_ms: float = 40.0
    agree_tol: float = 0.03  # two lowest round minima must agree this well
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.rounds < 2 or self.min_reps < 1 or self.max_reps < self.min_reps:
            raise TimerConfigError("timer settings need rounds >= 2 and 1 <= min_reps <= max_reps")
        if not (self.round_ms > 0 and self.warmup_ms >= 0 and self.agree_tol > 0):
            raise TimerConfigError("timer settings need round_ms > 0, warmup_ms >= 0, agree_tol > 0")


@dataclass
class Timing(TimingStats):
    """One network's measurement: the stored statistics, the sorted round minima, and
    ``timed_ms``, the sum of every timed run (the timed window). ``reps`` is the number of timed
    runs in each round (the fewest, where a benchmark call sized its rounds itself)."""

    round_minima: list[float] = field(default_factory=list)
    timed_ms: float = 0.0

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
        timed_ms=float(all_runs.sum()),
    )


@dataclass
class PhaseTimes:
    """Wall seconds a timer spent per phase, summed over ``time_many`` calls (profiling reports
    where the time goes per architecture)."""

    prep_s: float = 0.0  # prepare(): eval mode, move to the device, ONNX export and session
    warmup_s: float = 0.0  # untimed runs: calibration, warm-up, a benchmark call's own estimates
    timed_s: float = 0.0  # the timed runs themselves


# ---- the CUDA seam ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphReplay:
    """A captured CUDA graph, callable, holding what it was captured from. The graph keeps raw
    device addresses of the network's weights and input: were they freed (the network dropped,
    ``torch.cuda.graph`` empties the allocator's cache before every capture), a replay would read
    unmapped memory, an illegal address."""

    graph: Any
    source: Callable[[], object]  # the captured callable; its closure holds the network and input

    def __call__(self) -> None:
        self.graph.replay()


@dataclass
class GraphSite:
    """Where a timer's CUDA graphs are captured: one stream, one memory pool (``CudaOps.graph_site``).

    A pool lives while a graph captured into it does, and PyTorch's caching allocator asserts that
    a pool it is asked to share is still in use; so the site keeps its first graph (a run without
    an anchor frees all of a batch's graphs before the next batch is captured)."""

    stream: Any
    pool: Any
    first: Any = None  # the first graph captured here; kept for the pool, never replayed


class CudaOps:
    """Every CUDA call the triton path makes, in one place, so tests can run the same path on the
    host (:class:`HostCuda`) and be sure no other CUDA call hides elsewhere."""

    def available(self) -> bool:
        return torch.cuda.is_available()

    def to_device(self, x: Any) -> Any:
        """Move a module or tensor to the GPU; a module already there is left as it is. A network
        is placed whole (built on the host, or unpacked on the GPU from one buffer), so its first
        tensor says where all are: walking every tensor took 2.4 ms a network (568 at the search
        config), ``.cuda()`` more, even when none moves."""
        if isinstance(x, torch.nn.Module):
            first = next(itertools.chain(x.parameters(), x.buffers()), None)
            if first is not None and first.is_cuda:
                return x
        return x.cuda()

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def graph_site(self) -> "GraphSite":
        """A stream and a memory pool for a timer's graphs (:meth:`capture`)."""
        return GraphSite(torch.cuda.Stream(), torch.cuda.graph_pool_handle())

    def capture(self, fn: Callable[[], object], site: "GraphSite", warm_up: bool = True) -> Callable[[], object]:
        """``fn`` recorded as a CUDA graph; its replay runs the same kernels without the host's
        per-op launch cost.

        ``warm_up`` first runs ``fn`` eagerly, which does the process's lazy set-up (library
        handles, workspaces) outside the capture. Once a process has done that, a capture without
        it works, new shapes included (none of 4,600 failed on an H200, docs/results.md), and it
        saves one eager pass of ~400 launches: ~9 ms a network.

        Every graph of ``site`` is captured on its stream into its one memory pool, without
        ``torch.cuda.graph``'s synchronize and cache flush before each capture: a private pool per
        graph was allocated and freed again for every network. Graphs sharing a pool may overwrite
        each other's intermediate tensors; they are timed, not read, so that is harmless here."""
        stream = site.stream
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            if warm_up:
                fn()
            graph = torch.cuda.CUDAGraph()
            graph.capture_begin(pool=site.pool)
            try:
                fn()
            finally:
                graph.capture_end()
        torch.cuda.current_stream().wait_stream(stream)
        if site.first is None:
            site.first = graph
        return GraphReplay(graph, fn)

    def do_bench(self, fn: Callable[[], object], warmup_ms: float, rep_ms: float) -> list[float]:
        """One benchmark round: every timed run of ``fn`` (ms), CUDA events, L2 flushed between runs."""
        try:
            from triton.testing import do_bench
        except ImportError as exc:
            raise TimerError(f"the triton backend needs triton: {exc}") from None
        return [float(t) for t in do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="all")]

    def peak_memory_bytes(self, fn: Callable[[], object], resident_bytes: int) -> int:
        """Peak bytes the caching allocator handed out during one ``fn()`` (after a reset): the
        tensors already on the GPU (weights, input) included, so ``resident_bytes`` is not needed."""
        self.synchronize()
        torch.cuda.reset_peak_memory_stats()
        fn()
        self.synchronize()
        return int(torch.cuda.max_memory_allocated())

    def describe(self) -> dict:
        """The GPU facts a device fingerprint records (the keys are fixed: ids of old profiles hold)."""
        return {"gpu": torch.cuda.get_device_name(), "cuda": torch.version.cuda,
                "capability": list(torch.cuda.get_device_capability())}


CUDA = CudaOps()  # the seam the triton path uses; tests swap it (monkeypatch) for HostCuda()


def host_do_bench(fn: Callable[[], object], warmup_ms: float, rep_ms: float) -> list[float]:
    """``triton.testing.do_bench(fn, warmup, rep, return_mode="all")`` on the host clock: one call,
    a five-run estimate, warm-up and repetition counts sized from it, each run timed on its own."""
    fn()
    t0 = time.perf_counter()
    for _ in range(5):
        fn()
    estimate_ms = max((time.perf_counter() - t0) * 1e3 / 5, 1e-6)
    for _ in range(max(1, int(warmup_ms / estimate_ms))):
        fn()
    runs = []
    for _ in range(max(1, int(rep_ms / estimate_ms))):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return runs


class HostGraph:
    """A CUDA graph's stand-in: it replays ``fn`` but holds it only weakly, as a real graph holds
    only raw addresses, so a caller that lets the network go fails here as it would on a GPU."""

    def __init__(self, fn: Callable[[], object]):
        self._fn = weakref.ref(fn)

    def replay(self) -> None:
        fn = self._fn()
        if fn is None:
            raise RuntimeError("replay of a graph whose network was freed (an illegal address on a GPU)")
        fn()


class HostCuda(CudaOps):
    """A stand-in GPU that is the host: no CUDA call, real timings of the network on the CPU."""

    def available(self) -> bool:
        return True

    def to_device(self, x: Any) -> Any:
        return x

    def synchronize(self) -> None:
        pass

    def graph_site(self) -> "GraphSite":
        return GraphSite(None, None)

    def capture(self, fn: Callable[[], object], site: "GraphSite", warm_up: bool = True) -> Callable[[], object]:
        return GraphReplay(HostGraph(fn), fn)

    def do_bench(self, fn: Callable[[], object], warmup_ms: float, rep_ms: float) -> list[float]:
        return host_do_bench(fn, warmup_ms, rep_ms)

    def peak_memory_bytes(self, fn: Callable[[], object], resident_bytes: int) -> int:
        """The host allocator's peak over ``fn()`` plus what was resident before (the GPU would count it)."""
        return resident_bytes + host_allocation_peak(fn)

    def describe(self) -> dict:
        return {"gpu": "host stand-in", "cuda": None, "capability": None}


# ---- timers -------------------------------------------------------------------------------------


class Timer(ABC):
    """Times batches of networks with interleaved rounds."""

    backend: str = ""
    default_settings = TimerSettings()  # what this backend times with unless told otherwise
    # Where a prefetched network's packed tensors go before prepare() (None: they stay on the host).
    to_device: Callable[[torch.Tensor], torch.Tensor] | None = None
    cold_capture_failures = 0  # triton: captures without a warm-up redone with one (none on the CPU)

    def __init__(self, threads: int = 1, settings: TimerSettings | None = None):
        if threads < 1:
            raise TimerConfigError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.settings = settings if settings is not None else self.default_settings

    def fingerprint(self) -> dict:
        return fingerprint(self.backend, self.threads, **self._fingerprint_extra())

    def _fingerprint_extra(self) -> dict:
        return {}

    def sample_facts(self) -> dict:
        """How this timer ran a network, kept in every sample's ``extra`` (not the fingerprint: the
        choice moved latencies by less than the noise floor, so it does not make another device)."""
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

    def time_many(self, networks: Sequence[Network], phases: PhaseTimes | None = None,
                  prepared: Sequence[Callable[[], object]] = ()) -> list[Timing]:
        """Time a small batch of networks in interleaved rounds; one Timing each, then one for each
        of the ``prepared`` runners (from :meth:`prepare`: an anchor kept for a whole run).
        ``phases``, when given, accumulates where the wall time went."""
        phases = phases if phases is not None else PhaseTimes()
        with self._session():
            t0 = time.perf_counter()
            fns = [self.prepare(n) for n in networks] + list(prepared)
            t1 = time.perf_counter()
            reps = [self._reps_for(f) for f in fns]
            phases.prep_s += t1 - t0
            phases.warmup_s += time.perf_counter() - t1
            runs: list[list[list[float]]] = [[] for _ in fns]
            self._interleave(fns, reps, runs, range(len(fns)), phases)
            for _ in range(self.settings.max_retries):
                redo = [i for i in range(len(fns)) if self._summarize(runs[i]).noisy]
                if not redo:
                    break
                self._interleave(fns, reps, runs, redo, phases)
        return [self._summarize(r) for r in runs]

    def _summarize(self, runs: list[list[float]]) -> Timing:
        # Timed runs per round as they happened: what was asked for on the CPU backends, what
        # do_bench chose (at least one) on triton.
        return summarize(runs, min(len(r) for r in runs), self.settings.agree_tol)

    def _interleave(self, fns, reps, runs, which, phases: PhaseTimes) -> None:
        which = list(which)
        for r in range(self.settings.rounds):
            # Rotate the order so no network always runs right after a particular other one.
            k = r % len(which)
            for i in which[k:] + which[:k]:
                t0 = time.perf_counter()
                got = self.clock(fns[i], reps[i])
                wall, timed = time.perf_counter() - t0, sum(got) / 1e3
                phases.timed_s += min(timed, wall)
                phases.warmup_s += max(wall - timed, 0.0)
                runs[i].append(got)

    def _session(self):
        return _ThreadScope(self.threads)

    def time_one(self, network: Network) -> Timing:
        return self.time_many([network])[0]

    def pinned(self):
        """A context in which runs use this timer's thread count (for work outside time_many)."""
        return self._session()

    def synchronize(self) -> None:
        """Wait for the device (no-op on the CPU backends)."""

    def peak_memory(self, network: Network) -> PeakMemory:
        """Peak memory of one inference (``harness.memory``); on the CPU backends the eager PyTorch
        allocator's account, with this timer's threads."""
        with self._session():
            return host_peak_memory(network)


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


class OnnxRuntimeTimer(Timer):
    """ONNX Runtime CPU execution provider, all graph optimizations, fixed intra-op threads."""

    backend = "onnxruntime"
    # The worker hands over an optimized session, so 20 ms of warm-up settle it: against 40 ms it
    # cut the untimed share by 2-3 points with no cost to the labels (docs/results.md).
    default_settings = TimerSettings(warmup_ms=20.0)

    def __init__(self, threads: int = 1, settings: TimerSettings | None = None, opset: int = ONNX_OPSET,
                 spinning: bool = True):
        super().__init__(threads, settings)
        self.opset = opset
        # ONNX Runtime's idle threads spin by default: fine alone on a machine, stolen time from
        # a neighbouring timer when several share a node (``harness.ray_worker`` turns it off).
        self.spinning = spinning
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:  # pragma: no cover - onnxruntime is a dependency
            raise TimerError(f"onnxruntime is not installed: {exc}") from None

    @property
    def shares_pool(self) -> bool:
        """Whether this timer's sessions share one spinning pool of intra-op threads.

        Why: each session owns its pool by default, and after a run its threads spin, waiting for
        more work. In the rotation that work goes to another session, so the idle pools spin on
        cores the timed session needs. With 2 threads on 2 cores that made runs 2.5 times their
        fastest at the median. A deployed session does not compete with eight other sessions'
        spinners; one shared pool times it as it runs alone (docs/results.md). With one thread
        there is no pool, and with spinning off the idle threads sleep."""
        return self.threads > 1 and self.spinning

    def _fingerprint_extra(self) -> dict:
        # Spinning changes a multi-threaded latency; recorded only when off, so existing device ids hold.
        # The shared pool changes it too (per-session pools in rotation were slower and noisy).
        return {"opset": self.opset, **({} if self.spinning else {"spinning": False}),
                **({"thread_pool": "shared"} if self.shares_pool else {})}

    def sample_facts(self) -> dict:
        # Samples before this key timed torch.onnx.export's traced graph (docs/results.md, "The ONNX writer").
        return {"onnx_graph": "written", "onnx_session": "optimized offline"}

    def session(self, network: Network):
        if self.shares_pool:  # before optimizing: once a process has the pool, every session must use it
            shared_thread_pool(self.threads)
        return self.session_from_bytes(optimized_model(onnx_bytes(network, self.opset)))

    def session_from_bytes(self, model: bytes):
        """A session on a model of :func:`optimized_model` (optimized here or by a worker process)."""
        import onnxruntime as ort

        if self.shares_pool:
            shared_thread_pool(self.threads)
        elif pool_is_shared():
            raise TimerError(f"this process's ONNX Runtime sessions share a thread pool; time {self.threads} "
                             f"thread(s) with spinning {'on' if self.spinning else 'off'} in a process of its own")
        opts = session_options(self.threads, self.spinning, shared=self.shares_pool)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.add_session_config_entry("session.load_model_format", "ORT")
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def prepare(self, network: Network) -> Callable[[], object]:
        sess = self.session(network)
        feed = {"input": network.example_input().numpy()}
        return lambda: sess.run(None, feed)


def session_options(threads: int, spinning: bool = True, shared: bool = False):
    """ONNX Runtime options of a timing session: fixed intra-op threads (``shared``: those of the
    process's shared pool, :func:`shared_thread_pool`), sequential, quiet."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if shared:
        opts.use_per_session_threads = False
    else:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


@functools.cache
def shared_thread_pool(threads: int) -> None:
    """Give this process's ONNX Runtime one pool of ``threads`` intra-op threads for every session
    that asks for it (:attr:`OnnxRuntimeTimer.shares_pool`). ONNX Runtime creates it once per
    process, so a second thread count cannot follow the first."""
    import onnxruntime as ort

    try:
        ort.set_global_thread_pool_sizes(threads, 1)
    except Exception as exc:  # onnxruntime's Fail: the pool exists already
        raise TimerError(f"this process's ONNX Runtime thread pool is already set up; time {threads} threads "
                         f"in a process of its own ({exc})") from None


def pool_is_shared() -> bool:
    """Whether this process has set up :func:`shared_thread_pool`."""
    return shared_thread_pool.cache_info().currsize > 0


def optimized_model(onnx_model: bytes) -> bytes:
    """The model after all of ONNX Runtime's graph optimizations, in ORT format.

    Why: opening a session optimizes the graph (~30 ms a network here); done once by the preparing
    worker, the timing process only loads the result (~10 ms), and runs it as fast (docs/results.md,
    "Sessions optimized by the worker"). Layout optimizations depend on the CPU, so the model is
    made on the machine that times it."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="gnnlat-ort-") as tmp:
        path = os.path.join(tmp, "model.ort")
        opts = session_options(1, shared=pool_is_shared())  # ORT allows no other session beside the pool
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = path
        opts.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(onnx_model, opts, providers=["CPUExecutionProvider"])
        with open(path, "rb") as f:
            return f.read()


class TritonTimer(Timer):
    """CUDA timing with ``triton.testing.do_bench`` (CUDA events, L2 flushed between runs).

    Each round is one do_bench call with ``return_mode="all"``, so the same round-minimum statistic
    applies as on the CPU backends; ``reps`` records how many timed runs do_bench made per round.
    All CUDA calls go through ``cuda`` (default: the module's ``CUDA`` seam at construction).

    Each network is timed as a CUDA graph replay: an eager forward at batch 1 spends most of its
    time in the host's per-op launch overhead, which a shared host makes noisy (round minima of one
    network 7-12 ms apart in eager mode, see docs/results.md) and which a deployment on a GPU
    avoids with graphs. The replay's CUDA-event time is the GPU's own, and it is repeatable.

    The defaults are sized for a GPU, whose CUDA-event timings drift far less than wall times on a
    shared CPU: two interleaved rounds (retried when they disagree) settle the minimum. Each
    do_bench call costs at least seven untimed runs (a first run, a five-run estimate, warm-up)
    besides its ~8 ms of timed ones, so fewer, fuller rounds buy the most timed runs per second.
    """

    backend = "triton"
    default_settings = TimerSettings(rounds=2, round_ms=8.0, warmup_ms=1.0)

    def __init__(self, threads: int = 1, settings: TimerSettings | None = None,
                 cuda: CudaOps | None = None):
        super().__init__(threads, settings)
        self.cuda = cuda if cuda is not None else CUDA
        self.to_device = self.cuda.to_device
        if not self.cuda.available():
            raise TimerError("the triton backend needs a CUDA GPU; none is available here "
                             "(use the onnxruntime or cpu backend)")
        self.warmed_up = False  # the process's lazy CUDA set-up done by one warm-up (see prepare)
        self._site: GraphSite | None = None  # made at the first capture: CUDA is touched only then
        self.cold_capture_failures = 0  # captures without warm-up that failed and were redone with it

    def fingerprint(self) -> dict:
        return fingerprint(self.backend, self.threads, gpu=self.cuda.describe(), timing="cuda_graph")

    def prepare(self, network: Network) -> Callable[[], object]:
        model = self.cuda.to_device(network.eval())
        x = self.cuda.to_device(network.example_input())

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        # Only the first capture warms up; should a later one still hit lazy set-up that capture
        # forbids, it is redone with the warm-up and counted.
        if self._site is None:
            self._site = self.cuda.graph_site()
        if self.warmed_up:
            try:
                return self.cuda.capture(run, self._site, warm_up=False)
            except RuntimeError:
                self.cold_capture_failures += 1
        graph = self.cuda.capture(run, self._site, warm_up=True)
        self.warmed_up = True
        return graph

    def synchronize(self) -> None:
        self.cuda.synchronize()

    def _reps_for(self, fn: Callable[[], object]) -> int:
        # The copies to the device land before any timing. No run here: do_bench starts with an
        # untimed one (allocations, kernel choice) and sizes each round's timed runs itself.
        self.cuda.synchronize()
        return 1

    def clock(self, fn: Callable[[], object], reps: int) -> list[float]:
        return self.cuda.do_bench(fn, self.settings.warmup_ms, self.settings.round_ms)

    def peak_memory(self, network: Network) -> PeakMemory:
        """``torch.cuda.max_memory_allocated`` over one inference after a reset (through the seam)."""
        model = network.eval()
        x = network.example_input()
        weights, inp = tensor_bytes(model), x.untyped_storage().nbytes()
        model, x = self.cuda.to_device(model), self.cuda.to_device(x)

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        run()  # first-run allocations (kernel choice, workspace sizing) happen before the reset
        peak = self.cuda.peak_memory_bytes(run, weights + inp)
        return PeakMemory(peak, weights, inp, max(peak - weights - inp, 0), "cuda max_memory_allocated")


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "triton" if CUDA.available() else "onnxruntime"
    return backend


def timer_class(backend: str) -> type[Timer]:
    """The Timer class of ``backend`` (``auto`` resolved here)."""
    classes = {"cpu": CpuTimer, "onnxruntime": OnnxRuntimeTimer, "triton": TritonTimer}
    backend = resolve_backend(backend)
    if backend not in classes:
        raise TimerConfigError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
    return classes[backend]


def make_timer(backend: str = "auto", threads: int = 1, settings: TimerSettings | None = None) -> Timer:
    """``auto`` picks triton when CUDA is available, else onnxruntime."""
    return timer_class(backend)(threads=threads, settings=settings)


def default_settings(backend: str) -> TimerSettings:
    """The timer settings ``backend`` uses unless told otherwise (``auto`` resolved here)."""
    return timer_class(backend).default_settings

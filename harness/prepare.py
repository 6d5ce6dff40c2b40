"""Preparing networks for timing: building a network from its spec, packing it to cross a process
boundary, and the worker processes that build the networks of the next batch while one is timed.

Its own module so that both timing loops, the batched one (:mod:`harness.profile`) and the
streaming one (:mod:`harness.stream`), use it without importing each other.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig

PREFETCH_BACKENDS = ("triton",)  # backends whose next batch is built by worker processes
MAX_BUILD_WORKERS = 4  # build and pack: 75 ms (search config) to 105 ms (vary) per network on a 2-core VM

Spec = tuple[str, dict]  # (genotype_json, config dict): what a network is built from


def build_network(genotype_json: str, config: dict) -> Network:
    return Network(Genotype.from_json(genotype_json), NetworkConfig.from_dict(config))


class _TensorsOut(pickle.Pickler):
    """Pickles a module with its tensors left out (collected in ``tensors``): the default pickling
    of ~450 small tensors costs more than building the network again."""

    def __init__(self, file: io.BytesIO):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tensors: list[torch.Tensor] = []
        self._index: dict[int, int] = {}

    def persistent_id(self, obj: object) -> tuple | None:
        if not isinstance(obj, torch.Tensor):
            return None
        if id(obj) not in self._index:
            self._index[id(obj)] = len(self.tensors)
            self.tensors.append(obj)
        return self._index[id(obj)], isinstance(obj, torch.nn.Parameter), obj.requires_grad


class _TensorsIn(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, tensors: list[torch.Tensor]):
        super().__init__(file)
        self.tensors = tensors

    def persistent_load(self, pid: tuple) -> torch.Tensor:
        index, is_parameter, requires_grad = pid
        t = self.tensors[index]
        return torch.nn.Parameter(t, requires_grad=requires_grad) if is_parameter else t


_ALIGN = 64  # bytes; every tensor of a packed network starts on such a boundary


@dataclass
class PackedNetwork:
    """A built network as plain bytes: the module pickled without its tensors, and the tensors
    in one buffer. Crosses a process boundary in one copy, unpacks faster than building."""

    skeleton: bytes
    layout: list[tuple[torch.dtype, tuple[int, ...], int]]  # dtype, shape, byte offset
    data: bytes

    @classmethod
    def pack(cls, network: Network) -> "PackedNetwork":
        f = io.BytesIO()
        pickler = _TensorsOut(f)
        pickler.dump(network)
        layout, chunks, offset = [], [], 0
        for t in pickler.tensors:
            raw = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            pad = -offset % _ALIGN
            chunks += [b"\0" * pad, raw]
            offset += pad
            layout.append((t.dtype, tuple(t.shape), offset))
            offset += len(raw)
        return cls(f.getvalue(), layout, b"".join(chunks))

    def unpack(self, to_device: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Network:
        """The network, its tensors views of one buffer; ``to_device`` moves that buffer first (the
        triton timer's GPU): one copy, where moving the module would copy each of ~2,000 tensors."""
        # A writable copy (frombuffer on bytes warns); a network without tensors has no buffer at all.
        buf = torch.frombuffer(bytearray(self.data), dtype=torch.uint8) if self.data else torch.empty(0)
        if to_device is not None:
            buf = to_device(buf)
        tensors = []
        for dtype, shape, offset in self.layout:
            n = torch.Size(shape).numel() * dtype.itemsize
            tensors.append(buf[offset:offset + n].view(dtype).view(shape))
        return _TensorsIn(io.BytesIO(self.skeleton), tensors).load()


def pack_network(genotype_json: str, config: dict) -> PackedNetwork:
    """Worker task: build one network and pack it for the trip back."""
    return PackedNetwork.pack(build_network(genotype_json, config))


def worker_init() -> None:
    # One thread per builder, and Ctrl-C (or `timeout -s INT`) is the parent's to handle: it stops
    # the run and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (kill -9 leaves no time to shut the pool down) would sleep
    forever holding a network's memory: it leaves when it is adopted by another process."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)



def default_build_workers(backend: str, threads: int = 1, cores: int | None = None) -> int:
    """Worker processes preparing networks for ``backend`` on ``cores`` cores (default: the
    machine's; a Ray timing worker passes the cores it is pinned to). A GPU timing keeps one host
    core busy and leaves the others idle, so triton gets several. On the CPU backends one worker
    builds and exports on a core the timing does not use: preparing costs more than timing, and the
    scheduler's agreement rule catches what the worker does to the timings. When the timing's
    threads take every core, a worker would run inside the timed windows: none then."""
    cores = cores or os.cpu_count() or 1
    if backend not in PREFETCH_BACKENDS:
        return 1 if cores > threads else 0
    return max(1, min(MAX_BUILD_WORKERS, max(cores, 2) - 1))


class NetworkBuilder:
    """Builds the networks of a batch: inline, right before they are timed (``workers=0``, the CPU
    backends' way), or ahead of time in worker processes ("spawn": no CUDA state is forked) while
    the batch before is timed. ``submit`` returns a callable that yields the networks in order.
    Batches are built inline until every worker has started (spawning one and importing torch
    takes seconds; 16 workers started at once on a GPU host made the first batches wait for them).

    ``to_device`` (the timer's) places a prefetched network's tensors in one copy; networks built
    inline stay on the host and the timer moves them.

    A pool that breaks (a worker killed, say) is not worth a lost profiling run: from then on the
    networks are built inline and ``fell_back`` says so.
    """

    def __init__(self, workers: int = 0, to_device: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.workers = workers
        self.to_device = to_device  # where the workers' networks are unpacked (PackedNetwork.unpack)
        self.fell_back = False
        self.unpack_s = 0.0  # seconds spent unpacking the workers' networks here, in the timing process
        self._pool: ProcessPoolExecutor | None = None
        self._starting: list[Future] = []  # one no-op per worker: all done once every worker is up

    def submit(self, specs: Sequence[Spec]) -> Callable[[], list[Network]]:
        specs = list(specs)
        if self.workers == 0 or self.fell_back:
            return lambda: [build_network(g, c) for g, c in specs]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=worker_init)
            # Start them all now: a worker takes seconds to import torch.
            self._starting = [self._pool.submit(int) for _ in range(self.workers)]
        if not self.ready():
            return lambda: [build_network(g, c) for g, c in specs]  # built here meanwhile
        try:
            futures: list[Future] = [self._pool.submit(pack_network, g, c) for g, c in specs]
        except BrokenProcessPool:
            return self._fall_back(specs)
        return lambda: self._collect(futures, specs)

    def ready(self) -> bool:
        """Whether the workers are all up (a pool whose start failed counts: submit falls back)."""
        return self._pool is not None and all(f.done() for f in self._starting)

    def _collect(self, futures: list[Future], specs: list[Spec]) -> list[Network]:
        try:
            packed = [f.result() for f in futures]
        except BrokenProcessPool:
            return self._fall_back(specs)()
        t0 = time.perf_counter()
        networks = [p.unpack(self.to_device) for p in packed]
        self.unpack_s += time.perf_counter() - t0
        return networks

    def _fall_back(self, specs: list[Spec]) -> Callable[[], list[Network]]:
        self.fell_back = True
        return lambda: [build_network(g, c) for g, c in specs]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "NetworkBuilder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

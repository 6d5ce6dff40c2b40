"""A timing worker of a Ray profile: one per timing slot of a node (or per GPU), run as a Ray actor.

Ray's CPU resources are bookkeeping and isolate nothing, so the worker isolates itself: it pins
every thread of its process (and so the preparing process it spawns) to its own share of the node's
cores, fixes the thread counts (torch, and ONNX Runtime through its session options, which ignore
``OMP_NUM_THREADS``) and turns ONNX Runtime's spinning off when it shares the node with other
timers. It times with the local profiler's own machinery (the round scheduler for the CPU
backends, interleaved batches for triton) and hands the samples back; it never opens the store.

The class is plain Python: the driver wraps it with ``ray.remote`` (``harness.ray_profile``), and
tests can run it in-process.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import torch

from gnnlat.errors import GnnlatError
from harness.gc_pause import collect_between_batches
from harness.prepare import PREFETCH_BACKENDS, NetworkBuilder, Spec, default_build_workers
from harness.profile import Anchor, default_batch_archs, time_batch
from harness.profile_stats import ProfileStats
from harness.rounds import ScheduleConfig
from harness.samples import to_sample
from harness.store import Sample
from harness.timers import OnnxRuntimeTimer, TimerSettings, make_timer

Job = tuple[str, dict, str]  # (genotype_json, config dict, kind): what the driver hands out


class WorkerSetupError(GnnlatError, RuntimeError):
    """A timing worker that cannot get the cores or threads it was asked for."""


@dataclass(frozen=True)
class WorkerSpec:
    """What one timing worker needs: its timer, the schedule, the anchor, and its place on the node
    (``slot`` of ``node_workers`` timing workers there)."""

    backend: str
    threads: int = 1
    settings: TimerSettings | None = None  # None: the backend's own defaults (make_timer)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    anchor: Spec | None = None
    slot: int = 0
    node_workers: int = 1
    build_workers: int | None = None  # None: one preparing process when its cores leave room for it


@dataclass
class ChunkResult:
    """A chunk's samples and where the worker's time went (``stats.wall_s``: the call's wall time)."""

    samples: list[Sample]
    stats: ProfileStats


def worker_cores(slot: int, node_workers: int, available: list[int], threads: int) -> list[int]:
    """The cores timing worker ``slot`` of ``node_workers`` owns: an equal contiguous share of
    ``available``, enough for its ``threads`` (else a one-line error, not a contended timing)."""
    share = len(available) // node_workers
    if share < threads:
        raise WorkerSetupError(f"{node_workers} timing workers of {threads} thread(s) need {node_workers * threads} "
                               f"cores; this node has {len(available)}: lower --workers-per-node or --threads")
    return available[slot * share:(slot + 1) * share]


def node_cores() -> list[int]:
    """The cores this node gives its Ray processes: the parent's (the raylet's) affinity, not our
    own, which a reused worker process may have narrowed already."""
    try:
        return sorted(os.sched_getaffinity(os.getppid()))
    except OSError:
        return sorted(os.sched_getaffinity(0))


def pin_process(cores: list[int]) -> None:
    """Pin every thread of this process to ``cores``: ``sched_setaffinity(0)`` moves only the calling
    thread, and a Ray worker runs tasks on threads it started before we got here."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except (ProcessLookupError, PermissionError):  # a thread that just ended
            pass
    os.sched_setaffinity(0, cores)


def ray_node_id() -> str:
    """This process's Ray node id ("local" outside a Ray worker, e.g. in tests)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except ImportError:
        return "local"


class ProfileWorker:
    """Times chunks of jobs on this node and returns their samples (:meth:`time_jobs`)."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.cores = worker_cores(spec.slot, spec.node_workers, node_cores(), spec.threads)
        pin_process(self.cores)
        self.timer = make_timer(spec.backend, spec.threads, spec.settings)
        if isinstance(self.timer, OnnxRuntimeTimer) and spec.node_workers > 1:
            self.timer.spinning = False
        self.fp = self.timer.fingerprint()
        self.node_id = ray_node_id()
        self.build_workers = (spec.build_workers if spec.build_workers is not None
                              else default_build_workers(self.timer.backend, spec.threads, len(self.cores)))
        self._builder = (NetworkBuilder(self.build_workers, self.timer.to_device)
                         if self.timer.backend in PREFETCH_BACKENDS else None)
        self._anchor: Anchor | None = None  # triton: the anchor's runner, prepared on the first chunk
        self._preparer = None  # the CPU backends' preparing process, spawned on the first chunk

    def describe(self) -> dict:
        """Who this worker is: the driver reads the device before it hands out work."""
        return {"fingerprint": self.fp, "node_id": self.node_id, "cores": self.cores, "pid": os.getpid(),
                "build_workers": self.build_workers}

    def time_jobs(self, jobs: list[Job]) -> ChunkResult:
        """Time ``jobs`` on this node; each sample keeps this node's fingerprint, and its id in ``extra``."""
        pin_process(self.cores)  # threads Ray started since
        torch.set_num_threads(self.spec.threads)
        stats, t0 = ProfileStats(), time.perf_counter()
        extra = {"node_id": self.node_id, "node_timers": self.spec.node_workers}
        if self._builder is not None:
            samples = self._time_batches(jobs, stats, extra)
        else:
            samples = self._time_streaming(jobs, stats, extra)
        stats.wall_s = time.perf_counter() - t0
        return ChunkResult(samples, stats)

    def _time_streaming(self, jobs: list[Job], stats: ProfileStats, extra: dict) -> list[Sample]:
        from harness.stream import Job as StreamJob, Preparer, StreamTimer

        first = self._preparer is None
        if first:
            self._preparer = Preparer(self.timer, self.build_workers)
        # The ballast lays out a fresh process's memory; later chunks find it laid out by the earlier ones.
        schedule = self.spec.schedule if first else replace(self.spec.schedule, ballast=0)
        samples: list[Sample] = []

        def on_done(job, timing, verdict, more) -> None:
            samples.append(to_sample(job.genotype_json, job.config, timing, self.timer, self.fp, job.kind,
                                     {**more, **extra}))
            stats.timed += 1

        StreamTimer(self.timer, schedule, stats, self.build_workers, self._preparer).run(
            iter([StreamJob(*j) for j in jobs]), on_done, self.spec.anchor)
        return samples

    def _time_batches(self, jobs: list[Job], stats: ProfileStats, extra: dict) -> list[Sample]:
        """triton: interleaved batches, each one's networks submitted to the builders while the
        batch before is timed (submitted all up front, a chunk's batches were all built inline
        while the builders started), the collector paused in between (``harness.gc_pause``)."""
        size = default_batch_archs(self.timer.backend)
        batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        specs = [[(g, c) for g, c, _ in b] for b in batches]
        pending = self._builder.submit(specs[0]) if batches else None
        if self._anchor is None:
            self._anchor = Anchor.prepare(self.timer, self.spec.anchor, stats)
        samples: list[Sample] = []
        with collect_between_batches() as collect:
            for k, batch in enumerate(batches):
                networks, pending = pending, self._builder.submit(specs[k + 1]) if k + 1 < len(batches) else None
                samples += time_batch(self.timer, self.fp, batch, stats, self._anchor, networks, extra)
                collect()
        return samples

    def close(self) -> None:
        """Stop the preparing processes (a killed worker's leave on their own, see
        ``harness.prepare._exit_with_parent``)."""
        if self._preparer is not None:
            self._preparer.close()
        if self._builder is not None:
            self._builder.close()

"""Profiling on a Ray cluster: timing workers on every node, this process the only writer of the store.

The driver walks the same architecture sequence as the local profiler (architecture i is a pure
function of (seed, i), :func:`harness.profile.architecture_stream`) and hands it out in chunks to
:class:`harness.ray_worker.ProfileWorker` actors, at most ``workers_per_node`` per node (per GPU
on triton), each pinned to its node by a hard node-affinity strategy and holding its share of the
node's CPUs (or its GPU). Results come back through ``ray.wait``; the driver stores each chunk in
one transaction. Which architectures end up in the profile does not depend on how many workers
ran: a chunk lost with its worker (or node) goes back to the front of the queue, and a killed
driver loses only the chunks in flight, which a re-run of the same command times again, skipping
what is stored (the store's primaries are unique per device besides).
"""
from __future__ import annotations

import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Callable, Iterator

from harness.prepare import PREFETCH_BACKENDS
from harness.profile import (ProfileConfig, ProfileConfigError, _next_batch, anchor_job, architecture_stream,
                             out_of_time)
from harness.profile_stats import ProfileStats
from harness.ray_cluster import NodeInfo, RayClusterError, alive_nodes, connected, node_alive
from harness.ray_worker import ChunkResult, Job, ProfileWorker, WorkerSpec
from harness.store import ProfileStore, Sample, arch_key, fingerprint_id
from harness.timers import TimerSettings, default_settings

MAX_OUTSTANDING = 2  # chunks queued per worker: the next one starts the moment the last returns


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: the cluster address, timing workers per node (per GPU on triton),
    architectures per call to a worker, and how long to wait for workers to start or come back."""

    address: str = "auto"
    workers_per_node: int = 1
    chunk: int = 16  # a chunk is timed in one scheduler run: larger keeps its rotation full for longer
    start_timeout_s: float = 300.0  # no worker ready within this: the cluster cannot run the profile
    replacements: int = 3  # a worker slot whose actor died is restarted at most this often

    def __post_init__(self) -> None:
        if self.workers_per_node < 1:
            raise ProfileConfigError(f"--workers-per-node must be at least 1, got {self.workers_per_node}")
        if self.chunk < 1 or self.start_timeout_s <= 0 or self.replacements < 0:
            raise ProfileConfigError("Ray options need chunk >= 1, start_timeout_s > 0 and replacements >= 0")


@dataclass(frozen=True)
class RayProgress:
    """What the progress bar shows: primaries stored of the target, live workers, this run's rate."""

    done: int
    total: int
    workers: int
    archs_per_hour: float


@dataclass
class _Slot:
    """One timing worker's place (node, slot) and its current actor."""

    node: NodeInfo
    slot: int
    actor: object = None
    info: dict | None = None  # ProfileWorker.describe(), once it is ready
    restarts: int = 0
    busy: int = 0  # chunks outstanding

    @property
    def fp_id(self) -> str:
        return fingerprint_id(self.info["fingerprint"])


# ---- what to time next --------------------------------------------------------------------------


@dataclass
class _Plan:
    """The driver's view of the run: stored primaries of the workers' devices, the primaries in
    flight or re-queued, and the repeats per device. Decides every chunk's jobs."""

    cfg: ProfileConfig
    backend: str
    stream: Iterator = None
    done: set[str] = field(default_factory=set)
    planned: set[str] = field(default_factory=set)  # in flight or re-queued
    requeued: deque = field(default_factory=deque)
    primaries: dict[str, list[Sample]] = field(default_factory=dict)  # per device, insertion order
    repeats: dict[str, int] = field(default_factory=dict)  # per device, stored or in flight
    rng: random.Random = None
    requeued_total: int = 0  # primaries handed out again after their worker died

    def __post_init__(self) -> None:
        self.stream = architecture_stream(self.cfg)
        self.rng = random.Random(f"repeats-{self.cfg.seed}")

    def add_device(self, store: ProfileStore, fp_id: str) -> None:
        """Count what the store already holds for a worker's device (a resumed run skips it)."""
        if fp_id in self.primaries:
            return
        samples = store.samples(self.backend, fp_id)
        self.primaries[fp_id] = samples
        self.repeats[fp_id] = store.count(self.backend, fp_id, "repeat")
        self.done |= {s.arch_key for s in samples}

    def chunk(self, fp_id: str, size: int) -> list[Job]:
        """Up to ``size`` jobs for a worker of device ``fp_id``: re-queued primaries first, then new
        ones until the profile is due to hold ``n``, with repeats of this device's older samples
        whenever they fall behind ``repeat_frac``."""
        jobs: list[Job] = []
        while len(jobs) < size:
            repeat = self._repeat(fp_id)
            if repeat:
                jobs.append(repeat)
            primary = self._primary()
            if primary:
                jobs.append(primary)
            elif not repeat:
                break
        return jobs

    def _primary(self) -> Job | None:
        while self.requeued:
            job = self.requeued.popleft()
            if arch_key(job[0], job[1]) not in self.done:
                return job
        if len(self.done | self.planned) >= self.cfg.n:
            return None
        taken = (lambda k: k in self.done or k in self.planned)
        (g, c), = _next_batch(self.stream, taken, 1, 1)
        self.planned.add(arch_key(g.to_json(), c.to_dict()))
        return g.to_json(), c.to_dict(), "primary"

    def _repeat(self, fp_id: str) -> Job | None:
        own = self.primaries[fp_id]
        old = own[: max(len(own) - self.cfg.repeat_delay, 0)]
        if not old or self.repeats[fp_id] >= self.cfg.repeat_frac * len(own):
            return None
        self.repeats[fp_id] += 1
        s = self.rng.choice(old)
        return s.genotype_json, s.config, "repeat"

    def stored(self, samples: list[Sample], stats: ProfileStats) -> None:
        for s in samples:
            own = self.primaries.setdefault(s.fingerprint_id, [])
            if s.kind == "repeat":
                primary = next((p for p in reversed(own) if p.arch_key == s.arch_key), None)
                if primary:
                    stats.add_repeat(s, primary)
                continue
            self.planned.discard(s.arch_key)
            if s.arch_key not in self.done:
                self.done.add(s.arch_key)
                own.append(s)

    def lost(self, jobs: list[Job], fp_id: str) -> None:
        """A dead worker's chunk: its primaries go back to the front of the queue, its repeats are
        forgotten (another one is picked when due)."""
        primaries = [j for j in jobs if j[2] == "primary"]
        self.requeued.extendleft(reversed(primaries))
        self.requeued_total += len(primaries)
        self.repeats[fp_id] -= sum(j[2] == "repeat" for j in jobs)


# ---- the workers ---------------------------------------------------------------------------------


class _Pool:
    """The timing workers: starts them on every alive node, hands out chunks, reports results and
    deaths, and restarts a dead worker on its node while that node lives."""

    def __init__(self, ray, spec: WorkerSpec, opts: RayOptions):
        self.ray, self.spec, self.opts = ray, spec, opts
        self.run_id = uuid.uuid4().hex[:8]
        self.remote = ray.remote(ProfileWorker)
        self.slots = [_Slot(node, i) for node in alive_nodes(ray) for i in range(self._per_node(node))]
        if not self.slots:
            raise RayClusterError("the Ray cluster has no node to time on (no CPUs"
                                  + (" or GPUs" if spec.backend in PREFETCH_BACKENDS else "") + ")")
        self.starting: dict[object, tuple[_Slot, object]] = {}  # describe() ref -> (slot, actor)
        self.chunks: dict[object, tuple[_Slot, object, str, list[Job]]] = {}  # -> (slot, actor, device, jobs)
        for slot in self.slots:
            self._start(slot)

    def _per_node(self, node: NodeInfo) -> int:
        k = self.opts.workers_per_node
        if self.spec.backend in PREFETCH_BACKENDS:
            return node.gpus * k
        if node.cpus // k < self.spec.threads:
            raise RayClusterError(f"node {node.address} has {node.cpus} CPUs: {k} timing workers of "
                                  f"{self.spec.threads} thread(s) do not fit; lower --workers-per-node or --threads")
        return k

    def _start(self, slot: _Slot) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        per_node = self._per_node(slot.node)
        resources: dict = {"num_cpus": max(slot.node.cpus // per_node, 1)}
        if self.spec.backend in PREFETCH_BACKENDS:
            resources["num_gpus"] = 1 / self.opts.workers_per_node
        slot.actor = self.remote.options(
            **resources, max_restarts=0, name=f"gnnlat-timer-{self.run_id}-{slot.node.node_id[:8]}-{slot.slot}"
            f"-{slot.restarts}", scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node.node_id, soft=False),
        ).remote(WorkerSpec(**{**self.spec.__dict__, "slot": slot.slot, "node_workers": per_node}))
        slot.info, slot.busy = None, 0
        self.starting[slot.actor.describe.remote()] = (slot, slot.actor)

    def live(self) -> list[_Slot]:
        return [s for s in self.slots if s.info is not None]

    def idle(self) -> list[_Slot]:
        return [s for s in self.live() if s.busy < MAX_OUTSTANDING]

    def submit(self, slot: _Slot, jobs: list[Job]) -> None:
        slot.busy += 1
        self.chunks[slot.actor.time_jobs.remote(jobs)] = (slot, slot.actor, slot.fp_id, jobs)

    def pending(self) -> bool:
        return bool(self.starting or self.chunks)

    def wait(self, timeout_s: float) -> list[tuple[str, _Slot, object]]:
        """Events since the last call: ("ready", slot, actor), ("result", slot, ChunkResult), ("lost",
        slot, (actor, device id, jobs)) for a chunk whose worker died, ("gone", slot, actor) for a
        worker that could not start."""
        refs = list(self.starting) + list(self.chunks)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout_s)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0) if ready else (ready, None)
        return [self._event(ref) for ref in ready]

    def _event(self, ref) -> tuple[str, _Slot, object]:
        from ray.exceptions import RayActorError

        if ref in self.starting:
            slot, actor = self.starting.pop(ref)
            try:
                info = self.ray.get(ref)
            except RayActorError:
                return "gone", slot, actor
            if slot.actor is actor:
                slot.info = info
            return "ready", slot, actor
        slot, actor, fp_id, jobs = self.chunks.pop(ref)
        try:
            result: ChunkResult = self.ray.get(ref)
        except RayActorError:
            return "lost", slot, (actor, fp_id, jobs)
        slot.busy -= 1
        return "result", slot, result

    def replace(self, slot: _Slot, dead: object) -> bool:
        """Start another actor in the place of ``dead`` (unless done already, by an earlier event of
        the same death), while its node lives and restarts are left. Its other chunks come as
        "lost" events of their own."""
        if slot.actor is not dead:
            return slot.actor is not None
        self.ray.kill(dead)
        slot.actor, slot.info = None, None
        if slot.restarts >= self.opts.replacements or not node_alive(self.ray, slot.node.node_id):
            return False
        slot.restarts += 1
        self._start(slot)
        return True

    def close(self) -> None:
        for slot in self.slots:
            if slot.actor is not None:
                self.ray.kill(slot.actor)


# ---- the driver ----------------------------------------------------------------------------------


def add_stats(into: ProfileStats, other: ProfileStats) -> None:
    """Sum a worker's time accounting into ``into`` (the repeat pairs are the driver's to pair)."""
    for f in fields(ProfileStats):
        if isinstance(getattr(into, f.name), (int, float)):
            setattr(into, f.name, getattr(into, f.name) + getattr(other, f.name))


def cluster_backend(ray, backend: str) -> str:
    """``auto`` on a cluster: triton when it has GPUs, else onnxruntime (the driver's own machine
    may have neither)."""
    if backend != "auto":
        return backend
    return "triton" if ray.cluster_resources().get("GPU", 0) >= 1 else "onnxruntime"


def run_ray_profile(cfg: ProfileConfig, backend: str, threads: int, settings: TimerSettings, opts: RayOptions,
                    progress: Callable[[RayProgress], None] | None = None, stats: ProfileStats | None = None) -> dict:
    """Fill ``cfg.out`` up to ``cfg.n`` primaries with the timing workers of a Ray cluster; the
    summary of the local profiler, plus the workers (node, cores, device) and their time accounting."""
    stats = stats or ProfileStats()
    with connected(opts.address) as ray:
        if backend == "auto" and cluster_backend(ray, backend) == "triton" and settings == default_settings(backend):
            settings = default_settings("triton")  # the CPU defaults came from a driver without a GPU
        backend = cluster_backend(ray, backend)
        spec = WorkerSpec(backend=backend, threads=threads, settings=settings, schedule=cfg.schedule,
                          anchor=anchor_job(cfg.config) if cfg.anchor else None, build_workers=cfg.build_workers)
        pool = _Pool(ray, spec, opts)
        try:
            with ProfileStore(cfg.out) as store:
                return _Driver(cfg, opts, pool, _Plan(cfg, backend), store, stats).run(progress)
        finally:
            pool.close()


@dataclass
class _Driver:
    """The driver's loop: hand chunks to idle workers, store what comes back, re-queue what a dead
    worker took. The store is written here and nowhere else."""

    cfg: ProfileConfig
    opts: RayOptions
    pool: _Pool
    plan: _Plan
    store: ProfileStore
    stats: ProfileStats  # the run's: rate and live noise floor
    work: ProfileStats = field(default_factory=ProfileStats)  # the workers' time accounting, summed
    seen: dict[str, dict] = field(default_factory=dict)  # every worker that started: node, cores, device
    t_start: float = field(default_factory=time.perf_counter)

    def run(self, progress: Callable[[RayProgress], None] | None) -> dict:
        while self.pool.pending() or self.pool.idle():
            self._assign()
            if not self.pool.pending():
                break
            events = self.pool.wait(timeout_s=5.0)
            if not events and not self.pool.live() and time.perf_counter() - self.t_start > self.opts.start_timeout_s:
                raise RayClusterError(f"no timing worker started within {self.opts.start_timeout_s:.0f} s: is the "
                                      "cluster busy (its CPUs or GPUs held by other work)?")
            for event in events:
                self._handle(*event)
            if not self.pool.live() and not self.pool.pending() and len(self.plan.done) < self.cfg.n:
                raise RayClusterError("every timing worker died; the stored samples are kept: re-run the same "
                                      "command to resume")
            if progress:
                elapsed = time.perf_counter() - self.t_start
                progress(RayProgress(len(self.plan.done), self.cfg.n, len(self.pool.live()),
                                     3600 * self.stats.timed / elapsed if elapsed > 0 else 0.0))
        return self._summary()

    def _assign(self) -> None:
        """A chunk for every idle worker, until the time limit (one architecture at least per run)."""
        if out_of_time(self.t_start, self.cfg.time_limit_s) and self.stats.timed:
            return
        for slot in self.pool.idle():
            jobs = self.plan.chunk(slot.fp_id, self.opts.chunk)
            if jobs:
                self.pool.submit(slot, jobs)

    def _handle(self, kind: str, slot: _Slot, payload: object) -> None:
        if kind == "ready" and slot.info is not None:
            self.plan.add_device(self.store, slot.fp_id)
            self.seen[f"{slot.info['node_id']}/{slot.slot}"] = {**slot.info, "fingerprint_id": slot.fp_id}
        elif kind == "result":
            self.store.add(payload.samples)  # one transaction per chunk: a killed driver loses only those in flight
            self.plan.stored(payload.samples, self.stats)
            self.stats.timed += len(payload.samples)
            add_stats(self.work, payload.stats)
        elif kind == "lost":
            actor, fp_id, jobs = payload
            self.plan.lost(jobs, fp_id)
            self.pool.replace(slot, actor)
        elif kind == "gone":
            self.pool.replace(slot, payload)

    def _summary(self) -> dict:
        """The local profiler's summary; time per architecture and the share outside timed runs are
        per worker-second (the driver's wall time holds several workers' time), the rate is the
        driver's, all workers together."""
        summary = self.store.summary()
        self.stats.wall_s += time.perf_counter() - self.t_start
        per_worker = {k: v for k, v in self.work.report().items()
                      if k in ("overhead_frac", "untimed_frac", "time_per_arch_ms")}
        summary.update({**self.stats.report(), **per_worker}, workers=list(self.seen.values()),
                       requeued=self.plan.requeued_total, replaced=sum(s.restarts for s in self.pool.slots),
                       fingerprint_ids=sorted(self.plan.primaries),
                       time_limit_reached=out_of_time(self.t_start, self.cfg.time_limit_s))
        return summary

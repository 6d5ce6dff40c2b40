"""Training records from profile stores: where the harness's samples become the predictor's data.

Stored samples (``harness.store``) become plain :class:`gnnlat.record.Record` objects (genotype,
network config, latency label), validated on the way. This module sits above both packages: the
predictor never reads a store, the store never knows about labels.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype, GenotypeError
from gnnlat.network import NetworkConfig
from gnnlat.record import LABELS, Record, check_metric
from harness.store import ProfileStore, ProfileStoreError


class ProfileError(GnnlatError, ValueError):
    """A profile that cannot be read, or holds no usable training records."""


def load_records(path: str | Path, backend: str | None = None, fingerprint_id: str | None = None,
                 include_noisy: bool = True, use_repeats: bool = True, labels: str = "auto") -> list[Record]:
    """One record per primary sample of a profile store; its latency label comes from all timings of
    that architecture on that device and backend, the primary and any repeats (``harness.retime``).

    ``labels``:
      * ``min``: the minimum over the timings, the harness's own statistic with more rounds;
      * ``anchored``: each timing divided by the drift its batch's anchor saw (see
        :func:`anchored_timings`), then the median; every architecture needs an anchored timing;
      * ``auto`` (default): ``anchored`` when every architecture has an anchored timing, else ``min``.

    ``use_repeats=False`` keeps the primary's timing alone. Raises ProfileError for a
    missing/unreadable profile, one without matching samples, or bad anchor data.
    """
    if labels not in LABELS:
        raise ProfileError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")
    samples, repeats = read_samples(path, backend, fingerprint_id, use_repeats)
    samples = [s for s in samples if include_noisy or not s.noisy]
    keys = [_timing_key(s) for s in samples]  # hashing a fingerprint is most of the loading time
    fastest: dict[tuple, float] = {}
    for key, t in zip(keys + [_timing_key(r) for r in repeats], samples + repeats):
        fastest[key] = min(fastest.get(key, math.inf), float(t.latency_ms))
    anchored = anchored_timings(samples + repeats, path)
    if labels == "auto":
        labels = "anchored" if samples and all(key in anchored for key in keys) else "min"
    records = []
    for key, s in zip(keys, samples):
        if labels == "min":
            latency = fastest[key]
        elif key in anchored:
            latency = float(np.median(anchored[key]))
        else:
            raise ProfileError(f"{path}: sample {s.id} has no anchored timing; re-time the profile "
                               "with an anchor or use min labels")
        records.append(Record(*_architecture(s, path), latency, s.backend, key[2], dict(s.fingerprint), labels))
    if not records:
        filters = ", ".join(f"{k}={v}" for k, v in (("backend", backend), ("fingerprint", fingerprint_id))
                            if v is not None)
        raise ProfileError(f"{path} has no primary samples" + (f" for {filters}" if filters else ""))
    return records


def anchored_timings(samples: Sequence, path: str | Path = "profile") -> dict[tuple, list[float]]:
    """Drift-corrected timings per (arch key, backend, fingerprint) of the samples timed with an anchor.

    A sample timed next to the anchor (``harness.profile.anchor_job``) keeps the anchor's latency
    in that batch. Drift slows a batch's networks alike, so ``latency * ref / anchor_ms`` removes
    it, where ``ref`` is the median anchor latency over all batches of that device and backend:
    the labels then read as latencies in the machine's typical state.
    """
    anchor, timed = _anchor_pass(samples, path)
    ref = {group: median_ms for group, (median_ms, _) in _medians(anchor).items()}
    out: dict[tuple, list[float]] = {}
    for key, group, latency, ms in timed:
        out.setdefault(key, []).append(latency * ref[group] / ms)
    return out


def anchor_medians(samples: Sequence, path: str | Path = "profile") -> dict[tuple, tuple[float, int]]:
    """Per (backend, fingerprint, anchor key): the anchor's median latency over the batches it was
    timed in, and how many batches that was (the *ref* of :func:`anchored_timings`)."""
    return _medians(_anchor_pass(samples, path)[0])


def _medians(anchor: dict[tuple, dict[str, float]]) -> dict[tuple, tuple[float, int]]:
    return {group: (float(np.median(list(batches.values()))), len(batches)) for group, batches in anchor.items()}


def _anchor_pass(samples: Sequence, path: str | Path) -> tuple[dict, list]:
    """One pass over the samples timed with an anchor (each timing key hashed once): the anchor's
    latency per group and batch, and (timing key, group, latency, anchor ms) per sample."""
    anchor: dict[tuple, dict[str, float]] = {}  # (backend, fingerprint, anchor key) -> batch -> ms
    timed: list[tuple[tuple, tuple, float, float]] = []  # (timing key, anchor group, latency, anchor ms)
    for s in samples:
        if "anchor_ms" not in s.extra:
            continue
        ms = s.extra["anchor_ms"]
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms <= 0:
            raise ProfileError(f"{path}: sample {s.id} has an invalid anchor latency {ms!r}")
        key = _timing_key(s)
        group = (key[1], key[2], str(s.extra.get("anchor_key")))
        anchor.setdefault(group, {})[str(s.extra.get("batch", s.id))] = float(ms)
        timed.append((key, group, float(s.latency_ms), float(ms)))
    return anchor, timed


def _timing_key(s) -> tuple:
    return s.arch_key, s.backend, s.fingerprint_id


def read_samples(path: str | Path, backend: str | None, fingerprint_id: str | None,
                 use_repeats: bool) -> tuple[list, list]:
    """(primaries, repeats) of a profile store, optionally of one backend and device."""
    try:
        with ProfileStore(path, create=False) as store:
            samples = store.samples(backend=backend, fingerprint_id=fingerprint_id, kind="primary")
            repeats = (store.samples(backend=backend, fingerprint_id=fingerprint_id, kind="repeat")
                       if use_repeats else [])
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None
    return samples, repeats


def _architecture(s, path) -> tuple[Genotype, NetworkConfig]:
    try:
        return Genotype.from_json(s.genotype_json), NetworkConfig.from_dict(s.config)
    except (GenotypeError, ValueError, TypeError) as exc:
        raise ProfileError(f"{path}: sample {s.id} is not a valid architecture: {exc}") from None


def noise_floor(path: str | Path, backend: str | None = None, fingerprint_id: str | None = None,
                labels: str = "min") -> dict:
    """Relative difference between two timings of one architecture: ``{"n", "median", "p90"}``.

    ``min``: raw repeat vs primary (``ProfileStore.noise_floor``). ``anchored``: every later
    drift-corrected timing vs the first one of the same architecture.
    """
    if labels != "anchored":
        try:
            with ProfileStore(path, create=False) as store:
                return store.noise_floor(backend=backend, fingerprint_id=fingerprint_id)
        except ProfileStoreError as exc:
            raise ProfileError(str(exc)) from None
    samples, repeats = read_samples(path, backend, fingerprint_id, use_repeats=True)
    diffs = [abs(t / ts[0] - 1.0) for ts in anchored_timings(samples + repeats, path).values() for t in ts[1:]]
    if not diffs:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(diffs), "median": float(np.median(diffs)), "p90": float(np.percentile(diffs, 90))}


def load_metric_records(path: str | Path, metric: str, backend: str | None = None,
                        fingerprint_id: str | None = None) -> list[Record]:
    """One record per primary sample that carries ``metric`` (memory or energy), labelled with the
    median of its primary and repeat values (``label`` "measured"; latency: :func:`load_records`)."""
    if check_metric(metric) == "latency":
        return load_records(path, backend, fingerprint_id)
    try:
        with ProfileStore(path, create=False) as store:
            samples = store.samples(backend, fingerprint_id, kind="primary", metric=metric)
            repeats = store.samples(backend, fingerprint_id, kind="repeat", metric=metric)
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None
    values: dict[tuple, list[float]] = {}
    for s in samples + repeats:
        values.setdefault(_timing_key(s), []).append(float(s.value(metric)))
    records = [Record(*_architecture(s, path), float(np.median(values[key])), s.backend, key[2], dict(s.fingerprint),
                      "measured", metric) for s in samples for key in [_timing_key(s)]]
    if not records:
        raise ProfileError(f"{path} has no primary samples with {metric}"
                           + (f" for backend={backend}" if backend else "")
                           + (" (profile it with --metric memory)" if metric == "memory" else ""))
    return records


def load_profiles(paths: Sequence[str | Path], backend: str | None = None, labels: str = "auto",
                  metric: str = "latency") -> list[Record]:
    """Records of several profile stores together; they must share one backend (a predictor is
    per backend). ``metric``: latency (with ``labels``), memory or energy."""
    if metric == "latency":
        records = [r for path in paths for r in load_records(path, backend=backend, labels=labels)]
    else:
        records = [r for path in paths for r in load_metric_records(path, metric, backend=backend)]
    backends = sorted({r.backend for r in records})
    if len(backends) > 1:
        raise ProfileError(f"profiles mix backends {backends}: choose one backend")
    return records


def one_device(records: list[Record], device: str | None = None) -> list[Record]:
    """The records of one device: a predictor learns one machine, so several devices in the
    profiles (a heterogeneous Ray cluster, say) are refused unless ``device`` picks one: a
    fingerprint id, a unique prefix of one, or a device name held by a single id."""
    ids: dict[str, tuple[str, int]] = {}
    for r in records:
        name, n = ids.get(r.fingerprint_id, (str(r.fingerprint.get("device", "unknown")), 0))
        ids[r.fingerprint_id] = (name, n + 1)
    listing = ", ".join(f"{fp} {name} ({n} samples)" for fp, (name, n) in sorted(ids.items()))
    if device is None:
        if len(ids) > 1:
            raise ProfileError(f"profiles mix {len(ids)} devices ({listing}): choose one with --device ID")
        return records
    chosen = [fp for fp in ids if fp.startswith(device)] or [fp for fp, (name, _) in ids.items() if name == device]
    if len(chosen) != 1:
        raise ProfileError(f"--device {device!r} matches {len(chosen)} of the devices ({listing}); give its id")
    return [r for r in records if r.fingerprint_id == chosen[0]]


NOISE_WARN = 0.02  # a median repeat difference above this makes labels unreliable at ±10% targets


def noise_warning(nf: dict) -> str | None:
    """A warning when a noise floor (``{"n", "median", "p90"}``) exceeds NOISE_WARN, else None."""
    if nf.get("n") and nf["median"] > NOISE_WARN:
        return (f"noise floor {nf['median']:.1%} (median of {nf['n']} repeats) exceeds {NOISE_WARN:.0%}: this "
                "machine is busy; re-time later (retime) before trusting the labels")
    return None


def labels_noise_floor(raw: dict, anchored: dict) -> dict:
    """The noise floor the default labels see: the anchored one when there is one, else the raw."""
    return anchored if anchored["n"] else raw

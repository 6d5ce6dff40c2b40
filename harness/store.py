"""SQLite profile store: measured latencies of (genotype, network config) pairs per backend and device.

One profile file holds many devices and backends. Each measurement is a :class:`Sample`; its
architecture key is ``sha256(genotype_json + "|" + canonical_json(config))[:16]``. A *primary*
sample is the first measurement of an architecture on a (backend, device fingerprint) pair and is
unique there; a *repeat* is a later re-timing of the same architecture, used to estimate the noise
floor of the measurement itself:

.. math::
    \\text{noise} = \\frac{|t_\\text{repeat} - t_\\text{primary}|}{t_\\text{primary}}

The file is opened in WAL mode with a long busy timeout, so several profiler processes can write
to one file at once, and every :meth:`ProfileStore.add` is a single transaction, so a killed
writer leaves each batch either fully stored or absent. This module stays torch-free on purpose:
it is imported by light tools (summaries, predictor training) and by profiler subprocesses.
"""
from __future__ import annotations

import json
import math
import numbers
import sqlite3
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from gnnlat.errors import GnnlatError
from gnnlat.identity import arch_key, canonical_json, short_hash

SCHEMA_VERSION = 1
FORMAT_NAME = "gnnlat-profile"
CONFIG_KEYS = ("C", "layers", "in_channels", "resolution", "batch", "classes")
KINDS = ("primary", "repeat")
BUSY_TIMEOUT_MS = 60_000
_SQLITE_MAGIC = b"SQLite format 3\x00"

# Statements run one by one inside a transaction (executescript would commit it first).
_SCHEMA = tuple(stmt.strip() for stmt in f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE fingerprints(id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE samples(
    id INTEGER PRIMARY KEY,
    arch_key TEXT NOT NULL,
    genotype_json TEXT NOT NULL,
    C INTEGER NOT NULL, layers INTEGER NOT NULL, in_channels INTEGER NOT NULL,
    resolution INTEGER NOT NULL, batch INTEGER NOT NULL, classes INTEGER NOT NULL,
    backend TEXT NOT NULL,
    fingerprint_id TEXT NOT NULL REFERENCES fingerprints(id),
    latency_ms REAL NOT NULL, median_ms REAL NOT NULL, p90_ms REAL NOT NULL, cv REAL NOT NULL,
    rounds INTEGER NOT NULL, reps INTEGER NOT NULL, round_spread REAL NOT NULL,
    noisy INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('primary', 'repeat')),
    extra TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX samples_primary ON samples(arch_key, backend, fingerprint_id) WHERE kind = 'primary';
CREATE INDEX samples_filter ON samples(backend, fingerprint_id, kind);
INSERT INTO meta(key, value) VALUES ('format', '{FORMAT_NAME}'), ('schema_version', '{SCHEMA_VERSION}');
PRAGMA user_version = {SCHEMA_VERSION}
""".split(";"))

_SAMPLE_COLUMNS = (
    "arch_key", "genotype_json", *CONFIG_KEYS, "backend", "fingerprint_id", "latency_ms", "median_ms",
    "p90_ms", "cv", "rounds", "reps", "round_spread", "noisy", "kind", "extra", "created_at",
)
_INSERT_SAMPLE = (f"INSERT OR IGNORE INTO samples({', '.join(_SAMPLE_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(_SAMPLE_COLUMNS))})")
_SELECT_SAMPLE = (f"SELECT s.id, {', '.join('s.' + c for c in _SAMPLE_COLUMNS)}, f.json "
                  "FROM samples s JOIN fingerprints f ON f.id = s.fingerprint_id")


class ProfileStoreError(GnnlatError):
    """A file that cannot be used as a profile: missing, not a profile, corrupt, or a newer schema."""


def fingerprint_id(fp: dict) -> str:
    """Identifier of a device fingerprint: ``sha256(canonical_json(fp))[:16]``."""
    return short_hash(canonical_json(fp))


@dataclass
class TimingStats:
    """The statistics of one timing that a profile keeps (``harness.timers.summarize`` makes them):
    ``latency_ms`` is the minimum over interleaved rounds, the robust statistic."""

    latency_ms: float
    median_ms: float
    p90_ms: float
    cv: float
    rounds: int
    reps: int
    round_spread: float
    noisy: bool


@dataclass
class Sample(TimingStats):
    """One latency measurement of one architecture on one backend and device."""

    genotype_json: str
    config: dict
    backend: str
    fingerprint: dict
    kind: str = "primary"
    extra: dict = field(default_factory=dict)
    id: int | None = None
    created_at: float | None = None

    @property
    def arch_key(self) -> str:
        return arch_key(self.genotype_json, self.config)

    @property
    def fingerprint_id(self) -> str:
        return fingerprint_id(self.fingerprint)


# ---- validation ---------------------------------------------------------------------------


def _is_count(v: Any, strict: bool = False) -> bool:
    """A positive integer that fits an SQLite INTEGER (``strict``: a plain Python int, JSON-safe)."""
    kind = int if strict else numbers.Integral
    return isinstance(v, kind) and not isinstance(v, (bool, np.bool_)) and 0 < v < 2**63


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _check_positive(s: Sample, name: str) -> None:
    v = getattr(s, name)
    if not (_is_real(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


def _check_nonnegative(s: Sample, name: str) -> None:
    v = getattr(s, name)
    if not (_is_real(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


def _check_config(config: Any) -> None:
    if not isinstance(config, dict) or set(config) != set(CONFIG_KEYS):
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"config must have exactly the keys {', '.join(CONFIG_KEYS)}; got {got}")
    for key in CONFIG_KEYS:
        if not _is_count(config[key], strict=True):
            raise ValueError(f"config {key} must be a positive integer, got {config[key]!r}")


def _check_json_dict(s: Sample, name: str) -> None:
    value = getattr(s, name)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict, got {type(value).__name__}")
    try:
        canonical_json(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not JSON-serialisable: {e}") from None


def validate_sample(s: Sample) -> None:
    """Raise ValueError naming the first bad field of ``s``."""
    for name in ("latency_ms", "median_ms", "p90_ms"):
        _check_positive(s, name)
    for name in ("cv", "round_spread"):
        _check_nonnegative(s, name)
    for name in ("rounds", "reps"):
        if not _is_count(getattr(s, name)):
            raise ValueError(f"{name} must be a positive integer, got {getattr(s, name)!r}")
    for name in ("backend", "genotype_json"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise ValueError(f"{name} must be a non-empty string, got {getattr(s, name)!r}")
    if s.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {s.kind!r}")
    if not isinstance(s.noisy, (bool, np.bool_)):
        raise ValueError(f"noisy must be a bool, got {s.noisy!r}")
    if s.created_at is not None and not _is_real(s.created_at):
        raise ValueError(f"created_at must be a finite unix time or None, got {s.created_at!r}")
    _check_config(s.config)
    _check_json_dict(s, "fingerprint")
    _check_json_dict(s, "extra")


# ---- rows <-> samples ---------------------------------------------------------------------


def _sample_row(s: Sample, now: float) -> tuple:
    created = float(s.created_at) if s.created_at is not None else now
    return (s.arch_key, s.genotype_json, *(int(s.config[k]) for k in CONFIG_KEYS), s.backend,
            s.fingerprint_id, float(s.latency_ms), float(s.median_ms), float(s.p90_ms), float(s.cv),
            int(s.rounds), int(s.reps), float(s.round_spread), int(bool(s.noisy)), s.kind,
            canonical_json(s.extra), created)


def _row_sample(row: sqlite3.Row) -> Sample:
    return Sample(
        genotype_json=row["genotype_json"], config={k: row[k] for k in CONFIG_KEYS},
        backend=row["backend"], latency_ms=row["latency_ms"], median_ms=row["median_ms"],
        p90_ms=row["p90_ms"], cv=row["cv"], rounds=row["rounds"], reps=row["reps"],
        round_spread=row["round_spread"], noisy=bool(row["noisy"]), fingerprint=json.loads(row["json"]),
        kind=row["kind"], extra=json.loads(row["extra"]), id=row["id"], created_at=row["created_at"],
    )


def _device_entry(row: sqlite3.Row) -> dict:
    fp = json.loads(row[3])
    return {"fingerprint_id": row[0], "device": fp.get("device", "unknown"), "backend": row[1],
            "samples": row[2]}


def _where(backend: str | None, fingerprint_id: str | None, kind: str | None,
           prefix: str = "") -> tuple[str, list]:
    """A WHERE clause filtering on the given (non-None) columns, and its parameters."""
    terms = {"backend": backend, "fingerprint_id": fingerprint_id, "kind": kind}
    used = [(prefix + name, v) for name, v in terms.items() if v is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{name} = ?" for name, _ in used), [v for _, v in used]


def _check_header(path: Path) -> None:
    """Reject a non-empty file that is not SQLite before sqlite3 gets to touch it."""
    with path.open("rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise ProfileStoreError(f"{path} is not a gnnlat profile (not an SQLite database)")


# ---- the store ----------------------------------------------------------------------------


class ProfileStore:
    """A profile file: open (creating it if asked), add samples, query them.

    Args:
        path: the ``.sqlite`` profile file.
        create: create the file (and schema) when missing or empty; with ``False`` a missing or
            empty file is a :class:`ProfileStoreError`.
    """

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        if self.path.is_dir():
            raise ProfileStoreError(f"{self.path} is a directory, not a gnnlat profile")
        if not self.path.exists():
            if not create:
                raise ProfileStoreError(f"no such profile: {self.path}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            try:
                _check_header(self.path)
            except OSError as e:
                raise ProfileStoreError(f"cannot read profile {self.path}: {e}") from None
        try:
            self._open(create)
        except BaseException:
            self.close()
            raise

    def _open(self, create: bool) -> None:
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None)
        except sqlite3.Error as e:
            raise ProfileStoreError(f"cannot open profile {self.path}: {e}") from None
        self._conn.row_factory = sqlite3.Row
        with self._errors():
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self._table_names():
                if not create:
                    raise ProfileStoreError(f"{self.path} is empty, not a gnnlat profile")
                self._create_schema()
            self._check_meta()
            # WAL lets readers and one writer proceed together; set only once the file is known
            # to be ours, so a foreign database is never modified. NORMAL sync in WAL mode keeps
            # every commit atomic across process kills (only an OS crash can lose the last few).
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")

    def _table_names(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def _create_schema(self) -> None:
        # WAL is switched on before the first write so the new file never uses a rollback journal.
        self._conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            if not self._table_names():  # another process may have created it meanwhile
                for stmt in _SCHEMA:
                    self._conn.execute(stmt)

    def _check_meta(self) -> None:
        if "meta" not in self._table_names():
            raise ProfileStoreError(f"{self.path} is not a gnnlat profile (an SQLite database of "
                                    "another kind: no meta table)")
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT_NAME:
            raise ProfileStoreError(f"{self.path} is not a gnnlat profile (format {meta.get('format')!r})")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise ProfileStoreError(f"{self.path} is corrupt: bad schema_version "
                                    f"{meta.get('schema_version')!r}") from None
        if version > SCHEMA_VERSION:
            raise ProfileStoreError(f"{self.path} was written by a newer gnnlat (schema {version} > "
                                    f"{SCHEMA_VERSION}); upgrade gnnlat")
        if version < SCHEMA_VERSION:
            raise ProfileStoreError(f"{self.path} uses an old profile schema ({version} < "
                                    f"{SCHEMA_VERSION}) that this gnnlat cannot read; re-profile")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3 errors (corrupt pages, truncated files, ...) into ProfileStoreError."""
        if self._conn is None:
            raise ProfileStoreError(f"profile {self.path} is closed")
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.IntegrityError) as e:
            raise ProfileStoreError(f"cannot use profile {self.path}: {e}") from None
        except sqlite3.DatabaseError as e:
            msg = str(e)
            if "not a database" in msg:
                raise ProfileStoreError(f"{self.path} is not a gnnlat profile (not an SQLite "
                                        f"database)") from None
            raise ProfileStoreError(f"{self.path} is corrupt ({msg})") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front: in WAL mode a read that later upgrades to a
        # write can fail with SQLITE_BUSY without waiting, while BEGIN IMMEDIATE honours the timeout.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        with self._errors():
            return self._conn.execute(sql, params).fetchall()

    def _decode(self, convert: Callable[[sqlite3.Row], Any], rows: list[sqlite3.Row]) -> list:
        """Convert rows whose JSON columns may be damaged in a corrupt file."""
        try:
            return [convert(r) for r in rows]
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise ProfileStoreError(f"{self.path} is corrupt (bad JSON in a row: {e})") from None

    # ---- writing ------------------------------------------------------------------------

    def add(self, samples: Sequence[Sample]) -> int:
        """Store a batch in one transaction; returns the rows inserted (duplicate primaries are skipped).

        Every sample is validated first: one bad sample raises ValueError and nothing is written.
        """
        samples = list(samples)
        for i, s in enumerate(samples):
            try:
                validate_sample(s)
            except ValueError as e:
                raise ValueError(f"sample {i}: {e}") from None
        now = time.time()
        fps = {s.fingerprint_id: canonical_json(s.fingerprint) for s in samples}
        inserted = 0
        with self._errors(), self._transaction():
            self._conn.executemany("INSERT OR IGNORE INTO fingerprints(id, json) VALUES (?, ?)",
                                   fps.items())
            for s in samples:
                inserted += self._conn.execute(_INSERT_SAMPLE, _sample_row(s, now)).rowcount
        return inserted

    # ---- reading ------------------------------------------------------------------------

    def primary_keys(self, backend: str | None = None, fingerprint_id: str | None = None) -> set[str]:
        """Arch keys that already have a primary sample (for resuming a profiling run)."""
        where, params = _where(backend, fingerprint_id, "primary")
        return {r[0] for r in self._query("SELECT arch_key FROM samples" + where, params)}

    def count(self, backend: str | None = None, fingerprint_id: str | None = None,
              kind: str | None = "primary") -> int:
        """Number of samples matching the filters (``kind=None``: primaries and repeats)."""
        where, params = _where(backend, fingerprint_id, kind)
        return self._query("SELECT COUNT(*) FROM samples" + where, params)[0][0]

    def samples(self, backend: str | None = None, fingerprint_id: str | None = None,
                kind: str | None = "primary") -> list[Sample]:
        """Samples matching the filters, in insertion (id) order."""
        where, params = _where(backend, fingerprint_id, kind, prefix="s.")
        rows = self._query(_SELECT_SAMPLE + where + " ORDER BY s.id", params)
        return self._decode(_row_sample, rows)

    def repeat_counts(self, backend: str | None = None, fingerprint_id: str | None = None) -> dict[str, int]:
        """Repeats stored per arch key (architectures without one are absent)."""
        where, params = _where(backend, fingerprint_id, "repeat")
        rows = self._query("SELECT arch_key, COUNT(*) FROM samples" + where + " GROUP BY arch_key", params)
        return {r[0]: r[1] for r in rows}

    def fingerprints(self) -> dict[str, dict]:
        """All device fingerprints by id."""
        rows = self._query("SELECT id, json FROM fingerprints")
        return dict(self._decode(lambda r: (r["id"], json.loads(r["json"])), rows))

    def noise_floor(self, backend: str | None = None, fingerprint_id: str | None = None) -> dict:
        """Relative repeat-vs-primary latency difference: ``{"n", "median", "p90"}`` (None when n = 0)."""
        where, params = _where(backend, fingerprint_id, "repeat", prefix="r.")
        rows = self._query(
            "SELECT ABS(r.latency_ms - p.latency_ms) / p.latency_ms FROM samples r "
            "JOIN samples p ON p.kind = 'primary' AND p.arch_key = r.arch_key "
            "AND p.backend = r.backend AND p.fingerprint_id = r.fingerprint_id" + where, params)
        diffs = [r[0] for r in rows]
        if not diffs:
            return {"n": 0, "median": None, "p90": None}
        return {"n": len(diffs), "median": float(np.median(diffs)),
                "p90": float(np.percentile(diffs, 90))}

    def summary(self) -> dict:
        """Overview of the file: counts, backends, devices, config ranges, latencies, noise."""
        return {
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "samples": self.count(),
            "repeats": self.count(kind="repeat"),
            "unique_architectures": self._query(
                "SELECT COUNT(DISTINCT genotype_json) FROM samples WHERE kind = 'primary'")[0][0],
            "backends": {r[0]: r[1] for r in self._query(
                "SELECT backend, COUNT(*) FROM samples WHERE kind = 'primary' "
                "GROUP BY backend ORDER BY backend")},
            "devices": self._devices(),
            "config_ranges": self._config_ranges(),
            "latency_ms": self._latency_stats(),
            "noisy": self._query("SELECT COUNT(*) FROM samples WHERE kind = 'primary' AND noisy")[0][0],
            "noise_floor": self.noise_floor(),
        }

    def _devices(self) -> list[dict]:
        rows = self._query(
            "SELECT s.fingerprint_id, s.backend, COUNT(*), f.json FROM samples s "
            "JOIN fingerprints f ON f.id = s.fingerprint_id WHERE s.kind = 'primary' "
            "GROUP BY s.fingerprint_id, s.backend ORDER BY s.backend, s.fingerprint_id")
        return self._decode(_device_entry, rows)

    def _config_ranges(self) -> dict[str, list[int]]:
        cols = ", ".join(f"MIN({k}), MAX({k})" for k in CONFIG_KEYS)
        row = self._query(f"SELECT {cols} FROM samples WHERE kind = 'primary'")[0]
        if row[0] is None:
            return {}
        return {k: [row[2 * i], row[2 * i + 1]] for i, k in enumerate(CONFIG_KEYS)}

    def _latency_stats(self) -> dict[str, float] | None:
        values = [r[0] for r in self._query("SELECT latency_ms FROM samples WHERE kind = 'primary'")]
        if not values:
            return None
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    # ---- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "ProfileStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProfileStore({str(self.path)!r})"

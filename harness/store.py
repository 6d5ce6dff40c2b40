"""SQLite profile store: measured latencies of (genotype, network config) pairs per backend and device.

One profile file holds many devices and backends. Each measurement is a :class:`Sample`; its
architecture key is ``sha256(genotype_json + "|" + canonical_json(config))[:16]``. A *primary*
sample is the first measurement of an architecture on a (backend, device fingerprint) pair and is
unique there; a *repeat* is a later re-timing of the same architecture, used to estimate the noise
floor of the measurement itself:

.. math::
    \\text{noise} = \\frac{|t_\\text{repeat} - t_\\text{primary}|}{t_\\text{primary}}

Schema 2 adds per-sample metrics beside ``latency_ms``: ``peak_memory_mb`` and ``energy_mj`` (NULL
where not measured), and lets a sample carry no timing (a memory-only profile: the timing columns
are then NULL together). A schema-1 file is read as it is (its metrics read as NULL) and is
migrated, every sample kept, only when a sample with a new metric is written to it, or by
:func:`migrate`.

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

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # schema 1 is read as is, and migrated on the first write of a new metric
FORMAT_NAME = "gnnlat-profile"
CONFIG_KEYS = ("C", "layers", "in_channels", "resolution", "batch", "classes")
KINDS = ("primary", "repeat")
# A metric's name and its column; latency is the timing statistic, the others are one value each.
METRICS = {"latency": "latency_ms", "memory": "peak_memory_mb", "energy": "energy_mj"}
UNITS = {"latency": "ms", "memory": "MB", "energy": "mJ"}
TIMING_COLUMNS = ("latency_ms", "median_ms", "p90_ms", "cv", "rounds", "reps", "round_spread", "noisy")
BUSY_TIMEOUT_MS = 60_000
_SQLITE_MAGIC = b"SQLite format 3\x00"

_INDEXES = (
    "CREATE UNIQUE INDEX samples_primary ON samples(arch_key, backend, fingerprint_id) WHERE kind = 'primary'",
    "CREATE INDEX samples_filter ON samples(backend, fingerprint_id, kind)",
)
# Schema 2's samples table: timing columns nullable together, the metrics beside them.
_SAMPLES_TABLE = """CREATE TABLE {name}(
    id INTEGER PRIMARY KEY,
    arch_key TEXT NOT NULL,
    genotype_json TEXT NOT NULL,
    C INTEGER NOT NULL, layers INTEGER NOT NULL, in_channels INTEGER NOT NULL,
    resolution INTEGER NOT NULL, batch INTEGER NOT NULL, classes INTEGER NOT NULL,
    backend TEXT NOT NULL,
    fingerprint_id TEXT NOT NULL REFERENCES fingerprints(id),
    latency_ms REAL, median_ms REAL, p90_ms REAL, cv REAL,
    rounds INTEGER, reps INTEGER, round_spread REAL,
    noisy INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('primary', 'repeat')),
    extra TEXT NOT NULL,
    created_at REAL NOT NULL,
    peak_memory_mb REAL,
    energy_mj REAL,
    CHECK (latency_ms IS NOT NULL OR peak_memory_mb IS NOT NULL OR energy_mj IS NOT NULL)
)"""

# Statements run one by one inside a transaction (executescript would commit it first).
_SCHEMA = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE fingerprints(id TEXT PRIMARY KEY, json TEXT NOT NULL)",
    _SAMPLES_TABLE.format(name="samples"),
    *_INDEXES,
    f"INSERT INTO meta(key, value) VALUES ('format', '{FORMAT_NAME}'), ('schema_version', '{SCHEMA_VERSION}')",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_V1_COLUMNS = (
    "arch_key", "genotype_json", *CONFIG_KEYS, "backend", "fingerprint_id", "latency_ms", "median_ms",
    "p90_ms", "cv", "rounds", "reps", "round_spread", "noisy", "kind", "extra", "created_at",
)
_SAMPLE_COLUMNS = (*_V1_COLUMNS, "peak_memory_mb", "energy_mj")
_NEW_COLUMNS = ("peak_memory_mb", "energy_mj")  # absent from schema 1: read as NULL there


def _insert_sql(columns: Sequence[str]) -> str:
    return f"INSERT OR IGNORE INTO samples({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _select_sql(version: int) -> str:
    cols = [f"NULL AS {c}" if version < 2 and c in _NEW_COLUMNS else "s." + c for c in _SAMPLE_COLUMNS]
    return f"SELECT s.id, {', '.join(cols)}, f.json FROM samples s JOIN fingerprints f ON f.id = s.fingerprint_id"


class ProfileStoreError(GnnlatError):
    """A file that cannot be used as a profile: missing, not a profile, corrupt, or a newer schema."""


def untimed() -> dict:
    """The TimingStats fields of a sample that carries no timing (keyword arguments of Sample)."""
    return {name: None for name in TIMING_COLUMNS}


def metric_column(metric: str) -> str:
    """The store column of a metric name; ValueError for an unknown one."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return METRICS[metric]


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
    """One measurement of one architecture on one backend and device: its timing and/or its other
    metrics (``peak_memory_mb``, ``energy_mj``). A sample without a timing has every
    :class:`TimingStats` field None (:func:`untimed`)."""

    genotype_json: str
    config: dict
    backend: str
    fingerprint: dict
    kind: str = "primary"
    extra: dict = field(default_factory=dict)
    id: int | None = None
    created_at: float | None = None
    peak_memory_mb: float | None = None
    energy_mj: float | None = None

    @property
    def timed(self) -> bool:
        return self.latency_ms is not None

    def value(self, metric: str) -> float | None:
        """The sample's value of ``metric`` (a key of METRICS), None where not measured."""
        return getattr(self, METRICS[metric])

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


def _validate_timing(s: Sample) -> None:
    for name in ("latency_ms", "median_ms", "p90_ms"):
        _check_positive(s, name)
    for name in ("cv", "round_spread"):
        _check_nonnegative(s, name)
    for name in ("rounds", "reps"):
        if not _is_count(getattr(s, name)):
            raise ValueError(f"{name} must be a positive integer, got {getattr(s, name)!r}")
    if not isinstance(s.noisy, (bool, np.bool_)):
        raise ValueError(f"noisy must be a bool, got {s.noisy!r}")


def validate_sample(s: Sample) -> None:
    """Raise ValueError naming the first bad field of ``s``."""
    if s.latency_ms is not None:
        _validate_timing(s)
    else:
        stray = [n for n in TIMING_COLUMNS if getattr(s, n) is not None]
        if stray:
            raise ValueError(f"a sample without latency_ms has no timing; got {', '.join(stray)}")
        if s.peak_memory_mb is None and s.energy_mj is None:
            raise ValueError("a sample needs latency_ms, peak_memory_mb or energy_mj")
    for name in _NEW_COLUMNS:
        if getattr(s, name) is not None:
            _check_positive(s, name)
    for name in ("backend", "genotype_json"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise ValueError(f"{name} must be a non-empty string, got {getattr(s, name)!r}")
    if s.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {s.kind!r}")
    if s.created_at is not None and not _is_real(s.created_at):
        raise ValueError(f"created_at must be a finite unix time or None, got {s.created_at!r}")
    _check_config(s.config)
    _check_json_dict(s, "fingerprint")
    _check_json_dict(s, "extra")


# ---- rows <-> samples ---------------------------------------------------------------------


def _opt(convert: Callable[[Any], Any], v: Any) -> Any:
    return None if v is None else convert(v)


def _sample_row(s: Sample, now: float) -> tuple:
    """The row of ``s`` in _SAMPLE_COLUMNS order (schema 1 takes the first len(_V1_COLUMNS))."""
    created = float(s.created_at) if s.created_at is not None else now
    return (s.arch_key, s.genotype_json, *(int(s.config[k]) for k in CONFIG_KEYS), s.backend,
            s.fingerprint_id, _opt(float, s.latency_ms), _opt(float, s.median_ms), _opt(float, s.p90_ms),
            _opt(float, s.cv), _opt(int, s.rounds), _opt(int, s.reps), _opt(float, s.round_spread),
            _opt(lambda v: int(bool(v)), s.noisy), s.kind, canonical_json(s.extra), created,
            _opt(float, s.peak_memory_mb), _opt(float, s.energy_mj))


def _row_sample(row: sqlite3.Row) -> Sample:
    return Sample(
        genotype_json=row["genotype_json"], config={k: row[k] for k in CONFIG_KEYS},
        backend=row["backend"], latency_ms=row["latency_ms"], median_ms=row["median_ms"],
        p90_ms=row["p90_ms"], cv=row["cv"], rounds=row["rounds"], reps=row["reps"],
        round_spread=row["round_spread"], noisy=_opt(bool, row["noisy"]), fingerprint=json.loads(row["json"]),
        kind=row["kind"], extra=json.loads(row["extra"]), id=row["id"], created_at=row["created_at"],
        peak_memory_mb=row["peak_memory_mb"], energy_mj=row["energy_mj"],
    )


def _needs_v2(s: Sample) -> bool:
    """A sample schema 1 cannot hold: untimed, or carrying a metric beside latency."""
    return s.latency_ms is None or s.peak_memory_mb is not None or s.energy_mj is not None


def _device_entry(row: sqlite3.Row) -> dict:
    fp = json.loads(row[3])
    return {"fingerprint_id": row[0], "device": fp.get("device", "unknown"), "backend": row[1],
            "samples": row[2]}


def _where(backend: str | None, fingerprint_id: str | None, kind: str | None,
           prefix: str = "", measured: str | None = None) -> tuple[str, list]:
    """A WHERE clause filtering on the given (non-None) columns, and its parameters; ``measured``:
    a column expression that must not be NULL (the metric a caller reads)."""
    terms = {"backend": backend, "fingerprint_id": fingerprint_id, "kind": kind}
    used = [(prefix + name, v) for name, v in terms.items() if v is not None]
    clauses = [f"{name} = ?" for name, _ in used] + ([f"{measured} IS NOT NULL"] if measured else [])
    if not clauses:
        return "", []
    return " WHERE " + " AND ".join(clauses), [v for _, v in used]


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
        self.version = SCHEMA_VERSION  # the file's schema, read on open
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
        if version not in READABLE_VERSIONS:
            raise ProfileStoreError(f"{self.path} uses an old profile schema ({version} < "
                                    f"{SCHEMA_VERSION}) that this gnnlat cannot read; re-profile")
        self.version = version

    def _column(self, metric: str | None) -> str | None:
        """The column expression of ``metric`` in this file ("NULL" for a metric schema 1 lacks;
        None for ``metric=None``, any sample)."""
        if metric is None:
            return None
        column = metric_column(metric)
        return "NULL" if self.version < 2 and column in _NEW_COLUMNS else column

    # ---- migration ----------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring a schema-1 file to schema 2 in one transaction (every sample kept, ids included);
        returns the samples carried over (0 when the file is already current)."""
        if self.version >= SCHEMA_VERSION:
            return 0
        cols = ", ".join(_V1_COLUMNS)
        with self._errors():
            self._conn.execute("PRAGMA foreign_keys = OFF")  # the table is rebuilt under its children
            try:
                with self._transaction():
                    before = self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                    self._conn.execute(_SAMPLES_TABLE.format(name="samples_v2"))
                    self._conn.execute(f"INSERT INTO samples_v2(id, {cols}) SELECT id, {cols} FROM samples")
                    after = self._conn.execute("SELECT COUNT(*) FROM samples_v2").fetchone()[0]
                    if after != before:
                        raise ProfileStoreError(f"migrating {self.path} copied {after} of {before} samples; "
                                                "the file is left as it was")
                    self._conn.execute("DROP TABLE samples")
                    self._conn.execute("ALTER TABLE samples_v2 RENAME TO samples")
                    for stmt in _INDEXES:
                        self._conn.execute(stmt)
                    self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                                       (str(SCHEMA_VERSION),))
                    self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                self._conn.execute("PRAGMA foreign_keys = ON")
        self.version = SCHEMA_VERSION
        return before

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
        A timed primary whose architecture already has an untimed primary on its device (a memory
        profile of the same file) fills in that sample's timing instead, so the timing is not lost.

        Every sample is validated first: one bad sample raises ValueError and nothing is written.
        """
        samples = list(samples)
        self._validate(samples)
        if self.version < 2 and any(_needs_v2(s) for s in samples):
            self.migrate()
        columns = _SAMPLE_COLUMNS if self.version >= 2 else _V1_COLUMNS
        insert, now = _insert_sql(columns), time.time()
        inserted = 0
        timing = ", ".join(f"{c} = ?" for c in TIMING_COLUMNS)
        fill = (f"UPDATE samples SET {timing}, extra = json_patch(extra, ?) WHERE kind = 'primary' AND arch_key = ? "
                "AND backend = ? AND fingerprint_id = ? AND latency_ms IS NULL")
        with self._errors(), self._transaction():
            self._add_fingerprints(samples)
            for s in samples:
                if self.version >= 2 and s.kind == "primary" and s.timed:
                    row = _sample_row(s, now)
                    values = row[_V1_COLUMNS.index("latency_ms"):_V1_COLUMNS.index("noisy") + 1]
                    if self._conn.execute(fill, (*values, row[_V1_COLUMNS.index("extra")], s.arch_key, s.backend,
                                                 s.fingerprint_id)).rowcount:
                        inserted += 1
                        continue
                inserted += self._conn.execute(insert, _sample_row(s, now)[:len(columns)]).rowcount
        return inserted

    def add_metric(self, samples: Sequence[Sample], metric: str) -> int:
        """Store measurements of one non-latency ``metric`` in one transaction: a primary fills in the
        metric of the architecture's stored primary on its device when that one lacks it, else it is
        inserted (an untimed sample); repeats are inserted. Returns the samples stored or filled in."""
        column = metric_column(metric)
        if column == "latency_ms":
            raise ValueError("latency samples are stored with add()")
        samples = list(samples)
        self._validate(samples)
        if any(s.value(metric) is None for s in samples):
            raise ValueError(f"every sample must carry {column}")
        self.migrate()
        insert, now, stored = _insert_sql(_SAMPLE_COLUMNS), time.time(), 0
        fill = (f"UPDATE samples SET {column} = ?, extra = json_patch(extra, ?) WHERE kind = 'primary' "
                f"AND arch_key = ? AND backend = ? AND fingerprint_id = ? AND {column} IS NULL")
        with self._errors(), self._transaction():
            self._add_fingerprints(samples)
            for s in samples:
                if s.kind == "primary" and self._conn.execute(
                        fill, (s.value(metric), canonical_json(s.extra), s.arch_key, s.backend,
                               s.fingerprint_id)).rowcount:
                    stored += 1
                    continue
                stored += self._conn.execute(insert, _sample_row(s, now)).rowcount
        return stored

    def _validate(self, samples: list[Sample]) -> None:
        for i, s in enumerate(samples):
            try:
                validate_sample(s)
            except ValueError as e:
                raise ValueError(f"sample {i}: {e}") from None

    def _add_fingerprints(self, samples: list[Sample]) -> None:
        fps = {s.fingerprint_id: canonical_json(s.fingerprint) for s in samples}
        self._conn.executemany("INSERT OR IGNORE INTO fingerprints(id, json) VALUES (?, ?)", fps.items())

    # ---- reading ------------------------------------------------------------------------

    # Every reader takes ``metric`` (a key of METRICS, default latency; count and samples also None,
    # any sample): it sees the samples that carry that metric, so latency code never meets a
    # memory-only sample.

    def primary_keys(self, backend: str | None = None, fingerprint_id: str | None = None,
                     metric: str = "latency") -> set[str]:
        """Arch keys that already have a primary sample with ``metric`` (for resuming a run)."""
        where, params = _where(backend, fingerprint_id, "primary", measured=self._column(metric))
        return {r[0] for r in self._query("SELECT arch_key FROM samples" + where, params)}

    def count(self, backend: str | None = None, fingerprint_id: str | None = None,
              kind: str | None = "primary", metric: str | None = "latency") -> int:
        """Number of samples matching the filters (``kind=None``: primaries and repeats)."""
        where, params = _where(backend, fingerprint_id, kind, measured=self._column(metric))
        return self._query("SELECT COUNT(*) FROM samples" + where, params)[0][0]

    def samples(self, backend: str | None = None, fingerprint_id: str | None = None,
                kind: str | None = "primary", metric: str | None = "latency") -> list[Sample]:
        """Samples matching the filters, in insertion (id) order."""
        col = self._column(metric)
        where, params = _where(backend, fingerprint_id, kind, prefix="s.", measured=col and f"s.{col}")
        rows = self._query(_select_sql(self.version) + where + " ORDER BY s.id", params)
        return self._decode(_row_sample, rows)

    def repeat_counts(self, backend: str | None = None, fingerprint_id: str | None = None,
                      metric: str = "latency") -> dict[str, int]:
        """Repeats stored per arch key (architectures without one are absent)."""
        where, params = _where(backend, fingerprint_id, "repeat", measured=self._column(metric))
        rows = self._query("SELECT arch_key, COUNT(*) FROM samples" + where + " GROUP BY arch_key", params)
        return {r[0]: r[1] for r in rows}

    def fingerprints(self) -> dict[str, dict]:
        """All device fingerprints by id."""
        rows = self._query("SELECT id, json FROM fingerprints")
        return dict(self._decode(lambda r: (r["id"], json.loads(r["json"])), rows))

    def noise_floor(self, backend: str | None = None, fingerprint_id: str | None = None,
                    metric: str = "latency") -> dict:
        """Relative repeat-vs-primary difference of ``metric``: ``{"n", "median", "p90"}`` (None when n = 0)."""
        col = self._column(metric)
        if col == "NULL":
            return {"n": 0, "median": None, "p90": None}
        where, params = _where(backend, fingerprint_id, "repeat", prefix="r.", measured=f"r.{col}")
        rows = self._query(
            f"SELECT ABS(r.{col} - p.{col}) / p.{col} FROM samples r "
            "JOIN samples p ON p.kind = 'primary' AND p.arch_key = r.arch_key "
            f"AND p.backend = r.backend AND p.fingerprint_id = r.fingerprint_id AND p.{col} IS NOT NULL"
            + where, params)
        diffs = [r[0] for r in rows]
        if not diffs:
            return {"n": 0, "median": None, "p90": None}
        return {"n": len(diffs), "median": float(np.median(diffs)),
                "p90": float(np.percentile(diffs, 90))}

    def summary(self) -> dict:
        """Overview of the file: counts, backends, devices, config ranges, latencies, noise."""
        return {
            "path": str(self.path),
            "schema_version": self.version,
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
            "metrics": self._metric_summary(),
        }

    def _metric_summary(self) -> dict[str, dict]:
        """Per metric other than latency that the file holds: samples, repeats, range, noise floor."""
        out = {}
        for metric in METRICS:
            col = self._column(metric)
            if metric == "latency" or col == "NULL":
                continue
            values = [r[0] for r in self._query(f"SELECT {col} FROM samples WHERE kind = 'primary' "
                                                f"AND {col} IS NOT NULL")]
            if values:
                out[metric] = {"unit": UNITS[metric], "samples": len(values),
                               "repeats": self.count(kind="repeat", metric=metric),
                               "min": min(values), "median": statistics.median(values), "max": max(values),
                               "noise_floor": self.noise_floor(metric=metric)}
        return out

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
        values = [r[0] for r in self._query("SELECT latency_ms FROM samples WHERE kind = 'primary' "
                                            "AND latency_ms IS NOT NULL")]
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

"""Genotype: a discrete DARTS cell pair, its validation, serialisation and sampling.

A cell with ``steps`` intermediate nodes is a list of ``2 * steps`` (op, input)
pairs; pair ``2i`` and ``2i + 1`` feed node ``i + 2``. Inputs 0 and 1 are the
cell inputs (outputs of cells k-2 and k-1), 2.. the intermediate nodes.
"""
from __future__ import annotations

import ast
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from gnnlat.errors import GnnlatError
from gnnlat.operations import ALL_OPS, PRIMITIVES

Pair = tuple[str, int]


class GenotypeError(GnnlatError, ValueError):
    """A genotype that is malformed or outside the search space."""


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Pair, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Pair, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("normal", "reduce"):
            object.__setattr__(self, name, _as_pairs(getattr(self, name), name))
        for name in ("normal_concat", "reduce_concat"):
            object.__setattr__(self, name, _as_ints(getattr(self, name), name))
        self.validate()

    # ---- structure -------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Intermediate nodes per cell (normal and reduce may differ; this is the normal one)."""
        return len(self.normal) // 2

    def cell(self, reduction: bool) -> tuple[tuple[Pair, ...], tuple[int, ...]]:
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)

    def validate(self) -> None:
        for kind in ("normal", "reduce"):
            pairs, concat = self.cell(kind == "reduce")
            _validate_cell(kind, pairs, concat)

    # ---- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "normal": [[op, i] for op, i in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, i] for op, i in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self) -> str:
        """Canonical JSON (stable key order, no spaces): also the profile store's key."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> "Genotype":
        if not isinstance(data, dict):
            raise GenotypeError("a genotype must be a JSON object with keys normal, normal_concat, "
                                "reduce, reduce_concat")
        missing = [k for k in ("normal", "reduce") if k not in data]
        if missing:
            raise GenotypeError(f"genotype is missing key(s): {', '.join(missing)}")
        unknown = set(data) - {"normal", "normal_concat", "reduce", "reduce_concat"}
        if unknown:
            raise GenotypeError(f"genotype has unknown key(s): {', '.join(sorted(unknown))}")
        normal, reduce = data["normal"], data["reduce"]
        return cls(
            normal=normal,
            normal_concat=data.get("normal_concat", _default_concat(normal)),
            reduce=reduce,
            reduce_concat=data.get("reduce_concat", _default_concat(reduce)),
        )

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenotypeError(f"genotype is not valid JSON: {exc}") from None
        except RecursionError:
            raise GenotypeError("genotype JSON is nested too deeply") from None
        return cls.from_dict(data)

    def to_darts(self) -> str:
        """The DARTS text form: ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)``."""
        def pairs(ps: Sequence[Pair]) -> str:
            return "[" + ", ".join(f"({op!r}, {i})" for op, i in ps) + "]"

        def concat(c: Sequence[int]) -> str:
            if list(c) == list(range(c[0], c[0] + len(c))):
                return f"range({c[0]}, {c[0] + len(c)})"
            return "[" + ", ".join(str(i) for i in c) + "]"

        return (f"Genotype(normal={pairs(self.normal)}, normal_concat={concat(self.normal_concat)}, "
                f"reduce={pairs(self.reduce)}, reduce_concat={concat(self.reduce_concat)})")

    @classmethod
    def from_darts(cls, text: str) -> "Genotype":
        """Parse the DARTS text form without evaluating it (only literals and range(a, b))."""
        return cls.from_dict(_parse_darts_text(text))

    def __str__(self) -> str:
        return self.to_darts()


def _default_concat(pairs: Any) -> list[int]:
    steps = len(pairs) // 2 if isinstance(pairs, (list, tuple)) else 0
    return list(range(2, 2 + steps))


def _as_pairs(value: Any, name: str) -> tuple[Pair, ...]:
    if not isinstance(value, (list, tuple)):
        raise GenotypeError(f"{name}: expected a list of [op, input] pairs, got {type(value).__name__}")
    out = []
    for k, pair in enumerate(value):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str)
                or isinstance(pair[1], bool) or not isinstance(pair[1], int)):
            raise GenotypeError(f"{name}[{k}]: expected [op_name, input_index], got {pair!r}")
        out.append((pair[0], int(pair[1])))
    return tuple(out)


def _as_ints(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, range):
        value = list(value)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise GenotypeError(f"{name}: expected a list of node indices, got {value!r}")
    return tuple(int(v) for v in value)


def _validate_cell(kind: str, pairs: Sequence[Pair], concat: Sequence[int]) -> None:
    if len(pairs) == 0 or len(pairs) % 2:
        raise GenotypeError(f"{kind}: need 2 (op, input) pairs per intermediate node, "
                            f"got {len(pairs)} pair(s)")
    for k, (op, inp) in enumerate(pairs):
        node = k // 2 + 2
        if op not in ALL_OPS:
            raise GenotypeError(f"{kind}[{k}]: unknown op {op!r}; known: {', '.join(ALL_OPS)}")
        if op == "none":
            raise GenotypeError(f"{kind}[{k}]: 'none' is not allowed in a derived cell")
        if not 0 <= inp < node:
            raise GenotypeError(f"{kind}[{k}]: input {inp} out of range for node {node} "
                                f"(allowed 0..{node - 1})")
    n_nodes = len(pairs) // 2 + 2
    if not concat:
        raise GenotypeError(f"{kind}_concat: must name at least one node")
    if len(set(concat)) != len(concat):
        raise GenotypeError(f"{kind}_concat: repeated node in {list(concat)}")
    for c in concat:
        if not 2 <= c < n_nodes:
            raise GenotypeError(f"{kind}_concat: node {c} out of range (allowed 2..{n_nodes - 1})")


# ---- DARTS text form ----------------------------------------------------------------
def _parse_darts_text(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise GenotypeError(f"DARTS text form must be a string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise GenotypeError(f"not a DARTS genotype expression: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. null bytes on Python 3.10
        raise GenotypeError(f"not a DARTS genotype expression: {exc}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise GenotypeError("DARTS text form must be a single Genotype(...) expression")
    if call.args:
        raise GenotypeError("Genotype(...) must use keyword arguments (normal=..., reduce=...)")
    data: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise GenotypeError("Genotype(...) must not use **kwargs")
        if kw.arg in data:
            # ast.parse accepts repeated keywords; silently keeping the last would hide a typo.
            raise GenotypeError(f"Genotype(...) repeats keyword {kw.arg!r}")
        data[kw.arg] = _literal(kw.value, kw.arg)
    return data


def _literal(node: ast.AST, where: str) -> Any:
    """Only constants, lists, tuples and range(a, b[, s]) with int literals are accepted."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return node.value
    # A negative index is a literal too; keep it so validation can say "out of range".
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int) and not isinstance(node.operand.value, bool)):
        return -node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, where) for e in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        args = [_literal(a, where) for a in node.args]
        if node.keywords or not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
            raise GenotypeError(f"{where}: range() takes 1 to 3 integer literals")
        try:
            rng = range(*args)
            too_long = len(rng) > 64
        except (ValueError, OverflowError):  # step 0, or a length beyond sys.maxsize
            raise GenotypeError(f"{where}: invalid range{tuple(args)}") from None
        if too_long:
            raise GenotypeError(f"{where}: range too long (at most 64 nodes)")
        return list(rng)
    raise GenotypeError(f"{where}: only literals and range(a, b) are allowed in a genotype, "
                        f"found {type(node).__name__}")


def load_genotype(source: str) -> Genotype:
    """Read a genotype from a JSON/DARTS-text file path, or parse the string itself.

    An existing file wins; otherwise text that starts like a genotype (``{`` or
    ``Genotype``) is parsed, and anything else is reported as a missing file.
    """
    if not isinstance(source, str):
        raise GenotypeError(f"genotype source must be a path or text, got {type(source).__name__}")
    if _is_file(source):
        try:
            text = Path(source).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise GenotypeError(f"cannot read genotype file {source}: {exc}") from None
        return _parse_text(text, f"genotype file {source}")
    if source.lstrip().startswith(("{", "Genotype")):
        return _parse_text(source, "genotype text")
    if not source.strip():
        raise GenotypeError("genotype text is empty")
    raise GenotypeError(f"no such genotype file: {source}")


def _is_file(source: str) -> bool:
    # Long or multi-line strings are genotype text, never paths.
    if len(source) >= 4096 or "\n" in source or not source.strip():
        return False
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # e.g. a null byte or an over-long name
        return False


def _parse_text(text: str, what: str) -> Genotype:
    stripped = text.strip()
    if not stripped:
        raise GenotypeError(f"{what} is empty")
    if stripped.startswith("{"):
        return Genotype.from_json(stripped)
    return Genotype.from_darts(stripped)


# ---- sampling --------------------------------------------------------------------------
def random_genotype(rng: random.Random, steps: int = 4,
                    ops: Iterable[str] = tuple(p for p in PRIMITIVES if p != "none")) -> Genotype:
    """Uniform over the DARTS derivation rule: each node takes 2 distinct predecessors, a
    non-`none` op on each."""
    ops = tuple(ops)

    def cell() -> list[Pair]:
        pairs: list[Pair] = []
        for i in range(steps):
            for inp in sorted(rng.sample(range(i + 2), 2)):
                pairs.append((rng.choice(ops), inp))
        return pairs

    concat = list(range(2, 2 + steps))
    return Genotype(normal=cell(), normal_concat=concat, reduce=cell(), reduce_concat=concat)


def sample_genotypes(seed: int, n: int, steps: int = 4) -> list[Genotype]:
    rng = random.Random(seed)
    return [random_genotype(rng, steps) for _ in range(n)]

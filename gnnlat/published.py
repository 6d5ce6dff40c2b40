"""Published cells (DARTS V1/V2, NASNet, AmoebaNet), from the papers' released genotypes.

They are data, kept in ``shipped_data/published.json`` (package data, read through
:mod:`importlib.resources`) and validated as genotypes when this module loads.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from gnnlat.genotype import Genotype, GenotypeError, load_genotype
from gnnlat.reference_cells import REFERENCE_CELLS


def _load() -> dict[str, Genotype]:
    text = resources.files("gnnlat").joinpath("shipped_data", "published.json").read_text(encoding="utf-8")
    return {name: Genotype.from_dict(cell) for name, cell in json.loads(text).items()}


_CELLS = _load()
DARTS_V1 = _CELLS["DARTS_V1"]
DARTS_V2 = _CELLS["DARTS_V2"]  # DARTS (second order), the cell behind the paper's 2.76% / 3.3M CIFAR-10 result
NASNET = _CELLS["NASNet"]
AMOEBANET = _CELLS["AmoebaNet"]

PUBLISHED: dict[str, Genotype] = {**_CELLS, "DARTS": DARTS_V2}
# Every cell a command accepts by name: the published ones and the reference cells.
NAMED_CELLS: dict[str, Genotype] = {**PUBLISHED, **REFERENCE_CELLS}


def load_genotype_or_name(source: str) -> Genotype:
    """A genotype from a file or text (:func:`gnnlat.genotype.load_genotype`), or a cell of
    :data:`NAMED_CELLS` by name, case-insensitive (``darts_v2``, ``all_skip``): an existing file of
    that name wins."""
    by_name = {name.lower(): cell for name, cell in NAMED_CELLS.items()}
    if isinstance(source, str) and source.strip().lower() in by_name and not Path(source).is_file():
        return by_name[source.strip().lower()]
    try:
        return load_genotype(source)
    except GenotypeError as exc:
        if str(exc).startswith("no such genotype file"):
            raise GenotypeError(f"{exc} (nor a named cell: {', '.join(sorted(by_name))})") from None
        raise

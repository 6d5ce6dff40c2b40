"""Published cells (DARTS V1/V2, NASNet, AmoebaNet), from the papers' released genotypes.

They are data, kept in ``shipped_data/published.json`` (package data, read through
:mod:`importlib.resources`) and validated as genotypes when this module loads.
"""
from __future__ import annotations

import json
from importlib import resources

from gnnlat.genotype import Genotype


def _load() -> dict[str, Genotype]:
    text = resources.files("gnnlat").joinpath("shipped_data", "published.json").read_text(encoding="utf-8")
    return {name: Genotype.from_dict(cell) for name, cell in json.loads(text).items()}


_CELLS = _load()
DARTS_V1 = _CELLS["DARTS_V1"]
DARTS_V2 = _CELLS["DARTS_V2"]  # DARTS (second order), the cell behind the paper's 2.76% / 3.3M CIFAR-10 result
NASNET = _CELLS["NASNet"]
AMOEBANET = _CELLS["AmoebaNet"]

PUBLISHED: dict[str, Genotype] = {**_CELLS, "DARTS": DARTS_V2}

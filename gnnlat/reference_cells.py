"""Reference cells that bound a search from below: cells that do nothing, or only pool.

A search's accuracy claim means something only against cells like these, retrained with the
same protocol: ``all_skip`` (no spatial operation after the stem), ``pools_only`` (receptive
field without learned spatial filters) and ``all_sep_conv_5x5`` (the slowest uniform cell).
"""
from __future__ import annotations

from gnnlat.genotype import Genotype

STEPS = 4


def uniform_cell(normal_ops: tuple[str, str], reduce_ops: tuple[str, str]) -> Genotype:
    """A ladder cell, in both the normal and the reduction cell: node i (state i+2) sums ``ops[0]``
    on state max(i-1, 0) and ``ops[1]`` on state i+1, the node before it, so every state is used."""
    def cell(ops: tuple[str, str]) -> list[tuple[str, int]]:
        return [pair for i in range(STEPS) for pair in ((ops[0], max(i - 1, 0)), (ops[1], i + 1))]

    concat = list(range(2, 2 + STEPS))
    return Genotype(normal=cell(normal_ops), normal_concat=concat, reduce=cell(reduce_ops), reduce_concat=concat)


POOLS = ("max_pool_3x3", "avg_pool_3x3")

REFERENCE_CELLS: dict[str, Genotype] = {
    "all_skip": uniform_cell(("skip_connect",) * 2, ("skip_connect",) * 2),
    "pools_only": uniform_cell(POOLS, POOLS),
    "all_sep_conv_5x5": uniform_cell(("sep_conv_5x5",) * 2, ("sep_conv_5x5",) * 2),
}

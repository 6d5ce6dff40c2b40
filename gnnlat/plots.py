"""Figures: the accuracy/latency trade-off of a sweep, and predicted vs measured latency.

matplotlib is imported inside the functions (Agg backend), so nothing else pays for it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gnnlat.sweep import pareto_front


def new_figure(size: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def save_figure(fig, ax, xlabel: str, ylabel: str, path: str) -> None:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pareto(summary: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], path: str,
                baselines: Sequence[dict[str, Any]] = ()) -> None:
    """Measured latency vs test accuracy: every run, the per-λ means, their Pareto front, and the
    sweep's baseline cells (mean ± std over the same seeds)."""
    fig, ax = new_figure((6, 4.2))
    if baselines:
        ax.errorbar([b["measured_ms"] for b in baselines], [100 * b["test_acc"] for b in baselines],
                    xerr=[b["measured_ms_std"] for b in baselines], yerr=[100 * b["test_acc_std"] for b in baselines],
                    fmt="s", color="tab:green", label="baselines")
        for b in baselines:
            ax.annotate(b["baseline"], (b["measured_ms"], 100 * b["test_acc"]), textcoords="offset points",
                        xytext=(5, -10), fontsize=7)
    ax.scatter([r["measured_ms"] for r in rows], [100 * r["test_acc"] for r in rows], s=14, alpha=0.4,
               color="tab:gray", label="runs")
    ax.errorbar([s["measured_ms"] for s in summary], [100 * s["test_acc"] for s in summary],
                xerr=[s["measured_ms_std"] for s in summary], yerr=[100 * s["test_acc_std"] for s in summary],
                fmt="o", color="tab:blue", label="mean ± std over seeds")
    for s in summary:
        ax.annotate(f"λ={s['lam']:g}", (s["measured_ms"], 100 * s["test_acc"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    front = pareto_front(summary)
    # Markers too: a front of one point (one λ dominating the rest) is no visible line.
    ax.plot([s["measured_ms"] for s in front], [100 * s["test_acc"] for s in front], "--D", color="tab:red",
            markerfacecolor="none", markersize=10, label="Pareto front")
    save_figure(fig, ax, "measured latency (ms)", "test accuracy (%)", path)


def plot_predictions(true: np.ndarray, gnn: np.ndarray, baseline: np.ndarray, path: str) -> None:
    """Predicted vs measured on log axes, with the ±10% band."""
    fig, ax = new_figure((5, 5))
    ax.scatter(true, baseline, s=6, alpha=0.35, color="tab:gray", label="op-count baseline")
    ax.scatter(true, gnn, s=6, alpha=0.6, color="tab:blue", label="GNN")
    lo, hi = float(min(true.min(), gnn.min())) * 0.9, float(max(true.max(), gnn.max())) * 1.1
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="k", alpha=0.08, label="±10%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    save_figure(fig, ax, "measured latency (ms)", "predicted latency (ms)", path)


def plot_two_costs(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Measured latency vs measured peak memory, one point per run, labelled with its weights
    (λ for latency, λ_mem for memory) and test accuracy: the two-cost trade-off of a sweep."""
    fig, ax = new_figure((6, 4.2))
    groups: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["lam"], r.get("lam_memory", 0.0)), []).append(r)
    for (lam, lam_mem), rs in sorted(groups.items()):
        ax.scatter([r["measured_ms"] for r in rs], [r["peak_memory_mb"] for r in rs], s=24,
                   label=f"λ={lam:g}, λ_mem={lam_mem:g}")
        for r in rs:
            ax.annotate(f"{100 * r['test_acc']:.1f}%", (r["measured_ms"], r["peak_memory_mb"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    save_figure(fig, ax, "measured latency (ms)", "measured peak memory (MB)", path)

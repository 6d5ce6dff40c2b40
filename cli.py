"""gnnlat command line: parse, call the library, print (text, or one JSON object with --json)."""
from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections import Counter
from typing import Any, Callable

import click

from gnnlat.genotype import Genotype, GenotypeError, load_genotype
from gnnlat.network import NetworkConfig, SEARCH_CONFIG
from harness.store import ProfileStoreError

# Errors the library raises for bad input; the CLI turns them into a message and exit status 1.
USER_ERRORS: tuple[type[BaseException], ...] = (GenotypeError, ProfileStoreError, ValueError, FileNotFoundError,
                                                 PermissionError, IsADirectoryError, sqlite3.Error,
                                                 RuntimeError, OSError)


def handle_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; stored results are kept and the command resumes where it stopped",
                       err=True)
            sys.exit(130)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc) or type(exc).__name__) from None
    return wrapper


def config_options(fn: Callable) -> Callable:
    """--C --layers --in-channels --resolution --batch --classes (defaults: DARTS search config)."""
    d = SEARCH_CONFIG
    opts = [
        click.option("--C", "C", type=int, default=None, show_default=f"{d.C}", help="initial channels"),
        click.option("--layers", type=int, default=None, show_default=f"{d.layers}", help="cells"),
        click.option("--in-channels", type=int, default=None, show_default=f"{d.in_channels}"),
        click.option("--resolution", type=int, default=None, show_default=f"{d.resolution}"),
        click.option("--batch", type=int, default=None, show_default=f"{d.batch}"),
        click.option("--classes", type=int, default=None, show_default=f"{d.classes}"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def make_config(base: NetworkConfig = SEARCH_CONFIG, **given: Any) -> NetworkConfig:
    keys = ("C", "layers", "in_channels", "resolution", "batch", "classes")
    values = {k: given[k] if given.get(k) is not None else getattr(base, k) for k in keys}
    return NetworkConfig(**values)


def pop_config(kwargs: dict, base: NetworkConfig = SEARCH_CONFIG) -> NetworkConfig:
    keys = ("C", "layers", "in_channels", "resolution", "batch", "classes")
    return make_config(base, **{k: kwargs.pop(k) for k in keys})


def emit(as_json: bool, payload: dict, text: str) -> None:
    click.echo(json.dumps(payload, default=float) if as_json else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Latency-aware differentiable NAS with a compact GNN latency predictor."""


# ---------------------------------------------------------------------------- describe
@main.command()
@click.argument("genotype")
@config_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@handle_errors
def describe(genotype: str, as_json: bool, **kwargs: Any) -> None:
    """Parameters, MACs and op counts of the discrete network for GENOTYPE (JSON file, DARTS text
    file, or the text itself). Defaults: the DARTS CIFAR-10 evaluation network (C=36, 20 layers)."""
    from gnnlat.network import EVAL_CONFIG, Network, count_macs, count_parameters

    g = load_genotype(genotype)
    config = pop_config(kwargs, EVAL_CONFIG)
    net = Network(g, config)
    params = count_parameters(net)
    macs = count_macs(net, net.example_input()[:1])
    counts = {"normal": dict(Counter(op for op, _ in g.normal)),
              "reduce": dict(Counter(op for op, _ in g.reduce))}
    payload = {"genotype": g.to_dict(), "config": config.to_dict(), "params": params,
               "params_m": params / 1e6, "macs_m": macs / 1e6, "op_counts": counts}
    lines = [f"config      {config.to_dict()}", f"parameters  {params / 1e6:.3f} M",
             f"MACs        {macs / 1e6:.1f} M (per image)"]
    for kind in ("normal", "reduce"):
        lines.append(f"{kind:<11} " + ", ".join(f"{op}×{n}" for op, n in sorted(counts[kind].items())))
    emit(as_json, payload, "\n".join(lines))


# ---------------------------------------------------------------------------- harness
BACKEND_CHOICE = click.Choice(["auto", "triton", "cpu", "onnxruntime"])


def timer_settings(backend: str, rounds: int | None, round_ms: float | None):
    """Backend defaults, with --rounds / --round-ms applied when given."""
    from dataclasses import replace

    from harness.timers import TimerSettings, TritonTimer, resolve_backend

    base = TritonTimer.default_settings if resolve_backend(backend) == "triton" else TimerSettings()
    changes = {k: v for k, v in (("rounds", rounds), ("round_ms", round_ms)) if v is not None}
    return replace(base, **changes)


def _timing_text(t: dict) -> str:
    return (f"latency {t['latency_ms']:.3f} ms (min of {t['rounds']} interleaved rounds)  "
            f"median {t['median_ms']:.3f}  p90 {t['p90_ms']:.3f}  cv {t['cv']:.3f}"
            + ("  NOISY" if t["noisy"] else ""))


@main.command()
@click.option("--n", "n", type=int, required=True, help="primary samples the profile should hold")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="profile store (SQLite)")
@click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@config_options
@click.option("--vary-config", is_flag=True, help="sample C, layers, resolution and batch too")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--repeat-frac", type=float, default=0.05, show_default=True,
              help="share of architectures re-timed later in the run (noise floor)")
@click.option("--rounds", type=int, default=None, help="interleaved rounds per architecture [5]")
@click.option("--round-ms", type=float, default=None, help="timed work per architecture per round [100]")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def profile(n: int, out: str, backend: str, seed: int, vary_config: bool, threads: int,
            repeat_frac: float, rounds: int | None, round_ms: float | None, as_json: bool,
            **kwargs: Any) -> None:
    """Time randomly sampled architectures into a profile store; re-running resumes."""
    from tqdm import tqdm

    from harness.profile import ProfileConfig, ProfileStats, run_profile
    from harness.timers import make_timer

    cfg = ProfileConfig(n=n, out=out, seed=seed, config=pop_config(kwargs), vary_config=vary_config,
                        repeat_frac=repeat_frac)
    timer = make_timer(backend, threads, timer_settings(backend, rounds, round_ms))
    stats = ProfileStats()
    with tqdm(total=n, desc=f"profile {timer.backend}", unit="arch", file=sys.stderr,
              disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        summary = run_profile(cfg, timer, progress, stats)
    nf = summary["noise_floor"]
    text = (f"{out}: {summary['samples']} samples ({summary['unique_architectures']} unique), "
            f"{summary['repeats']} repeats; throughput {summary['archs_per_hour']:.0f} arch/h this run, "
            f"overhead {summary['overhead_frac']:.0%} of wall time; noise floor "
            + (f"median {nf['median']:.2%}, p90 {nf['p90']:.2%} (n={nf['n']})" if nf["n"] else "n/a (no repeats yet)"))
    emit(as_json, summary, text)


@main.command()
@click.argument("genotype")
@click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True)
@config_options
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--rounds", type=int, default=None, help="interleaved rounds [5]")
@click.option("--round-ms", type=float, default=None, help="timed work per round [100]")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def measure(genotype: str, backend: str, threads: int, rounds: int | None, round_ms: float | None,
            as_json: bool, **kwargs: Any) -> None:
    """Time one architecture with the harness and print the sample."""
    from gnnlat.measure import measure_latency

    g = load_genotype(genotype)
    config = pop_config(kwargs)
    t = measure_latency(g, config, backend, threads, timer_settings(backend, rounds, round_ms))
    emit(as_json, {**t, "config": config.to_dict()}, f"{t['backend']}: " + _timing_text(t))


@main.command()
@click.argument("profile_path", metavar="PROFILE", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def info(profile_path: str, as_json: bool) -> None:
    """Samples, architectures, devices, config ranges, latency range and noise floor of a profile."""
    from harness.store import ProfileStore

    with ProfileStore(profile_path, create=False) as store:
        s = store.summary()
    nf = s["noise_floor"]
    lat = s["latency_ms"]
    lines = [f"profile            {profile_path} (schema {s['schema_version']})",
             f"samples            {s['samples']} ({s['unique_architectures']} unique architectures), "
             f"{s['repeats']} repeats, {s['noisy']} flagged noisy",
             f"backends           {s['backends']}"]
    for d in s["devices"]:
        lines.append(f"device             {d['fingerprint_id']}  {d['backend']:<12} {d['device']}  ({d['samples']} samples)")
    for k, (lo, hi) in s["config_ranges"].items():
        lines.append(f"{k:<18} {lo}..{hi}")
    if lat:
        lines.append(f"latency ms         min {lat['min']:.3f}  median {lat['median']:.3f}  max {lat['max']:.3f}")
    lines.append("noise floor        " + (f"median {nf['median']:.2%}, p90 {nf['p90']:.2%} over {nf['n']} re-timed"
                                          if nf["n"] else "n/a (no repeats)"))
    emit(as_json, s, "\n".join(lines))


if __name__ == "__main__":
    main()

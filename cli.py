"""gnnlat command line: parse, call the library, print (text, or one JSON object with --json)."""
from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable

import click

from gnnlat.genotype import GenotypeError, load_genotype
from gnnlat.network import NetworkConfig, SEARCH_CONFIG
from harness.store import CONFIG_KEYS, ProfileStoreError

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
    values = {k: given[k] if given.get(k) is not None else getattr(base, k) for k in CONFIG_KEYS}
    return NetworkConfig(**values)


def pop_config(kwargs: dict, base: NetworkConfig = SEARCH_CONFIG) -> NetworkConfig:
    return make_config(base, **{k: kwargs.pop(k) for k in CONFIG_KEYS})


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


def timer_options(fn: Callable) -> Callable:
    """--backend --threads --rounds --round-ms: which timer, and how long it times each network."""
    opts = [
        click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True),
        click.option("--threads", type=int, default=1, show_default=True),
        click.option("--rounds", type=int, default=None, help="interleaved rounds per architecture [5]"),
        click.option("--round-ms", type=float, default=None, help="timed work per architecture per round [100]"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pop_timer_args(kwargs: dict) -> tuple[str, int, Any]:
    """(backend, threads, TimerSettings) from the options :func:`timer_options` added."""
    backend, rounds, round_ms = kwargs.pop("backend"), kwargs.pop("rounds"), kwargs.pop("round_ms")
    return backend, kwargs.pop("threads"), timer_settings(backend, rounds, round_ms)


@contextmanager
def progress_bar(desc: str, total: int | None = None):
    """A tqdm bar on stderr (hidden when stderr is not a terminal) as a ``progress(done, total)``
    callback, the form the harness loops report in."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="arch", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


def noise_text(nf: dict, missing: str = "n/a") -> str:
    """A profile's noise floor (``ProfileStore.noise_floor``) in one phrase."""
    return f"median {nf['median']:.2%}, p90 {nf['p90']:.2%} (n={nf['n']})" if nf["n"] else missing


def anchored_noise_text(summary: dict, path: str) -> str:
    """Adds the drift-corrected noise floor to ``summary``; a phrase for it when there is one."""
    from gnnlat.profiles import noise_floor

    nf = summary["anchored_noise_floor"] = noise_floor(path, labels="anchored")
    return f"; anchored noise floor {noise_text(nf)}" if nf["n"] else ""


anchor_option = click.option(
    "--anchor/--no-anchor", default=True, show_default=True,
    help="time DARTS V2 in every batch so drift can be divided out of the labels")


def _timing_text(t: dict) -> str:
    return (f"latency {t['latency_ms']:.3f} ms (min of {t['rounds']} interleaved rounds)  "
            f"median {t['median_ms']:.3f}  p90 {t['p90_ms']:.3f}  cv {t['cv']:.3f}"
            + ("  NOISY" if t["noisy"] else ""))


@main.command()
@click.option("--n", "n", type=int, required=True, help="primary samples the profile should hold")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="profile store (SQLite)")
@click.option("--seed", type=int, default=0, show_default=True)
@config_options
@click.option("--vary-config", is_flag=True, help="sample C, layers, resolution and batch too")
@click.option("--repeat-frac", type=float, default=0.05, show_default=True,
              help="share of architectures re-timed later in the run (noise floor)")
@anchor_option
@timer_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def profile(n: int, out: str, seed: int, vary_config: bool, repeat_frac: float, anchor: bool,
            as_json: bool, **kwargs: Any) -> None:
    """Time randomly sampled architectures into a profile store; re-running resumes."""
    from harness.profile import ProfileConfig, ProfileStats, run_profile
    from harness.timers import make_timer

    cfg = ProfileConfig(n=n, out=out, seed=seed, config=pop_config(kwargs), vary_config=vary_config,
                        repeat_frac=repeat_frac, anchor=anchor)
    timer = make_timer(*pop_timer_args(kwargs))
    stats = ProfileStats()
    with progress_bar(f"profile {timer.backend}", n) as progress:
        summary = run_profile(cfg, timer, progress, stats)
    text = (f"{out}: {summary['samples']} samples ({summary['unique_architectures']} unique), "
            f"{summary['repeats']} repeats; throughput {summary['archs_per_hour']:.0f} arch/h this run, "
            f"overhead {summary['overhead_frac']:.0%} of wall time; noise floor "
            + noise_text(summary["noise_floor"], "n/a (no repeats yet)") + anchored_noise_text(summary, out))
    emit(as_json, summary, text)


@main.command()
@click.option("--profile", "path", required=True, type=click.Path(dir_okay=False),
              help="profile store (SQLite) to re-time; it must exist")
@click.option("--times", type=int, default=1, show_default=True,
              help="repeats every selected architecture should have in the end")
@click.option("--part", type=click.Choice(["all", "fixed", "vary"]), default="all", show_default=True,
              help="fixed: architectures at the config given below; vary: all others")
@config_options
@anchor_option
@timer_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def retime(path: str, times: int, part: str, anchor: bool, as_json: bool, **kwargs: Any) -> None:
    """Time a profile's architectures again on this device, stored as repeats that the latency
    labels use (min or anchored). Re-running resumes; nothing is re-timed twice."""
    from harness.profile import ProfileStats
    from harness.retime import RetimeConfig, run_retime
    from harness.timers import make_timer

    cfg = RetimeConfig(path=path, times=times, part=part, config=pop_config(kwargs), anchor=anchor)
    timer = make_timer(*pop_timer_args(kwargs))
    stats = ProfileStats()
    with progress_bar(f"retime {timer.backend}") as progress:
        summary = run_retime(cfg, timer, progress, stats)
    text = (f"{path}: re-timed {summary['retimed']} of {summary['selected']} {part} architectures "
            f"({summary['repeats']} repeats in the file); noise floor " + noise_text(summary["noise_floor"])
            + anchored_noise_text(summary, path))
    emit(as_json, summary, text)


@main.command()
@click.argument("genotype")
@config_options
@timer_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def measure(genotype: str, as_json: bool, **kwargs: Any) -> None:
    """Time one architecture with the harness and print the sample."""
    from gnnlat.measure import measure_latency

    g = load_genotype(genotype)
    config = pop_config(kwargs)
    t = measure_latency(g, config, *pop_timer_args(kwargs))
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
    lines.append("noise floor        " + noise_text(s["noise_floor"], "n/a (no repeats)"))
    anchored_noise_text(s, profile_path)
    if s["anchored_noise_floor"]["n"]:
        lines.append("anchored noise     " + noise_text(s["anchored_noise_floor"]) + " (batch drift divided out)")
    emit(as_json, s, "\n".join(lines))


# ---------------------------------------------------------------------------- predictor
DEFAULT_PREDICTOR = "predictors/onnxruntime-reference.pt"


def _root_path(path: str) -> str:
    """Shipped files resolve against the repository, so commands work from any directory."""
    from pathlib import Path

    p = Path(path)
    if not p.is_absolute() and not p.exists():
        shipped = Path(__file__).resolve().parent / p
        if shipped.exists():
            return str(shipped)
    return str(p)


def _records(profiles: tuple[str, ...], backend: str | None, labels: str = "auto"):
    from gnnlat.profiles import load_records

    records = []
    for path in profiles:
        records += load_records(path, backend=backend, labels=labels)
    backends = {r.backend for r in records}
    if len(backends) > 1:
        raise click.ClickException(f"profiles mix backends {sorted(backends)}: pick one with --backend")
    return records


LABEL_CHOICE = click.Choice(["auto", "min", "anchored"])
labels_option = click.option(
    "--labels", type=LABEL_CHOICE, default="auto", show_default=True,
    help="latency labels: min over timings, or anchor-drift-corrected median; auto = anchored when "
         "every architecture has an anchored timing")


def _metric_line(name: str, m: dict) -> str:
    return (f"{name:<9} MAPE {m['mape']:6.2%}  ±5% {m['within_5']:6.1%}  ±10% {m['within_10']:6.1%}  "
            f"RMSE {m['rmse_ms']:.4f} ms  max {m['max_error']:6.1%}  τ {m['kendall_tau']:.3f}  ρ {m['spearman_rho']:.3f}")


@main.command("train-predictor")
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="profile store(s) to train on (repeatable)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
@click.option("--backend", default=None, help="use only samples of this backend")
@click.option("--epochs", type=int, default=None, help="training epochs [150]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-frac", type=float, default=0.2, show_default=True)
@click.option("--max-train", type=int, default=1000, show_default=True, help="cap on training architectures")
@click.option("--split", type=click.Choice(["architecture", "config"]), default="architecture", show_default=True,
              help="hold out architectures, or whole network configs")
@labels_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def train_predictor_cmd(profiles, out, backend, epochs, seed, val_frac, max_train, split, labels, as_json) -> None:
    """Train the GNN latency predictor (and the op-count baseline) on profile stores."""
    from gnnlat.predictor import PredictorConfig, train_predictor

    records = _records(profiles, backend, labels)
    changes = {"epochs": epochs} if epochs is not None else {}
    cfg = PredictorConfig(seed=seed, val_frac=val_frac, max_train=max_train, split=split, **changes)
    predictor, metrics = train_predictor(records, cfg, progress=not as_json)
    predictor.save(out)
    payload = {"out": out, "records": len(records), "labels": records[0].label, **metrics}
    lines = [f"trained on {metrics['n_train']} architectures, held out {metrics['n_val']} "
             f"({metrics['train_seconds']:.0f} s, {records[0].label} labels) -> {out}"]
    if "val" in metrics:
        lines += [_metric_line("GNN", metrics["val"]["gnn"]), _metric_line("baseline", metrics["val"]["baseline"])]
    emit(as_json, payload, "\n".join(lines))


@main.command()
@click.option("--predictor", "predictor_path", default=DEFAULT_PREDICTOR, show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False))
@click.option("--held-out/--all", "held_out", default=True, show_default=True,
              help="score only the samples the predictor did not train on (its own split)")
@click.option("--max-mape", type=float, default=0.10, show_default=True, help="exit 1 above this MAPE")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="predicted-vs-measured PNG")
@click.option("--labels", type=LABEL_CHOICE, default=None,
              help="latency labels to score against [the ones the predictor trained on]")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def validate(predictor_path, profiles, held_out, max_mape, plot, labels, as_json) -> None:
    """Score the GNN and the op-count baseline on the same samples, against the noise floor."""
    from gnnlat.predictor import LatencyPredictor
    from gnnlat.validation import validate_predictor

    predictor = LatencyPredictor.load(_root_path(predictor_path))
    records = _records(profiles, predictor.backend, labels or predictor.labels)
    report = validate_predictor(predictor, records, profiles, held_out=held_out, plot=plot)
    lines = [f"{report['n']} samples ({'held out' if held_out else 'all'}), backend {predictor.backend}, "
             f"{records[0].label} labels",
             _metric_line("GNN", report["gnn"]), _metric_line("baseline", report["baseline"]),
             "noise floor " + noise_text(report["noise_floor"])]
    if plot:
        lines.append(f"plot -> {plot}")
    emit(as_json, report, "\n".join(lines))
    if report["gnn"]["mape"] > max_mape:
        click.echo(f"GNN MAPE {report['gnn']['mape']:.2%} exceeds --max-mape {max_mape:.2%}", err=True)
        sys.exit(1)


@main.command()
@click.option("--predictor", "predictor_path", default=DEFAULT_PREDICTOR, show_default=True,
              type=click.Path(dir_okay=False))
@click.argument("genotype")
@config_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def predict(predictor_path, genotype, as_json, **kwargs) -> None:
    """Predicted latency of GENOTYPE at a network config."""
    from gnnlat.predictor import LatencyPredictor

    predictor = LatencyPredictor.load(_root_path(predictor_path))
    g = load_genotype(genotype)
    config = pop_config(kwargs)
    ms = float(predictor.predict([g], config)[0])
    emit(as_json, {"predicted_ms": ms, "backend": predictor.backend, "config": config.to_dict()},
         f"predicted {ms:.3f} ms ({predictor.backend}, {config.to_dict()})")


@main.command("learning-curve")
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False))
@click.option("--sizes", default="50,100,200,500,1000,all", show_default=True)
@click.option("--split", type=click.Choice(["architecture", "config"]), default="architecture", show_default=True)
@click.option("--fixed-only/--any-config", default=False, help="only samples at the search config")
@click.option("--vary-only", is_flag=True, help="only samples away from the search config")
@click.option("--epochs", type=int, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@labels_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def learning_curve_cmd(profiles, sizes, split, fixed_only, vary_only, epochs, seed, labels, as_json) -> None:
    """MAPE vs training-set size for the GNN and the op-count baseline, on one held-out set."""
    from gnnlat.predictor import PredictorConfig, learning_curve
    from gnnlat.profiles import split_fixed_vary

    records = _records(profiles, None, labels)
    fixed, vary = split_fixed_vary(records)
    records = fixed if fixed_only else vary if vary_only else records
    parsed = [10 ** 9 if s.strip() == "all" else int(s) for s in sizes.split(",")]
    changes = {"epochs": epochs} if epochs is not None else {}
    cfg = PredictorConfig(seed=seed, split=split, max_train=None, **changes)
    rows = learning_curve(records, parsed, cfg, progress=not as_json)
    lines = [f"{records[0].label} labels, {rows[0]['n_val'] if rows else 0} held out",
             "| train archs | GNN MAPE | GNN ±10% | GNN τ | baseline MAPE | baseline ±10% | baseline τ |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        g, b = r["gnn"], r["baseline"]
        lines.append(f"| {r['n_train']} | {g['mape']:.2%} | {g['within_10']:.1%} | {g['kendall_tau']:.3f} "
                     f"| {b['mape']:.2%} | {b['within_10']:.1%} | {b['kendall_tau']:.3f} |")
    emit(as_json, {"rows": rows, "n_val": rows[0]["n_val"] if rows else 0, "labels": records[0].label},
         "\n".join(lines))


# ---------------------------------------------------------------------------- search
lat_ref_option = click.option(
    "--lat-ref", type=click.Choice(["cells", "uniform"]), default="cells", show_default=True,
    help="LAT_ref: latency the uniform cells add over stem and head (cells), or all of LAT(uniform)")


def deploy_options(fn: Callable) -> Callable:
    """The deployment network the latency term predicts (default: the predictor's profiled config)."""
    opts = [
        click.option("--deploy-C", "deploy_C", type=int, default=None, help="deployment C [16]"),
        click.option("--deploy-layers", type=int, default=None, help="deployment cells [8]"),
        click.option("--deploy-resolution", type=int, default=None, help="deployment input size [32]"),
        click.option("--deploy-batch", type=int, default=None, help="deployment batch [1]"),
        click.option("--backend", type=BACKEND_CHOICE, default=None,
                     help="backend that measures the result [the predictor's]"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pop_deploy(kwargs: dict) -> NetworkConfig:
    return make_config(SEARCH_CONFIG, C=kwargs.pop("deploy_C"), layers=kwargs.pop("deploy_layers"),
                       resolution=kwargs.pop("deploy_resolution"), batch=kwargs.pop("deploy_batch"))


def load_predictor_for_search(path: str, backend: str | None, quiet: bool):
    """Load the predictor; warn when this machine is not the device it was profiled on."""
    from gnnlat.predictor import LatencyPredictor
    from harness.store import fingerprint_id
    from harness.timers import make_timer

    predictor = LatencyPredictor.load(_root_path(path))
    backend = backend or predictor.backend or "auto"
    local = make_timer(backend).fingerprint()
    match = fingerprint_id(local) in predictor.fingerprints
    if not match and not quiet:
        devices = sorted({fp.get("device", "?") for fp in predictor.fingerprints.values()})
        click.echo(f"warning: {path} was profiled on {', '.join(devices)} ({predictor.backend}); this machine "
                   f"({local['device']}, {backend}) differs, so measured and predicted latencies come from "
                   "different devices. Profile this machine and train a predictor for it for a faithful search.",
                   err=True)
    return predictor, backend, match


def search_progress(as_json: bool, total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, desc="search", unit="epoch", file=sys.stderr, disable=True if as_json else None)

    def update(rec: dict) -> None:
        bar.n = rec["epoch"] + 1
        bar.set_postfix(ce=f"{rec['ce']:.3f}", lat=f"{rec['lat_term']:.3f}", pred_ms=f"{rec['predicted_ms']:.3f}",
                        val_acc=f"{rec['val_acc']:.3f}", lam=f"{rec['lam']:.3g}")
        bar.refresh()

    return bar, update


@main.command()
@click.option("--lam", type=float, default=0.2, show_default=True, help="weight λ of the latency term")
@click.option("--dataset", type=click.Choice(["digits", "cifar10"]), default="digits", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="cifar10 python batches")
@click.option("--predictor", "predictor_path", default=DEFAULT_PREDICTOR, show_default=True)
@click.option("--epochs", type=int, default=None, help="search epochs [10]")
@click.option("--batch-size", type=int, default=None, help="[64]")
@click.option("--C", "C", type=int, default=None, help="supernet channels (search proxy) [8]")
@click.option("--layers", type=int, default=None, help="supernet cells (search proxy) [5]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option("--out", "out_dir", default="runs/search", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="continue the interrupted search in --out")
@click.option("--target-ms", type=float, default=None, help="adapt λ to land on this predicted latency")
@lat_ref_option
@deploy_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def search(lam, dataset, data_dir, predictor_path, epochs, batch_size, C, layers, seed, order, out_dir, resume,
           target_ms, lat_ref, as_json, **kwargs) -> None:
    """Latency-aware DARTS search: loss = CE + λ · LAT(α) / LAT_ref."""
    from dataclasses import replace

    from gnnlat.measure import measure_latency
    from gnnlat.search import SearchConfig, run_search

    deploy = pop_deploy(kwargs)
    predictor, backend, match = load_predictor_for_search(predictor_path, kwargs.pop("backend"), as_json)
    given = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, C=C, layers=layers).items() if v is not None}
    cfg = replace(SearchConfig(), lam=lam, dataset=dataset, data_dir=data_dir, seed=seed, order=order,
                  out_dir=out_dir, target_ms=target_ms, lat_ref=lat_ref, **given)
    bar, update = search_progress(as_json, cfg.epochs)
    with bar:
        result = run_search(cfg, predictor.latency_fn(deploy), resume=resume, progress=update)
    measured = measure_latency(result.genotype, deploy, backend)
    rel = (result.predicted_ms - measured["latency_ms"]) / measured["latency_ms"]
    payload = {"genotype": result.genotype.to_dict(), "genotype_text": result.genotype.to_darts(),
               "predicted_ms": result.predicted_ms, "measured_ms": measured["latency_ms"], "relative_error": rel,
               "val_acc": result.val_acc, "lam": result.lam, "lat_ref_ms": result.lat_ref,
               "deploy_config": deploy.to_dict(), "backend": measured["backend"], "device_match": match,
               "out_dir": result.out_dir}
    text = "\n".join([
        f"genotype      {result.out_dir}/genotype.json",
        f"              {result.genotype.to_darts()}",
        f"val accuracy  {result.val_acc:.2%} (search proxy)   λ {result.lam:g}",
        f"latency       predicted {result.predicted_ms:.3f} ms, measured {measured['latency_ms']:.3f} ms "
        f"({measured['backend']}, {deploy.to_dict()}), relative error {rel:+.1%}"])
    emit(as_json, payload, text)


@main.command()
@click.argument("genotype")
@click.option("--dataset", type=click.Choice(["digits", "cifar10"]), default="digits", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--epochs", type=int, default=None, help="[15]")
@click.option("--C", "C", type=int, default=None, help="[8]")
@click.option("--layers", type=int, default=None, help="[5]")
@click.option("--seed", type=int, default=0, show_default=True)
@deploy_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def train(genotype, dataset, data_dir, epochs, C, layers, seed, as_json, **kwargs) -> None:
    """Train GENOTYPE from scratch; report test accuracy, parameters and measured latency."""
    from dataclasses import replace

    from gnnlat.measure import measure_latency
    from gnnlat.train import TrainConfig, train_network

    g = load_genotype(genotype)
    deploy = pop_deploy(kwargs)
    backend = kwargs.pop("backend") or "auto"
    given = {k: v for k, v in dict(epochs=epochs, C=C, layers=layers).items() if v is not None}
    result = train_network(g, replace(TrainConfig(), dataset=dataset, data_dir=data_dir, seed=seed, **given))
    measured = measure_latency(g, deploy, backend)
    payload = {**result, "measured_ms": measured["latency_ms"], "backend": measured["backend"],
               "deploy_config": deploy.to_dict()}
    emit(as_json, payload, f"test accuracy {result['test_acc']:.2%}, {result['params_m']:.3f} M parameters, "
                           f"measured {measured['latency_ms']:.3f} ms ({measured['backend']}, {deploy.to_dict()})")


@main.command()
@click.option("--lam", "lams", default="0,0.1,0.2,0.5", show_default=True, help="comma-separated λ values")
@click.option("--seeds", type=int, default=3, show_default=True)
@click.option("--dataset", type=click.Choice(["digits", "cifar10"]), default="digits", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--predictor", "predictor_path", default=DEFAULT_PREDICTOR, show_default=True)
@click.option("--epochs", type=int, default=None, help="search epochs [10]")
@click.option("--train-epochs", type=int, default=None, help="retraining epochs [15]")
@click.option("--C", "C", type=int, default=None, help="supernet and retrained network channels [8]")
@click.option("--layers", type=int, default=None, help="supernet and retrained network cells [5]")
@click.option("--out", "out_dir", default="runs/sweep", show_default=True, type=click.Path(file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Pareto plot PNG")
@lat_ref_option
@deploy_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def sweep(lams, seeds, dataset, data_dir, predictor_path, epochs, train_epochs, C, layers, out_dir, plot, lat_ref,
          as_json, **kwargs) -> None:
    """Search and retrain for each λ and seed; table of latency and accuracy, Pareto plot. Resumable."""
    from dataclasses import replace
    from pathlib import Path

    from tqdm import tqdm

    from gnnlat.measure import measure_latency, measure_together
    from gnnlat.search import SearchConfig, reference_latency
    from gnnlat.sweep import plot_pareto, remeasure_together, run_one, summarize_sweep
    from gnnlat.train import TrainConfig

    try:
        lam_values = [float(x) for x in lams.split(",") if x.strip()]
    except ValueError:
        raise click.ClickException(f"--lam must be comma-separated numbers, got {lams!r}") from None
    if not lam_values or seeds < 1:
        raise click.ClickException("need at least one λ and --seeds >= 1")
    deploy = pop_deploy(kwargs)
    predictor, backend, _ = load_predictor_for_search(predictor_path, kwargs.pop("backend"), as_json)
    latency_fn = predictor.latency_fn(deploy)
    shape = {k: v for k, v in dict(C=C, layers=layers).items() if v is not None}
    search_cfg = replace(SearchConfig(), dataset=dataset, data_dir=data_dir, lat_ref=lat_ref, **shape,
                         **({"epochs": epochs} if epochs else {}))
    train_cfg = replace(TrainConfig(), dataset=dataset, data_dir=data_dir, **shape,
                        **({"epochs": train_epochs} if train_epochs else {}))
    lat_ref_ms = reference_latency(latency_fn, lat_ref)
    measure = lambda g: measure_latency(g, deploy, backend)["latency_ms"]  # noqa: E731
    rows = []
    jobs = [(lam, seed) for lam in lam_values for seed in range(seeds)]
    for lam, seed in tqdm(jobs, desc="sweep", unit="run", file=sys.stderr, disable=True if as_json else None):
        rows.append(run_one(lam, seed, search_cfg, train_cfg, latency_fn, lat_ref_ms, measure, Path(out_dir)))
    rows = remeasure_together(rows, lambda gs: [t["latency_ms"] for t in measure_together(gs, deploy, backend)])
    summary = summarize_sweep(rows)
    if plot:
        plot_pareto(summary, rows, plot)
    base = next((s for s in summary if s["lam"] == 0), None)
    lines = ["| λ | measured latency (ms) | vs λ=0 | test accuracy | seeds |", "|---:|---:|---:|---:|---:|"]
    for s in summary:
        rel = f"{s['measured_ms'] / base['measured_ms'] - 1:+.1%}" if base else "n/a"
        lines.append(f"| {s['lam']:g} | {s['measured_ms']:.3f} ± {s['measured_ms_std']:.3f} | {rel} | "
                     f"{100 * s['test_acc']:.2f} ± {100 * s['test_acc_std']:.2f} % | {s['seeds']} |")
    lines.append(f"latency: all {len(rows)} genotypes re-timed together in interleaved rounds ({backend}); "
                 f"LAT_ref {lat_ref_ms:.4g} ms ({lat_ref})")
    emit(as_json, {"summary": summary, "runs": rows, "deploy_config": deploy.to_dict(), "backend": backend,
                   "lat_ref": lat_ref, "lat_ref_ms": lat_ref_ms}, "\n".join(lines))


if __name__ == "__main__":
    main()

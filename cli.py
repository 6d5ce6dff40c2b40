"""gnnlat command line: parse, call the library, print (text, or one JSON object with --json)."""
from __future__ import annotations

import functools
import json
import sys
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any, Callable

import click

from gnnlat.data import DATASETS
from gnnlat.errors import GnnlatError
from gnnlat.fit import PredictorConfig
from gnnlat.published import load_genotype_or_name
from gnnlat.network import EVAL_CONFIG, SEARCH_CONFIG, NetworkConfig
from gnnlat.record import LABELS
from gnnlat.split import SPLITS
from gnnlat.search_config import SearchConfig
from gnnlat.steps import DEVICES
from gnnlat.sweep_baselines import BaselineConfig, trade_off_verdict
from gnnlat.train import TrainConfig
from harness.store import CONFIG_KEYS
from harness.timers import TimerSettings, TritonTimer
from workflows.sweep import SweepConfig

# Errors that mean bad input or an unusable file: one line and exit status 1. Anything else is a
# bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (GnnlatError, FileNotFoundError, PermissionError, IsADirectoryError,
                                                 NotADirectoryError)


def default(cls: type, name: str) -> str:
    """A dataclass field's default, for help texts that cannot drift from the code."""
    return str(next(f.default for f in fields(cls) if f.name == name))


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


def config_options(fn: Callable, d: NetworkConfig = SEARCH_CONFIG) -> Callable:
    """--C --layers --in-channels --resolution --batch --classes (defaults shown: ``d``)."""
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


def eval_config_options(fn: Callable) -> Callable:
    return config_options(fn, EVAL_CONFIG)


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
@eval_config_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@handle_errors
def describe(genotype: str, as_json: bool, **kwargs: Any) -> None:
    """Parameters, MACs and op counts of the discrete network for GENOTYPE (JSON file, DARTS text
    file, or the text itself). Defaults: the DARTS CIFAR-10 evaluation network."""
    from gnnlat.network import describe_network

    g = load_genotype_or_name(genotype)
    config = pop_config(kwargs, EVAL_CONFIG)
    payload = describe_network(g, config)
    counts = payload["op_counts"]
    lines = [f"config      {config.to_dict()}", f"parameters  {payload['params_m']:.3f} M",
             f"MACs        {payload['macs_m']:.1f} M (per image)"]
    for kind in ("normal", "reduce"):
        lines.append(f"{kind:<11} " + ", ".join(f"{op}×{n}" for op, n in sorted(counts[kind].items())))
    emit(as_json, payload, "\n".join(lines))


# ---------------------------------------------------------------------------- harness
BACKEND_CHOICE = click.Choice(["auto", "triton", "cpu", "onnxruntime"])


def timer_settings(backend: str, rounds: int | None, round_ms: float | None) -> TimerSettings:
    """Backend defaults, with --rounds / --round-ms applied when given."""
    from harness.timers import default_settings

    changes = {k: v for k, v in (("rounds", rounds), ("round_ms", round_ms)) if v is not None}
    return replace(default_settings(backend), **changes)


def _cpu_and_gpu(name: str) -> str:
    cpu, gpu = getattr(TimerSettings(), name), getattr(TritonTimer.default_settings, name)
    return f"[{cpu:g}; triton {gpu:g}]"


def timer_options(fn: Callable) -> Callable:
    """--backend --threads --rounds --round-ms: which timer, and how long it times each network."""
    opts = [
        click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True),
        click.option("--threads", type=int, default=1, show_default=True),
        click.option("--rounds", type=int, default=None,
                     help=f"interleaved rounds per architecture {_cpu_and_gpu('rounds')}"),
        click.option("--round-ms", type=float, default=None,
                     help=f"timed work per architecture per round, ms {_cpu_and_gpu('round_ms')}"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pop_timer_args(kwargs: dict) -> tuple[str, int, Any]:
    """(backend, threads, TimerSettings) from the options :func:`timer_options` added."""
    backend, rounds, round_ms = kwargs.pop("backend"), kwargs.pop("rounds"), kwargs.pop("round_ms")
    return backend, kwargs.pop("threads"), timer_settings(backend, rounds, round_ms)


@contextmanager
def progress_bar(desc: str, total: int | None = None, noise: Callable[[], dict] | None = None):
    """A tqdm bar on stderr (hidden when stderr is not a terminal) as a ``progress(done, total)``
    callback, the form the harness loops report in; ``noise`` gives the run's live noise floor."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="arch", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            nf = noise() if noise else {"n": 0}
            if nf["n"]:
                bar.set_postfix_str(f"noise {nf['median']:.1%}/{nf['p90']:.1%} (n={nf['n']})", refresh=False)
            bar.update(done - bar.n)

        yield progress


def run_harness(run: Callable, cfg: Any, kwargs: dict, desc: str, total: int | None) -> dict:
    """``run(cfg, timer, progress, stats)`` with the timer the options ask for, under a progress
    bar that shows the live noise floor; its summary."""
    from harness.profile_stats import ProfileStats
    from harness.timers import make_timer

    timer = make_timer(*pop_timer_args(kwargs))
    stats = ProfileStats()
    with progress_bar(f"{desc} {timer.backend}", total, stats.live_noise) as progress:
        return run(cfg, timer, progress, stats)


def harness_report(summary: dict, path: str, as_json: bool, head: str) -> None:
    """Emit a profile/retime summary: ``head``, the file's noise floors, where the time went, the
    run's live noise floor and, when it is high, a warning."""
    from workflows.records import noise_floor, noise_warning

    summary["anchored_noise_floor"] = noise_floor(path, labels="anchored")
    text = (head + "; noise floor " + noise_text(summary["noise_floor"], "n/a (no repeats yet)")
            + anchored_noise_text(summary["anchored_noise_floor"]) + time_text(summary))
    warning = noise_warning(summary.get("live_noise_floor", {}))
    summary["noise_warning"] = warning
    text += ("\nlive noise floor (this run, repeats spread through it): "
             + noise_text(summary.get("live_noise_floor_raw", {"n": 0}), "n/a")
             + anchored_noise_text(summary.get("live_noise_floor_anchored", {"n": 0})))
    if summary.get("passes_per_arch"):
        noise = summary.get("pass_noise")
        text += (f"\npasses: {summary['passes_per_arch']:.2f} per architecture"
                 + (f" (one pass to the next differed by {noise:.2%} at the median)" if noise is not None else ""))
    emit(as_json, summary, text)
    if warning:
        click.echo("warning: " + warning, err=True)


def noise_text(nf: dict, missing: str = "n/a") -> str:
    """A profile's noise floor (``ProfileStore.noise_floor``) in one phrase."""
    return f"median {nf['median']:.2%}, p90 {nf['p90']:.2%} (n={nf['n']})" if nf["n"] else missing


def time_text(summary: dict) -> str:
    """Where a harness run's time went per architecture, and whether it stopped at its time limit."""
    per = ", ".join(f"{k} {v:.1f}" for k, v in summary.get("time_per_arch_ms", {}).items())
    stop = "\nstopped at the time limit; re-run the same command to go on" if summary.get("time_limit_reached") else ""
    return f"\nms per architecture: {per}" + stop


def anchored_noise_text(nf: dict) -> str:
    """The drift-corrected noise floor as a phrase to append, when there is one."""
    return f"; anchored noise floor {noise_text(nf)}" if nf["n"] else ""


ray_option = click.option(
    "--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[auto|ADDRESS|local]",
    help="run on a Ray cluster: auto (`ray start` on this machine), HOST:PORT, or local (a private runtime); "
         "needs pip install -e '.[ray]'")
time_limit_option = click.option(
    "--time-limit", "time_limit_s", type=float, default=None,
    help="seconds; stop cleanly after the batch in flight once they have passed (re-run to go on)")
anchor_option = click.option(
    "--anchor/--no-anchor", default=True, show_default=True,
    help="time DARTS V2 in every batch so drift can be divided out of the labels")


AUTO_VISITS = (1, 8)  # --visits auto: fewest and most passes per network


def _visits(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``--visits``: (fewest, most) passes per network; "auto" lets the run's noise choose, up to 8."""
    if value is None:  # the default: auto, but one pass with --ray (profile tells them apart)
        return None
    if value == "auto":
        return AUTO_VISITS
    if value.isdigit() and int(value) >= 1:
        return int(value), int(value)
    raise click.BadParameter(f"expected a whole number >= 1 or 'auto', got {value!r}")


visits_option = click.option(
    "--visits", default=None, callback=_visits, metavar="N|auto",
    help="cpu backends: passes per network, 30-60 s apart, the label their center: a busy machine's drift "
         "averages out, at the rate's cost. auto (the default; 1 with --ray): as many as the run's own "
         "pass-to-pass noise needs, 1-8")


def schedule_for(visits: tuple[int, int] | None) -> Any:
    from harness.rounds import ScheduleConfig

    fewest, most = visits or AUTO_VISITS
    return ScheduleConfig(visits=fewest, max_visits=most)


def speed_report(check, quiet: bool) -> dict | None:
    """A speed check (``workflows.devices.SpeedCheck``) for the payload; its warning on stderr when
    this machine runs more than 10% faster or slower. None: not checked."""
    if check is None:
        return None
    if check.warning() and not quiet:
        click.echo("warning: " + check.warning(), err=True)
    return check.to_dict()


speed_option = click.option("--speed-check/--no-speed-check", default=True, show_default=True,
                            help="time the anchor first and compare this machine's speed with the predictor's profile")


def _timing_text(t: dict) -> str:
    a = t.get("agreement")
    agreement = ""
    if a:
        spread = "n/a" if a["spread"] is None else f"{a['spread']:.1%}"
        agreement = (f"\nwindows: {a['windows']} over {t['span_s']:.1f} s, "
                     f"{'agreed' if a['agreed'] else 'did NOT agree'} within {spread}"
                     + (f"; anchor {t['anchor_ms']:.3f} ms" if t.get("anchor_ms") else ""))
    anchored = (f"\nat the profile's speed {t['anchored_ms']:.3f} ms (anchor {t['anchor_reference_ms']:.3f} ms "
                f"there, {t['anchor_reference']})" if t.get("anchored_ms") else "")
    return (f"latency {t['latency_ms']:.3f} ms (min of {t['rounds']} interleaved rounds)  "
            f"median {t['median_ms']:.3f}  p90 {t['p90_ms']:.3f}  cv {t['cv']:.3f}"
            + ("  NOISY" if t["noisy"] else "") + agreement + anchored)


@main.command()
@click.option("--n", "n", type=int, required=True, help="primary samples the profile should hold")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="profile store (SQLite)")
@click.option("--seed", type=int, default=0, show_default=True)
@config_options
@click.option("--vary-config", is_flag=True, help="sample C, layers, resolution and batch too")
@click.option("--repeat-frac", type=float, default=0.1, show_default=True,
              help="share of architectures re-timed during the run (live noise floor)")
@anchor_option
@visits_option
@time_limit_option
@timer_options
@click.option("--workers", "build_workers", type=int, default=None,
              help="processes preparing networks while others are timed [cpu backends 1, triton up to 4; 0: inline]")
@click.option("--metric", type=click.Choice(["latency", "memory", "energy"]), default="latency", show_default=True,
              help="memory: peak memory of one inference (backend cpu or triton; auto: triton with CUDA, else cpu); "
                   "energy: from the device's energy counter (NVML or RAPL; auto: triton with CUDA, else onnxruntime)")
@click.option("--energy-window-s", type=float, default=1.0, show_default=True,
              help="--metric energy: seconds of back-to-back inferences between the counter's two reads")
@ray_option
@click.option("--workers-per-node", type=int, default=1, show_default=True,
              help="with --ray: timing workers per node (per GPU on triton), each pinned to its share of the cores")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def profile(n: int, out: str, seed: int, vary_config: bool, repeat_frac: float, anchor: bool,
            visits: tuple[int, int] | None, time_limit_s: float | None, build_workers: int | None, metric: str,
            energy_window_s: float, ray_address: str | None, workers_per_node: int, as_json: bool, **kwargs: Any) -> None:
    """Time randomly sampled architectures into a profile store; re-running resumes."""
    from harness.profile import ProfileConfig, run_profile

    cfg = ProfileConfig(n=n, out=out, seed=seed, config=pop_config(kwargs), vary_config=vary_config,
                        repeat_frac=repeat_frac, anchor=anchor, time_limit_s=time_limit_s, build_workers=build_workers,
                        schedule=schedule_for(visits))
    if metric != "latency":
        if ray_address is not None:
            raise click.ClickException(f"--ray profiles latency; profile --metric {metric} runs on this machine")
        _metric_profile(cfg, kwargs, metric, energy_window_s, as_json)
        return
    if ray_address is not None:
        if visits not in (None, (1, 1)):
            raise click.ClickException("--ray times each network in one pass; --visits runs on this machine")
        cfg = replace(cfg, schedule=schedule_for((1, 1)))
        summary = _ray_profile(cfg, kwargs, ray_address, workers_per_node)
    else:
        summary = run_harness(run_profile, cfg, kwargs, "profile", n)
    workers = f", {len(summary['workers'])} Ray workers" if "workers" in summary else ""
    harness_report(summary, out, as_json,
                   f"{out}: {summary['samples']} samples ({summary['unique_architectures']} unique), "
                   f"{summary['repeats']} repeats; throughput {summary['archs_per_hour']:.0f} arch/h this run{workers}, "
                   f"overhead {summary['overhead_frac']:.0%} of " + ("worker " if workers else "") + "wall time"
                   f" ({summary['untimed_frac']:.0%} counting the anchor's rounds as timed)")


def _ray_profile(cfg: Any, kwargs: dict, address: str, workers_per_node: int) -> dict:
    """``profile --ray``: the run on a Ray cluster, under a bar with the live workers and the rate."""
    from tqdm import tqdm

    from harness.profile_stats import ProfileStats
    from harness.ray_profile import RayOptions, run_ray_profile

    opts = RayOptions(address=address, workers_per_node=workers_per_node)
    stats = ProfileStats()
    with tqdm(total=cfg.n, desc="profile ray", unit="arch", file=sys.stderr, disable=None) as bar:
        def progress(p) -> None:
            nf = stats.live_noise()
            noise = f", noise {nf['median']:.1%}/{nf['p90']:.1%} (n={nf['n']})" if nf["n"] else ""
            bar.set_postfix_str(f"{p.workers} workers, {p.archs_per_hour:,.0f} arch/h{noise}", refresh=False)
            bar.update(p.done - bar.n)

        return run_ray_profile(cfg, *pop_timer_args(kwargs), opts, progress, stats)


def _metric_profile(cfg: Any, kwargs: dict, metric: str, energy_window_s: float, as_json: bool) -> None:
    """``profile --metric memory|energy``: the metric of the run's architectures, and its report."""
    from harness.metric_profile import EnergyMeter, MemoryMeter, run_metric_profile
    from harness.store import UNITS
    from harness.timers import CUDA, make_timer

    backend, threads, settings = pop_timer_args(kwargs)
    if backend == "auto":
        backend = "triton" if CUDA.available() else ("cpu" if metric == "memory" else "onnxruntime")
    timer = make_timer(backend, threads, settings)
    if metric == "memory":
        meter: Any = MemoryMeter(timer)
    else:
        from harness.energy import energy_counter
        meter = EnergyMeter(timer, energy_counter(timer.backend), energy_window_s)
    with progress_bar(f"{metric} {timer.backend}", cfg.n) as progress:
        s = run_metric_profile(cfg, meter, progress)
    m, unit = s["metrics"].get(metric, {}), UNITS[metric]
    name = "peak memory" if metric == "memory" else "energy per inference"
    text = (f"{cfg.out}: {name} of {m.get('samples', 0)} architectures ({s['measured']} measured now, "
            f"{s['ms_per_arch']:.0f} ms each), {m.get('repeats', 0)} repeats; {unit} min {m.get('min', 0):.3f} "
            f"median {m.get('median', 0):.3f} max {m.get('max', 0):.3f}; repeat difference "
            + noise_text(m.get("noise_floor", {"n": 0}), "n/a (no repeats yet)")
            + ("\nstopped at the time limit; re-run the same command to go on" if s["time_limit_reached"] else ""))
    emit(as_json, s, text)


@main.command()
@click.option("--profile", "path", required=True, type=click.Path(dir_okay=False),
              help="profile store (SQLite) to re-time; it must exist")
@click.option("--times", type=int, default=1, show_default=True,
              help="repeats every selected architecture should have in the end")
@click.option("--part", type=click.Choice(["all", "fixed", "vary"]), default="all", show_default=True,
              help="fixed: architectures at the config given below; vary: all others")
@config_options
@anchor_option
@visits_option
@time_limit_option
@timer_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def retime(path: str, times: int, part: str, anchor: bool, visits: tuple[int, int] | None,
           time_limit_s: float | None, as_json: bool, **kwargs: Any) -> None:
    """Time a profile's architectures again on this device, stored as repeats that the latency
    labels use (min or anchored). Re-running resumes; nothing is re-timed twice."""
    from harness.retime import RetimeConfig, run_retime

    cfg = RetimeConfig(path=path, times=times, part=part, config=pop_config(kwargs), anchor=anchor,
                       time_limit_s=time_limit_s, schedule=schedule_for(visits))
    summary = run_harness(run_retime, cfg, kwargs, "retime", None)
    harness_report(summary, path, as_json,
                   f"{path}: re-timed {summary['retimed']} of {summary['selected']} {part} architectures "
                   f"({summary['repeats']} repeats in the file)")


@main.command()
@click.argument("genotype")
@config_options
@timer_options
@click.option("--predictor", "predictor_path", default=None, metavar="FILE|NAME",
              help="compare this machine's speed with this predictor's profile [the shipped one of the backend]")
@speed_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def measure(genotype: str, predictor_path: str | None, speed_check: bool, as_json: bool, **kwargs: Any) -> None:
    """Time one architecture with the harness (interleaved with the anchor until time windows
    seconds apart agree) and print the sample."""
    from harness.timers import resolve_backend
    from workflows.devices import anchored_measurement, measurement_predictor, measurement_speed
    from workflows.measure import measure_energy, measure_latency, measure_peak_memory

    g = load_genotype_or_name(genotype)
    config = pop_config(kwargs)
    backend, threads, settings = pop_timer_args(kwargs)
    predictor = measurement_predictor(resolve_backend(backend), predictor_path)  # a bad path fails before timing
    t = measure_latency(g, config, backend, threads, settings)
    t.update(anchored_measurement(predictor, t, config))
    t.update(measure_peak_memory(g, config, t["backend"], threads))
    t.update(measure_energy(g, config, t["backend"], threads))
    speed = speed_report(measurement_speed(t, config, predictor), as_json) if speed_check else None
    energy = (f"energy {t['energy_mj']:.3f} mJ ({t['energy_source']})" if t["energy_mj"] is not None
              else t["energy_unavailable"])
    emit(as_json, {**t, "config": config.to_dict(), "speed": speed},
         f"{t['backend']}: " + _timing_text(t)
         + f"\npeak memory {t['peak_memory_mb']:.3f} MB (weights {t['weights_mb']:.3f}, activations at the peak "
           f"{t['activation_peak_mb']:.3f}; {t['memory_method']})\n{energy}")


@main.command()
@click.argument("profile_path", metavar="PROFILE", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def info(profile_path: str, as_json: bool) -> None:
    """Samples, architectures, devices, config ranges, latency range and noise floor of a profile."""
    from harness.store import ProfileStore
    from workflows.records import labels_noise_floor, noise_floor, noise_warning

    with ProfileStore(profile_path, create=False) as store:
        s = store.summary()
    s["anchored_noise_floor"] = noise_floor(profile_path, labels="anchored")
    lat = s["latency_ms"]
    lines = [f"profile            {profile_path} (schema {s['schema_version']})",
             f"{'timed samples' if s['metrics'] else 'samples':<18} {s['samples']} ({s['unique_architectures']} unique "
             "architectures), "
             f"{s['repeats']} repeats, {s['noisy']} flagged noisy",
             f"backends           {s['backends']}"]
    for d in s["devices"]:
        lines.append(f"device             {d['fingerprint_id']}  {d['backend']:<12} {d['device']}  ({d['samples']} samples)")
    for k, (lo, hi) in s["config_ranges"].items():
        lines.append(f"{k:<18} {lo}..{hi}")
    if lat:
        lines.append(f"latency ms         min {lat['min']:.3f}  median {lat['median']:.3f}  max {lat['max']:.3f}")
    lines.append("noise floor        " + noise_text(s["noise_floor"], "n/a (no repeats)"))
    for metric, m in s["metrics"].items():
        lines.append(f"{metric + ' ' + m['unit']:<18} min {m['min']:.3f}  median {m['median']:.3f}  max {m['max']:.3f}  "
                     f"({m['samples']} samples, {m['repeats']} repeats; repeat difference "
                     + noise_text(m["noise_floor"], "n/a") + ")")
    if s["anchored_noise_floor"]["n"]:
        lines.append("anchored noise     " + noise_text(s["anchored_noise_floor"]) + " (batch drift divided out)")
    s["noise_warning"] = noise_warning(labels_noise_floor(s["noise_floor"], s["anchored_noise_floor"]))
    if s["noise_warning"]:
        lines.append("warning            " + s["noise_warning"])
    emit(as_json, s, "\n".join(lines))


# ---------------------------------------------------------------------------- predictor
DEFAULT_PREDICTOR = "onnxruntime-reference"  # a shipped predictor name (gnnlat.shipped)


def _root_path(path: str) -> str:
    """A --predictor value: the user's file if it exists, else a shipped predictor name (any directory)."""
    from gnnlat.shipped import predictor_path

    return str(predictor_path(path))


predictor_option = click.option("--predictor", "predictor_path", default=DEFAULT_PREDICTOR, show_default=True,
                                metavar="FILE|NAME", help="a predictor file, or the name of a shipped one")
LABEL_CHOICE = click.Choice(list(LABELS))
labels_option = click.option(
    "--labels", type=LABEL_CHOICE, default="auto", show_default=True,
    help="latency labels: min over timings, or anchor-drift-corrected median; auto = anchored when "
         "every architecture has an anchored timing")


def _metric_line(name: str, m: dict, unit: str = "ms") -> str:
    return (f"{name:<9} MAPE {m['mape']:6.2%}  ±5% {m['within_5']:6.1%}  ±10% {m['within_10']:6.1%}  "
            f"RMSE {m['rmse_ms']:.4f} {unit}  max {m['max_error']:6.1%}  τ {m['kendall_tau']:.3f}  ρ {m['spearman_rho']:.3f}")


metric_option = click.option("--metric", type=click.Choice(["latency", "memory", "energy"]), default="latency",
                             show_default=True, help="what the predictor predicts: latency (ms), peak memory (MB), energy (mJ)")


@main.command("train-predictor")
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="profile store(s) to train on (repeatable)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="checkpoint to write")
@click.option("--backend", default=None, help="use only samples of this backend")
@click.option("--epochs", type=int, default=None, help=f"training epochs [{default(PredictorConfig, 'epochs')}]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-frac", type=float, default=PredictorConfig.val_frac, show_default=True)
@click.option("--max-train", type=int, default=PredictorConfig.max_train, show_default=True,
              help="cap on training architectures")
@click.option("--split", type=click.Choice(list(SPLITS)), default="architecture", show_default=True,
              help="hold out architectures, or whole network configs")
@labels_option
@metric_option
@click.option("--device", default=None, metavar="ID",
              help="the device to train on when the profiles hold several (its id or device name from `info`)")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def train_predictor_cmd(profiles, out, backend, epochs, seed, val_frac, max_train, split, labels, metric,
                        device, as_json) -> None:
    """Train the GNN predictor of a metric (and its baseline: op counts, or parameter/activation
    counts for memory) on profile stores."""
    from gnnlat.checkpoint import save_predictor
    from workflows.training import train_on_profiles

    changes = {"epochs": epochs} if epochs is not None else {}
    cfg = PredictorConfig(seed=seed, val_frac=val_frac, max_train=max_train, split=split, **changes)
    predictor, metrics, records = train_on_profiles(profiles, cfg, backend, labels, progress=not as_json,
                                                    metric=metric, device=device)
    save_predictor(predictor, out)
    payload = {"out": out, "records": len(records), "labels": records[0].label, "metric": metric,
               "unit": predictor.unit, **metrics}
    lines = [f"trained a {metric} predictor on {metrics['n_train']} architectures, held out {metrics['n_val']} "
             f"({metrics['train_seconds']:.0f} s, {records[0].label} labels) -> {out}"]
    if "val" in metrics:
        lines += [_metric_line("GNN", metrics["val"]["gnn"], predictor.unit),
                  _metric_line("baseline", metrics["val"]["baseline"], predictor.unit)]
    emit(as_json, payload, "\n".join(lines))


@main.command()
@predictor_option
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False))
@click.option("--held-out/--all", "held_out", default=True, show_default=True,
              help="score only the samples the predictor did not train on (its own split)")
@click.option("--max-mape", type=float, default=0.10, show_default=True, help="exit 1 above this MAPE")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="predicted-vs-measured PNG")
@click.option("--labels", type=LABEL_CHOICE, default=None,
              help="latency labels to score against [the ones the predictor trained on]")
@speed_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def validate(predictor_path, profiles, held_out, max_mape, plot, labels, speed_check, as_json) -> None:
    """Score the GNN and the op-count baseline on the same samples, against the noise floor."""
    from gnnlat.checkpoint import load_predictor
    from workflows.devices import check_speed
    from workflows.records import load_profiles
    from workflows.validation import validate_predictor

    predictor = load_predictor(_root_path(predictor_path))
    timed = predictor.metric == "latency"  # a speed check compares timings; memory does not depend on load
    speed = speed_report(check_speed(predictor), as_json) if speed_check and timed else None
    records = load_profiles(profiles, predictor.backend, labels or predictor.labels, predictor.metric)
    report = {**validate_predictor(predictor, records, profiles, held_out=held_out, plot=plot), "speed": speed}
    lines = [f"{report['n']} samples ({'held out' if held_out else 'all'}), backend {predictor.backend}, "
             f"{predictor.metric} ({predictor.unit}), {records[0].label} labels",
             _metric_line("GNN", report["gnn"], predictor.unit),
             _metric_line("baseline", report["baseline"], predictor.unit),
             "noise floor " + noise_text(report["noise_floor"])]
    lines += [f"labels of device {fp} read at the predictor's speed: x{factor:.3f} "
              "(its profile's anchor over this one's)"
              for fp, factor in report["anchor_rescale"].items() if abs(factor - 1) > 1e-9]
    if plot:
        lines.append(f"plot -> {plot}")
    emit(as_json, report, "\n".join(lines))
    if report["gnn"]["mape"] > max_mape:
        click.echo(f"GNN MAPE {report['gnn']['mape']:.2%} exceeds --max-mape {max_mape:.2%}", err=True)
        sys.exit(1)


@main.command()
@predictor_option
@click.argument("genotype")
@config_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def predict(predictor_path, genotype, as_json, **kwargs) -> None:
    """Predicted latency (or the predictor's metric: memory, energy) of GENOTYPE at a network config."""
    from gnnlat.checkpoint import load_predictor

    predictor = load_predictor(_root_path(predictor_path))
    g = load_genotype_or_name(genotype)
    config = pop_config(kwargs)
    value, unit = float(predictor.predict([g], config)[0]), predictor.unit
    emit(as_json, {f"predicted_{unit.lower()}": value, "predicted": value, "metric": predictor.metric, "unit": unit,
                   "backend": predictor.backend, "config": config.to_dict()},
         f"predicted {predictor.metric} {value:.3f} {unit} ({predictor.backend}, {config.to_dict()})")


@main.command()
@predictor_option
@click.option("--n", "n", type=int, default=50, show_default=True, help="architectures to measure on this machine")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="calibrated predictor file to write")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              help="profile store for the measurements (resumable) [OUT with .db]")
@click.option("--seed", type=int, default=0, show_default=True)
@config_options
@timer_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def calibrate(predictor_path, n, out, profile_path, seed, as_json, **kwargs) -> None:
    """Adapt a predictor to this machine: measure N architectures (30% at the config below, spread
    over the predictor's latency range and the pools' share of the work; the rest covering varied
    configs), fine-tune on them and blend in a roofline fitted on them (the weight chosen by
    cross-validation)."""
    from gnnlat.checkpoint import load_predictor, save_predictor
    from workflows.calibration import CalibrateConfig, run_calibration

    base = load_predictor(_root_path(predictor_path))
    cfg = CalibrateConfig.writing(out, n, profile_path, seed=seed, config=pop_config(kwargs))
    predictor, report = run_harness(lambda c, timer, progress, stats: run_calibration(base, c, timer, progress, stats),
                                    cfg, kwargs, "calibrate", None)
    save_predictor(predictor, out)
    report.update(out=out, base=predictor_path)
    nf = report["noise_floor"] or {"n": 0}
    emit(as_json, report,
         f"calibrated {predictor_path} ({base.backend}) to this machine ({report['backend']}) on {report['n']} "
         f"architectures in {report['seconds']:.0f} s (profiling {report['profile_seconds']:.0f} s) -> {out}\n"
         f"measurements: {cfg.profile}; noise floor {noise_text(nf)}\n"
         f"{_blend_text(report['blend'])}\n"
         + _metric_line("fit", report["train"]["gnn"]))


def _blend_text(blend: dict) -> str:
    if "cv_mape" not in blend:
        return "roofline blend: none (too few samples to cross-validate)"
    cv = blend["cv_mape"]
    scores = f"cross-validated MAPE: fine-tuned GNN {cv['gnn']:.1%}, roofline {cv['roofline']:.1%}"
    if blend["beta"] == 0:
        return f"roofline blend: none ({scores})"
    return f"roofline blend: weight {blend['beta']:.2f} ({scores}, blend {cv['blend']:.1%})"


@main.command()
@click.argument("genotype")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="file to write")
@config_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def export(genotype, fmt, out, as_json, **kwargs) -> None:
    """Write GENOTYPE's network (eval mode, untrained) as ONNX or TorchScript at a network config,
    and check the file against PyTorch on a random input."""
    from gnnlat.export import export_difference, export_network
    from gnnlat.network import Network

    network = Network(load_genotype_or_name(genotype), pop_config(kwargs))
    export_network(network, fmt, out)
    diff = export_difference(network, fmt, out)
    emit(as_json, {"out": out, "format": fmt, "config": network.config.to_dict(), "max_abs_diff": diff},
         f"{fmt} -> {out} ({network.config.to_dict()}); max abs difference from PyTorch {diff:.2e}")


@main.command("learning-curve")
@click.option("--profile", "profiles", multiple=True, required=True, type=click.Path(dir_okay=False))
@click.option("--sizes", default="50,100,200,500,1000,all", show_default=True)
@click.option("--split", type=click.Choice(list(SPLITS)), default="architecture", show_default=True)
@click.option("--fixed-only/--any-config", default=False, help="only samples at the search config")
@click.option("--vary-only", is_flag=True, help="only samples away from the search config")
@click.option("--epochs", type=int, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@labels_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def learning_curve_cmd(profiles, sizes, split, fixed_only, vary_only, epochs, seed, labels, as_json) -> None:
    """MAPE vs training-set size for the GNN and the op-count baseline, on one held-out set."""
    from gnnlat.learning_curve import learning_curve
    from gnnlat.record import split_fixed_vary
    from workflows.records import load_profiles

    records = load_profiles(profiles, None, labels)
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
    """The deployment network the latency term predicts and the backend that measures it."""
    d = SEARCH_CONFIG
    opts = [
        click.option("--deploy-C", "deploy_C", type=int, default=None, help=f"deployment C [{d.C}]"),
        click.option("--deploy-layers", type=int, default=None, help=f"deployment cells [{d.layers}]"),
        click.option("--deploy-resolution", type=int, default=None, help=f"deployment input size [{d.resolution}]"),
        click.option("--deploy-batch", type=int, default=None, help=f"deployment batch [{d.batch}]"),
        click.option("--backend", type=BACKEND_CHOICE, default=None,
                     help="backend that measures the result [the predictor's]"),
        click.option("--device", type=click.Choice(list(DEVICES)), default="auto", show_default=True,
                     help="where the network trains (auto: CUDA when available)"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def pop_deploy(kwargs: dict) -> NetworkConfig:
    return make_config(SEARCH_CONFIG, C=kwargs.pop("deploy_C"), layers=kwargs.pop("deploy_layers"),
                       resolution=kwargs.pop("deploy_resolution"), batch=kwargs.pop("deploy_batch"))


def load_predictor_for_search(path: str, backend: str | None, quiet: bool):
    """Load the predictor and check this machine against its device; warn on stderr when they differ."""
    from gnnlat.checkpoint import load_predictor
    from workflows.devices import check_device

    predictor = load_predictor(_root_path(path))
    check = check_device(predictor, backend)
    warning = check.warning(path, predictor.backend)
    if warning and not quiet:
        click.echo("warning: " + warning, err=True)
    return predictor, check


DEFAULT_MEMORY_PREDICTOR = "memory-cpu-reference"  # shipped: peak memory, eager PyTorch on the CPU


def memory_options(fn: Callable) -> Callable:
    """--lam-memory --target-mb --memory-predictor: the peak-memory cost term of a search."""
    opts = [
        click.option("--lam-memory", type=float, default=0.0, show_default=True,
                     help="weight of the peak-memory term λ_mem · MEM(α) / MEM_ref"),
        click.option("--target-mb", type=float, default=None, help="adapt λ_mem to land on this predicted peak memory"),
        click.option("--memory-predictor", "memory_predictor_path", default=DEFAULT_MEMORY_PREDICTOR,
                     show_default=True, metavar="FILE|NAME", help="a memory predictor (train-predictor --metric memory)"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def load_memory_predictor(path: str):
    """A predictor of peak memory; a one-line error for a predictor of another metric."""
    from gnnlat.checkpoint import load_predictor
    from gnnlat.predictor import PredictorError

    predictor = load_predictor(_root_path(path))
    if predictor.metric != "memory":
        raise PredictorError(f"{path} predicts {predictor.metric}, not memory (train one with "
                             "train-predictor --metric memory)")
    return predictor


def epoch_bar(as_json: bool, total: int, desc: str):
    """A tqdm bar over epochs (seconds per epoch shown by tqdm) and its per-epoch update callback."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, disable=True if as_json else None)

    def update(rec: dict) -> None:
        bar.n = rec["epoch"]
        shown = {k: rec[k] for k in ("ce", "lat_term", "predicted_ms", "val_acc", "lam", "train_loss") if k in rec}
        bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()})
        bar.refresh()

    return bar, update


def given(**options: Any) -> dict[str, Any]:
    """The options the user set (None: keep the config's default)."""
    return {k: v for k, v in options.items() if v is not None}


dataset_option = click.option("--dataset", type=click.Choice(list(DATASETS)),
                              default=default(SearchConfig, "dataset"), show_default=True)
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="cifar10 python batches (data_batch_1..5, test_batch)")


@main.command()
@click.option("--lam", type=float, default=SearchConfig.lam, show_default=True, help="weight λ of the latency term")
@dataset_option
@data_dir_option
@predictor_option
@click.option("--epochs", type=int, default=None, help=f"search epochs [{default(SearchConfig, 'epochs')}]")
@click.option("--batch-size", type=int, default=None, help=f"[{default(SearchConfig, 'batch_size')}]")
@click.option("--C", "C", type=int, default=None, help=f"supernet channels (search proxy) [{default(SearchConfig, 'C')}]")
@click.option("--layers", type=int, default=None, help=f"supernet cells (search proxy) [{default(SearchConfig, 'layers')}]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option("--out", "out_dir", default=default(SearchConfig, "out_dir"), show_default=True,
              type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="continue the interrupted search in --out")
@click.option("--target-ms", type=float, default=None, help="adapt λ to land on this predicted latency")
@memory_options
@lat_ref_option
@deploy_options
@speed_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def search(lam, dataset, data_dir, predictor_path, epochs, batch_size, C, layers, seed, order, out_dir, resume,
           target_ms, lam_memory, target_mb, memory_predictor_path, lat_ref, device, speed_check, as_json,
           **kwargs) -> None:
    """Latency-aware DARTS search: loss = CE + λ · LAT(α) / LAT_ref [+ λ_mem · MEM(α) / MEM_ref]."""
    from workflows.devices import check_speed
    from workflows.runs import search_and_measure

    deploy = pop_deploy(kwargs)
    predictor, check = load_predictor_for_search(predictor_path, kwargs.pop("backend"), as_json)
    speed = speed_report(check_speed(predictor, check.backend), as_json) if speed_check else None
    cfg = replace(SearchConfig(), lam=lam, dataset=dataset, data_dir=data_dir, seed=seed, order=order, out_dir=out_dir,
                  target_ms=target_ms, lat_ref=lat_ref, device=device, lam_memory=lam_memory, target_mb=target_mb,
                  **given(epochs=epochs, batch_size=batch_size, C=C, layers=layers))
    memory_predictor = load_memory_predictor(memory_predictor_path) if cfg.uses_memory else None
    bar, update = epoch_bar(as_json, cfg.epochs, "search")
    with bar:
        run = search_and_measure(cfg, predictor, deploy, check.backend, resume=resume, progress=update,
                                 memory_predictor=memory_predictor)
    r, m = run.result, run.measured
    payload = {"genotype": r.genotype.to_dict(), "genotype_text": r.genotype.to_darts(),
               "predicted_ms": r.predicted_ms, "measured_ms": run.measured_ms, "relative_error": run.relative_error,
               "measured_anchored_ms": m.get("anchored_ms"),
               "val_acc": r.val_acc, "lam": r.lam, "lat_ref_ms": r.lat_ref, "deploy_config": deploy.to_dict(),
               "backend": m["backend"], "device_match": check.match, "speed": speed, "out_dir": r.out_dir,
               "epoch_seconds": [h["time_s"] for h in r.history], "costs": run.costs}
    text = "\n".join([
        f"genotype      {r.out_dir}/genotype.json",
        f"              {r.genotype.to_darts()}",
        f"val accuracy  {r.val_acc:.2%} (search proxy)   λ {r.lam:g}",
        f"latency       predicted {r.predicted_ms:.3f} ms, measured {run.measured_ms:.3f} ms "
        f"({m['backend']}, {deploy.to_dict()}), relative error {run.relative_error:+.1%}"
        + (f"; at the predictor's speed {m['anchored_ms']:.3f} ms" if m.get("anchored_ms") else "")]
        + [f"{c['name']:<13} predicted {c['predicted']:.3f} {c['unit']}, measured {c['measured']:.3f} {c['unit']}   "
           f"λ {c['lam']:g}" for c in run.costs[1:] if c["measured"] is not None])
    emit(as_json, payload, text)


@main.command()
@click.argument("genotype")
@dataset_option
@data_dir_option
@click.option("--epochs", type=int, default=None, help=f"[{default(TrainConfig, 'epochs')}]")
@click.option("--C", "C", type=int, default=None, help=f"[{default(TrainConfig, 'C')}]")
@click.option("--layers", type=int, default=None, help=f"[{default(TrainConfig, 'layers')}]")
@click.option("--seed", type=int, default=0, show_default=True)
@deploy_options
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def train(genotype, dataset, data_dir, epochs, C, layers, seed, device, as_json, **kwargs) -> None:
    """Train GENOTYPE from scratch; report test accuracy, parameters and measured latency."""
    from workflows.runs import train_and_measure

    g = load_genotype_or_name(genotype)
    deploy = pop_deploy(kwargs)
    cfg = replace(TrainConfig(), dataset=dataset, data_dir=data_dir, seed=seed, device=device,
                  **given(epochs=epochs, C=C, layers=layers))
    bar, update = epoch_bar(as_json, cfg.epochs, "train")
    with bar:
        result = train_and_measure(g, cfg, deploy, kwargs.pop("backend") or "auto", progress=update)
    emit(as_json, result, f"test accuracy {result['test_acc']:.2%}, {result['params_m']:.3f} M parameters, "
                          f"measured {result['measured_ms']:.3f} ms ({result['backend']}, {deploy.to_dict()})")


def parse_floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.ClickException(f"{name} must be comma-separated numbers, got {text!r}") from None


@main.command()
@click.option("--lam", "lams", default="0,0.1,0.2,0.5", show_default=True, help="comma-separated λ values")
@click.option("--seeds", type=int, default=SweepConfig.seeds, show_default=True)
@dataset_option
@data_dir_option
@predictor_option
@click.option("--epochs", type=int, default=None, help=f"search epochs [{default(SearchConfig, 'epochs')}]")
@click.option("--train-epochs", type=int, default=None, help=f"retraining epochs [{default(TrainConfig, 'epochs')}]")
@click.option("--C", "C", type=int, default=None,
              help=f"supernet and retrained network channels [{default(SearchConfig, 'C')}]")
@click.option("--layers", type=int, default=None,
              help=f"supernet and retrained network cells [{default(SearchConfig, 'layers')}]")
@click.option("--out", "out_dir", default=default(SweepConfig, "out_dir"), show_default=True,
              type=click.Path(file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Pareto plot PNG")
@click.option("--cost-plot", type=click.Path(dir_okay=False), default=None,
              help="PNG of measured latency vs measured peak memory per run")
@click.option("--lam-memory", type=float, default=0.0, show_default=True,
              help="weight of the peak-memory term in every run (λ_mem · MEM(α) / MEM_ref)")
@click.option("--memory-predictor", "memory_predictor_path", default=DEFAULT_MEMORY_PREDICTOR, show_default=True,
              metavar="FILE|NAME", help="the memory predictor of the memory term")
@lat_ref_option
@deploy_options
@ray_option
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="retrain DARTS V2, all_skip, pools_only and latency-matched random cells with the same seeds")
@click.option("--random-cells", type=click.IntRange(min=1), default=BaselineConfig.random_cells, show_default=True,
              help="random cells within 5% of λ=0.2's predicted latency, screened for the random baseline")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def sweep(lams, seeds, dataset, data_dir, predictor_path, epochs, train_epochs, C, layers, out_dir, plot, cost_plot,
          lam_memory, memory_predictor_path, lat_ref, device, ray_address, baselines, random_cells, as_json,
          **kwargs) -> None:
    """Search and retrain for each λ and seed; table of latency and accuracy, Pareto plot. Resumable."""
    from gnnlat.plots import plot_pareto, plot_two_costs
    from workflows.sweep import run_sweep

    deploy = pop_deploy(kwargs)
    predictor, check = load_predictor_for_search(predictor_path, kwargs.pop("backend"), as_json)
    shared = dict(dataset=dataset, data_dir=data_dir, device=device, **given(C=C, layers=layers))
    cfg = SweepConfig(lams=parse_floats(lams, "--lam"), seeds=seeds, deploy=deploy, backend=check.backend,
                      out_dir=out_dir, search=replace(SearchConfig(), lat_ref=lat_ref, lam_memory=lam_memory, **shared,
                                                      **given(epochs=epochs)),
                      train=replace(TrainConfig(), **shared, **given(epochs=train_epochs)),
                      baselines=BaselineConfig(random_cells=random_cells) if baselines else None)
    memory_predictor = load_memory_predictor(memory_predictor_path) if cfg.search.uses_memory else None
    with progress_bar("sweep") as progress:
        result = run_sweep(cfg, predictor, progress, memory_predictor, ray_address)
    if plot:
        plot_pareto(result.summary, result.runs, plot, result.baseline_summary)
    if cost_plot:
        plot_two_costs(result.runs, cost_plot)
    lines = [f"λ_mem {lam_memory:g} in every run",
             "| λ | measured latency (ms) | vs λ=0 | peak memory (MB) | test accuracy | seeds |",
             "|---:|---:|---:|---:|---:|---:|"]
    for s in result.summary:
        rel = "n/a" if s["vs_lam0"] is None else f"{s['vs_lam0']:+.1%}"
        mem = f"{s['peak_memory_mb']:.3f} ± {s['peak_memory_mb_std']:.3f}" if "peak_memory_mb" in s else "n/a"
        lines.append(f"| {s['lam']:g} | {s['measured_ms']:.3f} ± {s['measured_ms_std']:.3f} | {rel} | {mem} | "
                     f"{100 * s['test_acc']:.2f} ± {100 * s['test_acc_std']:.2f} % | {s['seeds']} |")
    for b in result.baseline_summary:
        lines.append(f"| {b['baseline']} | {b['measured_ms']:.3f} ± {b['measured_ms_std']:.3f} | | | "
                     f"{100 * b['test_acc']:.2f} ± {100 * b['test_acc_std']:.2f} % | {b['seeds']} |")
    lines += trade_off_verdict(result.summary, result.baseline_summary)
    lines.append(f"latency: all {len(result.runs) + len(result.baselines)} genotypes re-timed together in "
                 f"interleaved rounds ({check.backend}); "
                 f"LAT_ref {result.lat_ref_ms:.4g} ms ({lat_ref})")
    emit(as_json, {"summary": result.summary, "runs": result.runs, "baseline_summary": result.baseline_summary,
                   "baselines": result.baselines, "deploy_config": deploy.to_dict(),
                   "backend": check.backend, "lat_ref": lat_ref, "lat_ref_ms": result.lat_ref_ms,
                   "lam_memory": lam_memory}, "\n".join(lines))


if __name__ == "__main__":
    main()

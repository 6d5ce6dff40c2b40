"""The built wheel works on its own: installed (not editable) into a fresh venv and run from an empty
directory, the shipped predictors and examples come from the package, not from this checkout.

The wheel is built from a copy of the working tree (``pip wheel --no-deps --no-build-isolation``,
offline, nothing written into the repository). The fresh venv has no pip and no packages of its
own: a ``.pth`` line puts the running interpreter's site-packages (torch, numpy, ... and pip) on its
path, without processing their ``.pth`` files, so this checkout's editable install stays invisible.
``make wheel-check`` runs only this file; ``make test`` (CI) runs it with the rest.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Never copied for the build: not package sources, large, or build leftovers that could leak in.
SKIP_NAMES = {".git", ".venv", "build", "dist", "runs", "profiles", "docs", ".benchmarks", ".pytest_cache",
              "__pycache__", ".mypy_cache", ".ruff_cache"}
# A small search proxy keeps the one-epoch search ~30 s on 2 cores; deployment stays the default.
SEARCH_ARGS = ["--epochs", "1", "--C", "4", "--layers", "3", "--json"]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # empty directory the installed commands run from

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
        # One torch thread, as in tests/cli_helpers.py: far faster than oversubscribed threads on 2 busy cores.
        env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        return subprocess.run([str(a) for a in args], cwd=self.workdir, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str | Path, timeout: float = 120) -> str:
        res = self.run(*args, timeout=timeout)
        assert res.returncode == 0, f"{args} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
        return res.stdout

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def gnnlat(self) -> Path:
        return self.venv / "bin" / "gnnlat"


def _ignore(directory: str, names: list[str]) -> set[str]:
    skipped = {n for n in names if n in SKIP_NAMES or n.endswith((".egg-info", ".pyc"))}
    # Any other virtual environment inside the tree.
    skipped |= {n for n in names if (Path(directory) / n / "pyvenv.cfg").is_file()}
    return skipped


def _site_dirs() -> list[str]:
    dirs = site.getsitepackages() if hasattr(site, "getsitepackages") else []
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"building the wheel offline needs {module} in this environment (make install has it)")
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv, workdir = base / "src", base / "dist", base / "venv", base / "work"
    shutil.copytree(ROOT, src, ignore=_ignore)
    workdir.mkdir()
    inst = Installed(wheel=Path(), venv=venv, workdir=workdir)

    inst.ok(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
            "-w", dist, src, timeout=300)
    wheels = sorted(dist.glob("gnnlat-*.whl"))
    assert len(wheels) == 1, wheels

    inst.ok(sys.executable, "-m", "venv", "--without-pip", venv)
    purelib = inst.ok(inst.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    Path(purelib, "_gnnlat_wheel_check_deps.pth").write_text("\n".join(_site_dirs()) + "\n")
    inst.ok(inst.python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheels[0],
            timeout=300)
    return Installed(wheel=wheels[0], venv=venv, workdir=workdir)


def test_wheel_holds_the_shipped_data_and_the_cli(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for name in ("gnnlat/shipped.py", "gnnlat/shipped_data/predictors/onnxruntime-reference.pt",
                 "gnnlat/shipped_data/predictors/cpu-reference.pt", "gnnlat/shipped_data/examples/darts_v2.json",
                 "gnnlat/shipped_data/examples/darts_v2.txt", "cli.py", "harness/__init__.py"):
        assert name in names, name
    assert not [n for n in names if n.startswith(("profiles/", "tests/", "benchmarks/")) or n.endswith(".db")]
    assert "gnnlat = cli:main" in entry_points


def test_installed_package_comes_from_the_wheel(installed: Installed) -> None:
    out = installed.ok(installed.python, "-c", (
        "import json, sys, cli, gnnlat, harness, gnnlat.shipped as s;"
        "print(json.dumps({'prefix': sys.prefix, 'files': [cli.__file__, gnnlat.__file__, harness.__file__],"
        " 'predictors': s.shipped_predictors(), 'examples': s.examples(),"
        " 'default': str(s.predictor_path(s.DEFAULT_PREDICTOR))}))"))
    info = json.loads(out)
    for f in [*info["files"], info["default"]]:
        assert Path(f).resolve().is_relative_to(Path(info["prefix"]).resolve()), (f, info["prefix"])
    assert {"onnxruntime-reference", "cpu-reference"} <= set(info["predictors"])
    assert {"darts_v2.json", "darts_v2.txt"} <= set(info["examples"])


def test_installed_describe_on_shipped_examples(installed: Installed) -> None:
    for name in ("darts_v2.json", "darts_v2.txt"):
        path = installed.ok(installed.python, "-c", f"from gnnlat.shipped import example; print(example({name!r}))")
        out = json.loads(installed.ok(installed.gnnlat, "describe", path.strip(), "--json"))
        assert round(out["params_m"], 1) == 3.3, out


def test_installed_one_epoch_search_with_the_default_predictor(installed: Installed) -> None:
    out_dir = installed.workdir / "run"
    out = json.loads(installed.ok(installed.gnnlat, "search", *SEARCH_ARGS, "--out", out_dir, timeout=600))
    genotype = out["genotype"]
    assert len(genotype["normal"]) == len(genotype["reduce"]) == 8, genotype
    assert out["predicted_ms"] > 0 and out_dir.is_dir()
    assert sorted(p.name for p in installed.workdir.iterdir()) == ["run"]  # nothing else written to the cwd

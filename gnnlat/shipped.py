"""Files shipped inside the package: reference latency predictors and example genotypes.

They live in ``gnnlat/shipped_data/`` (package data, so a wheel or a plain ``pip install .`` has them)
and are found through :mod:`importlib.resources`, never relative to the working directory:

* ``shipped_data/predictors/<name>.pt``: predictors trained on the reference profiles, named by
  stem (``"onnxruntime-reference"``, ``"cpu-reference"``); :data:`DEFAULT_PREDICTOR` is the one
  ``search`` uses by default.
* ``shipped_data/examples/<file>``: published genotypes (``"darts_v2.json"``, ``"darts_v2.txt"``).

:func:`predictor_path` is what the CLI calls for ``--predictor``: a user's existing file wins,
else a shipped name, else :class:`ShippedFileError` listing what is shipped.
"""
from __future__ import annotations

import atexit
import contextlib
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["DEFAULT_PREDICTOR", "ShippedFileError", "shipped_predictors", "shipped_predictor",
           "predictor_path", "examples", "example"]

#: The shipped predictor ``search`` / ``predict`` / ``validate`` use when ``--predictor`` is not given.
DEFAULT_PREDICTOR = "onnxruntime-reference"


def reference_predictor(backend: str) -> str:
    """The shipped predictor name for a backend's reference profile (it may not be shipped)."""
    return f"{backend}-reference"

_PACKAGE = "gnnlat"
_DATA = "shipped_data"
_PREDICTOR_SUFFIX = ".pt"
# Where the predictors lived in the repository before they became package data; a relative path
# under it ("predictors/cpu-reference.pt") still finds the shipped file when no such file exists.
_LEGACY_PREDICTOR_DIR = "predictors"

# Keeps files extracted from a zipped install alive until exit (no-op for a normal install).
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


class ShippedFileError(FileNotFoundError):
    """A path that is neither an existing file nor the name of a shipped file."""


def _folder(kind: str) -> Traversable:
    return resources.files(_PACKAGE).joinpath(_DATA, kind)


def _names(kind: str, suffix: str = "") -> list[str]:
    folder = _folder(kind)
    if not folder.is_dir():
        return []
    return sorted(f.name[:len(f.name) - len(suffix)] if suffix else f.name
                  for f in folder.iterdir() if f.is_file() and f.name.endswith(suffix))


def _as_path(item: Traversable) -> Path:
    """A real filesystem path for a resource (installed packages already are one)."""
    if isinstance(item, Path):
        return item
    return Path(_extracted.enter_context(resources.as_file(item)))


def shipped_predictors() -> list[str]:
    """Names of the shipped predictors (file stems, sorted), e.g. ``["cpu-reference", "onnxruntime-reference"]``."""
    return _names("predictors", _PREDICTOR_SUFFIX)


def examples() -> list[str]:
    """File names of the shipped example genotypes, e.g. ``["darts_v2.json", "darts_v2.txt"]``."""
    return _names("examples")


def shipped_predictor(name: str) -> Path:
    """The path of the shipped predictor ``name`` (with or without ``.pt``).

    Raises :class:`ShippedFileError` naming the shipped predictors when there is none by that name.
    """
    stem = name[:-len(_PREDICTOR_SUFFIX)] if name.endswith(_PREDICTOR_SUFFIX) else name
    item = _folder("predictors").joinpath(stem + _PREDICTOR_SUFFIX)
    if not stem or "/" in stem or "\\" in stem or not item.is_file():
        raise ShippedFileError(f"no shipped predictor named {name!r}; shipped predictors: "
                               f"{', '.join(shipped_predictors()) or 'none'}")
    return _as_path(item)


def example(name: str) -> Path:
    """The path of the shipped example genotype ``name`` (a file name such as ``"darts_v2.json"``).

    Raises :class:`ShippedFileError` naming the shipped examples when there is none by that name.
    """
    item = _folder("examples").joinpath(name)
    if not name or "/" in name or "\\" in name or not item.is_file():
        raise ShippedFileError(f"no shipped example named {name!r}; shipped examples: "
                               f"{', '.join(examples()) or 'none'}")
    return _as_path(item)


def _shipped_name(path: Path) -> str | None:
    """``x`` -> ``x``, ``predictors/x.pt`` -> ``x.pt``; None for any other path."""
    parts = path.parts
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] == _LEGACY_PREDICTOR_DIR:
        return parts[1]
    return None


def predictor_path(arg: str | Path) -> Path:
    """Resolve a ``--predictor`` argument: an existing file first, else a shipped predictor name.

    ``arg`` may be a user's file (absolute, relative to the working directory, or ``~``-prefixed),
    a shipped name (``"onnxruntime-reference"``, with or without ``.pt``), or a repository-era path
    such as ``"predictors/cpu-reference.pt"``. An existing file always wins over a shipped name;
    a directory is returned as given so the loader reports it. Raises :class:`ShippedFileError`
    (a ``FileNotFoundError`` whose message starts "no such predictor file") listing the shipped
    names when neither exists.
    """
    path = Path(arg).expanduser()
    if str(arg) and path.exists():
        return path
    name = _shipped_name(path) if str(arg) and not path.is_absolute() else None
    if name is not None:
        with contextlib.suppress(ShippedFileError):
            return shipped_predictor(name)
    raise ShippedFileError(f"no such predictor file: {arg} (not a file, nor a shipped predictor name; "
                           f"shipped: {', '.join(shipped_predictors()) or 'none'})")

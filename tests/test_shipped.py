"""Shipped package data: predictors and examples found by name from any directory; a user's file wins."""
from pathlib import Path

import pytest

import cli
from gnnlat.checkpoint import load_predictor
from gnnlat.genotype import load_genotype
from gnnlat.network import SEARCH_CONFIG
from gnnlat.published import DARTS_V2
from gnnlat.shipped import (DEFAULT_PREDICTOR, ShippedFileError, example, examples, predictor_path,
                            shipped_predictor, shipped_predictors)

REFERENCE = {"onnxruntime-reference": "onnxruntime", "cpu-reference": "cpu", "memory-cpu-reference": "cpu"}


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs from an empty directory, so nothing resolves against the checkout by accident."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_shipped_names_resolve_to_package_files() -> None:
    assert set(REFERENCE) <= set(shipped_predictors())
    package = Path(__file__).resolve().parents[1] / "gnnlat" / "shipped_data"
    for name in REFERENCE:
        path = shipped_predictor(name)
        assert path.is_file() and path.name == f"{name}.pt"
        assert path.resolve().is_relative_to(package.resolve())
        assert shipped_predictor(f"{name}.pt") == path
        assert predictor_path(name) == path == predictor_path(f"{name}.pt")
        assert predictor_path(f"predictors/{name}.pt") == path  # the repository-era path still works
    assert DEFAULT_PREDICTOR == "onnxruntime-reference" == cli.DEFAULT_PREDICTOR
    assert cli._root_path(cli.DEFAULT_PREDICTOR) == str(shipped_predictor(DEFAULT_PREDICTOR))


def test_shipped_examples_are_darts_v2() -> None:
    assert {"darts_v2.json", "darts_v2.txt"} <= set(examples())
    for name in ("darts_v2.json", "darts_v2.txt"):
        assert load_genotype(str(example(name))) == DARTS_V2


def test_a_user_path_wins_over_a_shipped_name(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = elsewhere / "onnxruntime-reference.pt"
    own.write_bytes(b"mine")
    assert predictor_path("onnxruntime-reference.pt") == Path("onnxruntime-reference.pt")
    assert predictor_path(own) == own and predictor_path(str(own)) == own
    (elsewhere / "predictors").mkdir()
    (elsewhere / "predictors" / "cpu-reference.pt").write_bytes(b"mine too")
    assert predictor_path("predictors/cpu-reference.pt") == Path("predictors/cpu-reference.pt")
    # A bare name that is not a file here still means the shipped one.
    assert predictor_path("onnxruntime-reference") == shipped_predictor("onnxruntime-reference")
    monkeypatch.setenv("HOME", str(elsewhere))
    assert predictor_path("~/onnxruntime-reference.pt") == own


@pytest.mark.parametrize("arg", ["no-such-predictor", "no-such.pt", "predictors/no-such.pt", "other/cpu-reference.pt",
                                 "/nonexistent/onnxruntime-reference.pt", "../onnxruntime-reference.pt", ""])
def test_neither_a_file_nor_a_shipped_name_lists_the_shipped_names(arg: str) -> None:
    with pytest.raises(ShippedFileError) as err:
        predictor_path(arg)
    assert isinstance(err.value, FileNotFoundError)  # the CLI reports it as one clean line
    message = str(err.value)
    assert message.startswith("no such predictor file")
    assert all(name in message for name in REFERENCE)


@pytest.mark.parametrize("name", ["nope", "../predictor.py", "examples/darts_v2.json", ""])
def test_unknown_shipped_names(name: str) -> None:
    with pytest.raises(ShippedFileError, match="shipped predictors: .*onnxruntime-reference"):
        shipped_predictor(name)
    with pytest.raises(ShippedFileError, match="shipped examples: .*darts_v2.json"):
        example(name)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_shipped_predictor_loads(name: str) -> None:
    predictor = load_predictor(shipped_predictor(name))
    assert predictor.backend == REFERENCE[name]
    assert not predictor.training
    assert float(predictor.predict([DARTS_V2], SEARCH_CONFIG)[0]) > 0


def test_shipped_memory_predictor_is_the_search_default() -> None:
    predictor = load_predictor(shipped_predictor(cli.DEFAULT_MEMORY_PREDICTOR))
    assert predictor.metric == "memory" and predictor.unit == "MB"
    assert 1.0 < float(predictor.predict([DARTS_V2], SEARCH_CONFIG)[0]) < 5.0  # MB, batch 1 at the search config

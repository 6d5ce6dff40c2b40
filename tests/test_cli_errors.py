"""The CLI prints the project's own errors (bad input) as one line and lets a bug keep its traceback."""
import gnnlat.network
from gnnlat.genotype import GenotypeError
from gnnlat.published import DARTS_V2
from tests.cli_helpers import assert_clean_failure, invoke


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr(gnnlat.network, "describe_network", broken)
    res = invoke("describe", DARTS_V2.to_darts())
    assert res.exit_code != 0 and isinstance(res.exception, RuntimeError)


def test_a_value_error_from_elsewhere_is_not_called_bad_input(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("from deep inside a library")

    monkeypatch.setattr(gnnlat.network, "describe_network", broken)
    assert isinstance(invoke("describe", DARTS_V2.to_darts()).exception, ValueError)


def test_project_errors_are_one_line(monkeypatch):
    def bad(*args, **kwargs):
        raise GenotypeError("edge 3 reads node 7, which does not exist yet")

    monkeypatch.setattr(gnnlat.network, "describe_network", bad)
    assert_clean_failure(invoke("describe", DARTS_V2.to_darts()), "edge 3 reads node 7")

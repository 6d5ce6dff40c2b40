import json

import pytest

from gnnlat.published import DARTS_V2
from tests.cli_helpers import assert_clean_failure, invoke, invoke_json


def test_describe_json_on_the_published_darts_cell(root):
    out = invoke_json("describe", root / "gnnlat/shipped_data/examples" / "darts_v2.json")
    assert round(out["params_m"], 1) == 3.3
    assert out["macs_m"] > 400
    assert out["op_counts"]["normal"]["sep_conv_3x3"] == 5
    assert out["config"]["C"] == 36 and out["config"]["layers"] == 20


def test_describe_text_forms_and_config(root):
    res = invoke("describe", DARTS_V2.to_darts(), "--C", "16", "--layers", "8")
    assert res.exit_code == 0 and "parameters" in res.output
    small = invoke_json("describe", root / "gnnlat/shipped_data/examples" / "darts_v2.txt", "--C", "16", "--layers", "8")
    big = invoke_json("describe", root / "gnnlat/shipped_data/examples" / "darts_v2.txt")
    assert small["params_m"] < big["params_m"]


@pytest.mark.parametrize("content, needle", [
    ({"normal": [["conv_9x9", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}, "unknown op"),
    ({"normal": [["sep_conv_3x3", 7]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}, "out of range"),
    ({"normal": [["sep_conv_3x3", 0]] * 3, "reduce": [["max_pool_3x3", 0]] * 8}, "pair"),
    ({"normal": [["none", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}, "none"),
])
def test_describe_bad_genotypes(tmp_path, content, needle):
    f = tmp_path / "g.json"
    f.write_text(json.dumps(content))
    assert_clean_failure(invoke("describe", f), needle)


def test_describe_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"normal": [')
    assert_clean_failure(invoke("describe", bad), "json")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert_clean_failure(invoke("describe", empty), "empty")
    assert_clean_failure(invoke("describe", tmp_path / "nope.json"), "no such")
    assert_clean_failure(invoke("describe", str(tmp_path)), f"no such genotype file: {tmp_path}")


def test_describe_refuses_code_in_darts_text(tmp_path):
    marker = tmp_path / "pwned"
    text = f"Genotype(normal=__import__('os').system('touch {marker}'), normal_concat=[2], reduce=[], reduce_concat=[2])"
    assert_clean_failure(invoke("describe", text), "only literals")
    assert not marker.exists()


def test_describe_bad_config():
    assert_clean_failure(invoke("describe", DARTS_V2.to_darts(), "--C", "7"), "even")
    assert_clean_failure(invoke("describe", DARTS_V2.to_darts(), "--layers", "0"), "layers")

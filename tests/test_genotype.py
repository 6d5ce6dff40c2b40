"""Genotype validation, JSON / DARTS-text round trips, safe parsing, loading and sampling."""
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gnnlat.genotype import Genotype, GenotypeError, load_genotype, random_genotype, sample_genotypes
from gnnlat.operations import PRIMITIVES
from gnnlat.published import AMOEBANET, DARTS_V2, NASNET, PUBLISHED

NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_3x3", 2)]
REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("avg_pool_3x3", 1)]


def make(**overrides: Any) -> Genotype:
    kwargs: dict[str, Any] = dict(normal=NORMAL, normal_concat=[2, 3], reduce=REDUCE, reduce_concat=[2, 3])
    kwargs.update(overrides)
    return Genotype(**kwargs)


def with_pair(k: int, pair: Any) -> list[Any]:
    pairs: list[Any] = list(NORMAL)
    pairs[k] = pair
    return pairs


DARTS_REPO_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


# ---- validation ----------------------------------------------------------------------
def test_valid_genotype_is_normalised_to_tuples() -> None:
    g = make(normal=[list(p) for p in NORMAL], normal_concat=range(2, 4))
    assert g.normal == tuple(NORMAL) and g.normal_concat == (2, 3)
    assert g.steps == 2
    assert g.cell(True) == (tuple(REDUCE), (2, 3))
    assert hash(g) == hash(make())  # frozen and hashable: usable as a dict key


@pytest.mark.parametrize("overrides, message", [
    (dict(normal=with_pair(1, ("conv_9x9", 1))), r"normal\[1\]: unknown op 'conv_9x9'"),
    (dict(normal=with_pair(0, ("sep_conv_3x3", -1))), r"normal\[0\]: input -1 out of range for node 2"),
    (dict(normal=with_pair(1, ("sep_conv_3x3", 2))),
     r"normal\[1\]: input 2 out of range for node 2 \(allowed 0\.\.1\)"),
    (dict(normal=with_pair(3, ("sep_conv_3x3", 3))), r"input 3 out of range for node 3"),
    (dict(reduce=REDUCE[:3]), r"reduce: need 2 \(op, input\) pairs per intermediate node, got 3 pair"),
    (dict(normal=[]), r"normal: need 2 \(op, input\) pairs per intermediate node, got 0 pair"),
    (dict(normal=with_pair(2, ("none", 0))), r"normal\[2\]: 'none' is not allowed in a derived cell"),
    (dict(normal_concat=[2, 4]), r"normal_concat: node 4 out of range \(allowed 2\.\.3\)"),
    (dict(reduce_concat=[1, 2]), r"reduce_concat: node 1 out of range"),
    (dict(normal_concat=[2, 3, 3]), r"normal_concat: repeated node"),
    (dict(reduce_concat=[]), r"reduce_concat: must name at least one node"),
    (dict(normal="sep_conv_3x3"), r"normal: expected a list of \[op, input\] pairs, got str"),
    (dict(reduce={"a": 1}), r"reduce: expected a list of \[op, input\] pairs, got dict"),
    (dict(normal=with_pair(0, "sep_conv_3x3")), r"normal\[0\]: expected \[op_name, input_index\]"),
    (dict(normal=with_pair(0, ("sep_conv_3x3", 0, 1))), r"normal\[0\]: expected \[op_name, input_index\]"),
    (dict(normal=with_pair(0, (4, 0))), r"normal\[0\]: expected \[op_name, input_index\]"),
    (dict(normal=with_pair(0, ("sep_conv_3x3", 0.0))), r"normal\[0\]: expected \[op_name, input_index\]"),
    (dict(normal=with_pair(1, ("sep_conv_3x3", True))), r"normal\[1\]: expected \[op_name, input_index\]"),
    (dict(normal_concat=5), r"normal_concat: expected a list of node indices"),
    (dict(normal_concat="23"), r"normal_concat: expected a list of node indices"),
    (dict(reduce_concat=[True, 3]), r"reduce_concat: expected a list of node indices"),
])
def test_validation_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        make(**overrides)


def test_genotype_error_is_a_value_error() -> None:
    # The CLI (and callers) may catch ValueError for all bad input.
    assert issubclass(GenotypeError, ValueError)


@pytest.mark.parametrize("data, message", [
    ({"normal": NORMAL, "reduce": REDUCE, "extra": 1}, r"unknown key\(s\): extra"),
    ({"normal": NORMAL, "reduce": REDUCE, "normal_concat": [2, 3], "Reduce_concat": [2]},
     r"unknown key\(s\): Reduce_concat"),
    ({"normal": NORMAL}, r"missing key\(s\): reduce"),
    ({}, r"missing key\(s\): normal, reduce"),
    ([NORMAL, REDUCE], r"must be a JSON object"),
    ("normal", r"must be a JSON object"),
    (None, r"must be a JSON object"),
])
def test_from_dict_errors(data: Any, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_dict(data)


def test_from_dict_defaults_concat_to_all_intermediate_nodes() -> None:
    g = Genotype.from_dict({"normal": NORMAL, "reduce": REDUCE})
    assert g.normal_concat == (2, 3) and g.reduce_concat == (2, 3)


@pytest.mark.parametrize("text, message", [
    ("{", r"not valid JSON"),
    ("", r"not valid JSON"),
    ("[1, 2]", r"must be a JSON object"),
    ("[" * 100_000, r"nested too deeply|not valid JSON"),
])
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_json(text)


# ---- round trips -----------------------------------------------------------------------
def round_trip_cases() -> list[Genotype]:
    rng = random.Random(7)
    randoms = [random_genotype(rng, steps) for steps in (1, 2, 3, 4, 4, 4, 5, 6)]
    odd_concat = make(normal_concat=[3, 2], reduce_concat=[3])
    return randoms + list(PUBLISHED.values()) + [odd_concat]


@pytest.mark.parametrize("g", round_trip_cases(), ids=str)
def test_json_round_trip(g: Genotype) -> None:
    text = g.to_json()
    assert Genotype.from_json(text) == g
    assert Genotype.from_dict(g.to_dict()) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert set(json.loads(text)) == {"normal", "normal_concat", "reduce", "reduce_concat"}


@pytest.mark.parametrize("g", round_trip_cases(), ids=str)
def test_darts_text_round_trip(g: Genotype) -> None:
    text = g.to_darts()
    assert text.startswith("Genotype(normal=[(")
    assert Genotype.from_darts(text) == g
    assert str(g) == text


def test_to_json_is_canonical() -> None:
    # The profile store keys on this string: equal genotypes must give identical text.
    a = make(normal=[list(p) for p in NORMAL], normal_concat=range(2, 4))
    b = Genotype.from_json(json.dumps(make().to_dict(), indent=2))
    assert a.to_json() == b.to_json()
    assert " " not in a.to_json()


def test_published_cells_round_trip_with_five_steps_and_custom_concat() -> None:
    assert NASNET.steps == 5 and AMOEBANET.steps == 5
    assert NASNET.reduce_concat == (4, 5, 6) and AMOEBANET.reduce_concat == (3, 4, 6)
    assert "reduce_concat=[3, 4, 6]" in AMOEBANET.to_darts()
    assert "normal_concat=range(2, 7)" in NASNET.to_darts()
    for g in (NASNET, AMOEBANET):
        assert Genotype.from_darts(g.to_darts()) == g
        assert Genotype.from_json(g.to_json()) == g


# ---- DARTS text form -----------------------------------------------------------------------
def test_parse_darts_repo_text() -> None:
    assert Genotype.from_darts(DARTS_REPO_TEXT) == DARTS_V2


def test_parse_darts_text_with_list_concat_and_layout() -> None:
    # Multi-line, spaces around '=', trailing commas and list concat, as NASNet is written in DARTS.
    text = """Genotype(
      normal = [
        ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 1),
        ('skip_connect', 0),
        ('dil_conv_3x3', 2),
      ],
      normal_concat = [2, 3],
      reduce = [('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 1)],
      reduce_concat = [2, 3],
    )"""
    assert Genotype.from_darts(text) == make()


def test_parse_darts_text_negative_index_gives_range_message() -> None:
    text = DARTS_REPO_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', -1)", 1)
    with pytest.raises(GenotypeError, match=r"input -1 out of range"):
        Genotype.from_darts(text)


MARKER = "gnnlat_pwned_marker"


def malicious_texts(marker: Path) -> list[str]:
    tail = ", normal_concat=range(2, 6), reduce=[], reduce_concat=range(2, 6))"
    return [
        f"Genotype(normal=__import__('os').system('touch {marker}'){tail}",
        f"__import__('os').system('touch {marker}')",
        f"Genotype(normal=[(open('{marker}', 'w').name, 0)]{tail}",
        f"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', len(open('{marker}', 'w').name))]{tail}",
        f"Genotype(normal=os.system('touch {marker}'){tail}",
        f"Genotype(normal=Genotype.__init__.__globals__{tail}",
        f"Genotype(normal=(lambda: __import__('os').system('touch {marker}'))(){tail}",
        f"Genotype(normal=[(f'{{__import__(\"os\").system(\"touch {marker}\")}}', 0)]{tail}",
        f"Genotype(normal=[(x, 0) for x in ['sep_conv_3x3']]{tail}",
        f"Genotype(normal=[('sep_conv_3x3', 0)] * 2{tail}",
        f"Genotype(normal={{'a': 1}}{tail}",
        "Genotype(**{'normal': []})",
        "Genotype([('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], [2])",
        f"genotypes.Genotype(normal=[]{tail}",
        f"print('{marker}')",
        "namedtuple('Genotype', 'normal')(normal=[])",
        f"Genotype(normal=[]{tail}; __import__('os').system('touch {marker}')",
        "Genotype(normal=[], normal_concat=range(10 ** 100), reduce=[], reduce_concat=[2])",
        "Genotype(normal=[], normal_concat=range(0, 99999999999999999999999999), reduce=[])",
        "Genotype(normal=[], normal_concat=range(0, 100000000), reduce=[])",
        "Genotype(normal=[], normal_concat=range(2, 6, 0), reduce=[])",
        "Genotype(normal=[], normal_concat=range(2, 6), normal_concat=[2], reduce=[])",
        f"Genotype(normal=[(b'sep_conv_3x3', 0)]{tail}",
        f"Genotype(normal=[('sep_conv_3x3', 0.5)]{tail}",
        "Genotype(normal=[('sep_conv_3x3', 0)]" + "\x00" + tail,
        "[" * 10_000,
        "",
    ]


def test_malicious_text_is_rejected_without_running(tmp_path: Path) -> None:
    marker = tmp_path / MARKER
    for text in malicious_texts(marker):
        with pytest.raises(GenotypeError):
            Genotype.from_darts(text)
        with pytest.raises(GenotypeError):
            load_genotype(text)
        assert not marker.exists(), text


@pytest.mark.parametrize("text, message", [
    ("Genotype(normal=[], normal_concat=range(0, 99999999999999999999999999), reduce=[])", r"invalid range"),
    ("Genotype(normal=[], normal_concat=range(0, 100000000), reduce=[])", r"range too long"),
    ("Genotype(normal=[], normal_concat=range(2, 6, 0), reduce=[])", r"invalid range"),
    ("Genotype(normal=[], normal_concat=range(2, 6), normal_concat=[2], reduce=[])", r"repeats keyword"),
    ("Genotype([('sep_conv_3x3', 0)])", r"keyword arguments"),
    ("Foo(normal=[])", r"single Genotype\(\.\.\.\) expression"),
    ("Genotype(normal=(lambda: 1)())", r"only literals"),
    ("Genotype(normal=os.path)", r"only literals and range.*found Attribute"),
    ("Genotype(normal=[(f'{1}', 0)])", r"found JoinedStr"),
    ("Genotype(normal=[", r"not a DARTS genotype expression"),
    ("Genotype(normal=[], reduce=[], extra=[])", r"unknown key\(s\): extra"),
])
def test_darts_text_error_messages(text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_darts(text)


# ---- load_genotype ---------------------------------------------------------------------
def test_load_from_json_path(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(DARTS_V2.to_dict(), indent=1))
    assert load_genotype(str(path)) == DARTS_V2


def test_load_from_darts_text_path(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text(DARTS_REPO_TEXT + "\n")
    assert load_genotype(str(path)) == DARTS_V2


def test_load_from_path_whose_name_looks_like_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative path such as "Genotype_v2.txt" is a file, not DARTS text.
    monkeypatch.chdir(tmp_path)
    Path("Genotype_v2.txt").write_text(NASNET.to_darts())
    assert load_genotype("Genotype_v2.txt") == NASNET


def test_load_from_literal_strings() -> None:
    assert load_genotype(DARTS_REPO_TEXT) == DARTS_V2
    assert load_genotype("  " + DARTS_V2.to_json() + "\n") == DARTS_V2
    assert load_genotype(AMOEBANET.to_darts()) == AMOEBANET


def test_load_example_files(root: Path) -> None:
    assert load_genotype(str(root / "gnnlat/shipped_data/examples" / "darts_v2.json")) == DARTS_V2
    assert load_genotype(str(root / "gnnlat/shipped_data/examples" / "darts_v2.txt")) == DARTS_V2


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GenotypeError, match=r"no such genotype file"):
        load_genotype(str(tmp_path / "missing.json"))
    with pytest.raises(GenotypeError, match=r"no such genotype file"):
        load_genotype(str(tmp_path))  # a directory is not a genotype file


@pytest.mark.parametrize("content", ["", "   \n\t\n"])
def test_load_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.json"
    path.write_text(content)
    with pytest.raises(GenotypeError, match=r"empty"):
        load_genotype(str(path))


@pytest.mark.parametrize("content", [bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00", b"\x00" * 64,
                                     b"{\"normal\": [\xff]}"])
def test_load_binary_garbage(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    with pytest.raises(GenotypeError):
        load_genotype(str(path))


@pytest.mark.parametrize("source", ["", "   ", "not a genotype"])
def test_load_nonsense_string(source: str) -> None:
    with pytest.raises(GenotypeError):
        load_genotype(source)


def test_load_invalid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"normal": [["sep_conv_3x3", 0]], "reduce": ')
    with pytest.raises(GenotypeError, match=r"not valid JSON"):
        load_genotype(str(path))


# ---- sampling ---------------------------------------------------------------------------
def test_sample_genotypes_is_seeded() -> None:
    a = sample_genotypes(seed=3, n=20)
    assert a == sample_genotypes(seed=3, n=20)
    assert a != sample_genotypes(seed=4, n=20)
    assert len(a) == 20
    assert sample_genotypes(seed=3, n=5) == a[:5]


def test_random_genotype_uses_only_the_given_rng() -> None:
    random.seed(0)
    a = random_genotype(random.Random(11))
    random.seed(1)  # the global RNG must not matter
    assert random_genotype(random.Random(11)) == a


@pytest.mark.parametrize("steps", [1, 2, 4, 6])
def test_random_genotypes_are_valid_darts_cells(steps: int) -> None:
    for g in sample_genotypes(seed=steps, n=50, steps=steps):
        assert g.steps == steps
        assert g.normal_concat == g.reduce_concat == tuple(range(2, 2 + steps))
        for pairs in (g.normal, g.reduce):
            assert len(pairs) == 2 * steps
            for i in range(steps):
                (op_a, a), (op_b, b) = pairs[2 * i], pairs[2 * i + 1]
                assert a != b and 0 <= a < i + 2 and 0 <= b < i + 2
                assert "none" not in (op_a, op_b)
        Genotype.from_json(g.to_json())  # re-validates


def test_random_genotypes_cover_every_non_none_primitive() -> None:
    seen_ops: set[str] = set()
    seen_inputs: set[tuple[int, int]] = set()
    for g in sample_genotypes(seed=0, n=300):
        for pairs in (g.normal, g.reduce):
            seen_ops.update(op for op, _ in pairs)
            seen_inputs.update((k // 2 + 2, inp) for k, (_, inp) in enumerate(pairs))
    assert seen_ops == set(PRIMITIVES) - {"none"}
    assert seen_inputs == {(node, inp) for node in range(2, 6) for inp in range(node)}


def test_random_genotype_restricted_ops() -> None:
    g = random_genotype(random.Random(0), steps=3, ops=["skip_connect"])
    assert {op for op, _ in g.normal + g.reduce} == {"skip_connect"}

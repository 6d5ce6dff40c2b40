"""Packages import one way: gnnlat ← harness ← workflows ← cli (an arrow points at what is imported).

Every import statement of every module counts, also those inside functions, so the rule cannot be
dodged by a local import.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gnnlat", "harness", "workflows")
# What each package may import from this project (besides itself).
ALLOWED = {"gnnlat": set(), "harness": {"gnnlat"}, "workflows": {"gnnlat", "harness"}}
# Inside gnnlat, data flows encoder → predictor → search: the predictor side never imports the search side.
PREDICTOR_SIDE = ("encoding", "predictor", "checkpoint", "record", "identity", "split", "fit", "learning_curve",
                  "baseline")
SEARCH_SIDE = {"search", "search_config", "search_checkpoint", "architect", "derive", "lat_ref", "lambda_control",
               "train", "sweep", "sweep_baselines", "steps"}


def project_imports(path: Path) -> set[str]:
    """Dotted names of this project's modules imported anywhere in ``path``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in (*PACKAGES, "cli")}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_one_way(package):
    for path in modules(package):
        for name in project_imports(path):
            top = name.split(".")[0]
            assert top == package or top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"


def test_predictor_side_never_imports_the_search_side():
    for stem in PREDICTOR_SIDE:
        imported = {n.split(".")[1] for n in project_imports(ROOT / "gnnlat" / f"{stem}.py") if "." in n}
        assert not imported & SEARCH_SIDE, f"gnnlat/{stem}.py imports {sorted(imported & SEARCH_SIDE)}"


def test_the_check_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from harness.store import ProfileStore\n    import workflows.records\n")
    assert project_imports(bad) == {"harness.store", "workflows.records"}


def test_every_module_is_checked():
    assert all(modules(p) for p in PACKAGES)


# Pairs of modules tolerated to import each other (debt, not a rule): none now; none may join.
KNOWN_MUTUAL_IMPORTS: set[tuple[str, str]] = set()


def test_no_two_modules_import_each_other():
    imports = {f"{p}.{path.stem}": project_imports(path) for p in PACKAGES for path in modules(p)}
    mutual = {tuple(sorted((a, b))) for a, names in imports.items() for b in names if a in imports.get(b, ())}
    assert mutual <= KNOWN_MUTUAL_IMPORTS, f"modules that import each other: {sorted(mutual - KNOWN_MUTUAL_IMPORTS)}"

"""The benchmarks share the tests' setup (single-threaded torch, ROOT on sys.path, gpu skips)."""
from tests.conftest import ROOT, pytest_collection_modifyitems, root  # noqa: F401

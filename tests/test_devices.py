"""--device auto|cpu|cuda for search and retraining (gnnlat.steps.resolve_device), and the GPU runs.

The CUDA tests are marked ``gpu``: they skip without CUDA and run with ``pytest -m gpu`` on a
machine that has it.
"""
import json
import shutil

import pytest
import torch

from gnnlat.published import DARTS_V2
from gnnlat.search import run_search
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.steps import resolve_device
from gnnlat.train import TrainConfig, TrainError, train_network
from tests.cli_helpers import assert_clean_failure, invoke

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
QUICK = dict(dataset="digits", epochs=2, C=4, layers=3, max_batches=2)


def flat_latency(w_normal, w_reduce):
    return 1.0 + (w_normal[:, 4:].sum() + w_reduce[:, 4:].sum()) / 10


def test_auto_follows_cuda_availability():
    assert resolve_device("auto", SearchError).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu", SearchError).type == "cpu"


@no_cuda
def test_cuda_without_a_gpu_is_a_clean_error(tmp_path):
    with pytest.raises(SearchError, match="no CUDA GPU"):
        run_search(SearchConfig(device="cuda", out_dir=str(tmp_path / "s"), **QUICK), flat_latency)
    assert not (tmp_path / "s").exists()
    with pytest.raises(TrainError, match="no CUDA GPU"):
        train_network(DARTS_V2, TrainConfig(device="cuda", **QUICK))


@no_cuda
@pytest.mark.parametrize("command", ["search", "train"])
def test_cli_device_cuda_without_a_gpu(tmp_path, command):
    args = ["--epochs", "1", "--C", "4", "--layers", "3", "--device", "cuda"]
    target = ["--out", tmp_path / "s"] if command == "search" else [DARTS_V2.to_darts()]
    assert_clean_failure(invoke(command, *target, *args), "no CUDA GPU")


def test_unknown_device_is_refused():
    with pytest.raises(SearchError, match="device must be one of"):
        SearchConfig(device="tpu").validate()


@pytest.mark.gpu
def test_search_on_cuda_resumes_to_the_same_genotype_and_loads_on_cpu(tmp_path):
    def cfg(name, device, **kw):
        return SearchConfig(device=device, out_dir=str(tmp_path / name), **{**QUICK, **kw})

    def stop_after_one_epoch(record):
        raise KeyboardInterrupt

    whole = run_search(cfg("a", "cuda"), flat_latency)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg("b", "cuda"), flat_latency, progress=stop_after_one_epoch)
    state = torch.load(tmp_path / "b" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and "cuda" in state["rng"]
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    assert run_search(cfg("b", "cuda"), flat_latency, resume=True).genotype == whole.genotype
    on_cpu = run_search(cfg("c", "cpu"), flat_latency, resume=True)
    assert on_cpu.history[0]["genotype"] == whole.history[0]["genotype"] and len(on_cpu.history) == QUICK["epochs"]
    assert json.loads((tmp_path / "c" / "genotype.json").read_text()) == on_cpu.genotype.to_dict()


@pytest.mark.gpu
def test_train_on_cuda_is_seeded():
    a = train_network(DARTS_V2, TrainConfig(device="cuda", **QUICK))
    b = train_network(DARTS_V2, TrainConfig(device="cuda", **QUICK))
    assert a["test_acc"] == b["test_acc"] and 0 < a["params_m"]

import pickle

import numpy as np
import pytest
import torch

from gnnlat.published import DARTS_V2
from gnnlat.train import TrainConfig, TrainError, crop_flip, train_network


def test_train_network_tiny_digits():
    cfg = TrainConfig(epochs=2, batch_size=32, C=4, layers=3, max_batches=4, seed=0)
    seen = []
    out = train_network(DARTS_V2, cfg, progress=seen.append)
    assert set(out) >= {"test_acc", "val_acc", "params_m", "epochs", "train_time_s"}
    assert 0 <= out["test_acc"] <= 1 and 0 <= out["val_acc"] <= 1
    assert out["epochs"] == 2 and out["train_time_s"] > 0
    assert 0.001 < out["params_m"] < 0.1  # C=4, 3 cells: a few thousand weights
    assert [s["epoch"] for s in seen] == [1, 2]
    assert seen[0]["drop_path_prob"] == 0.0 and seen[1]["drop_path_prob"] > 0
    assert all(np.isfinite(s["train_loss"]) for s in seen)
    assert out["val_acc"] == seen[-1]["val_acc"]


def test_train_network_is_seeded():
    cfg = TrainConfig(epochs=1, batch_size=32, C=4, layers=3, max_batches=2, seed=3)
    a, b = train_network(DARTS_V2, cfg), train_network(DARTS_V2, cfg)
    assert (a["test_acc"], a["val_acc"]) == (b["test_acc"], b["val_acc"])


def test_train_network_cifar10_files_with_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with (tmp_path / name).open("wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (12, 3072), dtype=np.uint8),
                         b"labels": [int(v) for v in rng.integers(0, 10, 12)]}, fh)
    cfg = TrainConfig(dataset="cifar10", data_dir=str(tmp_path), epochs=1, batch_size=16, C=4, layers=3,
                      max_batches=1)
    out = train_network(DARTS_V2, cfg)
    assert 0 <= out["test_acc"] <= 1


def test_crop_flip_takes_shifted_windows():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 8, 8)
    y = crop_flip(x, g, pad=2)
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(y[i], w) for w in windows)
    assert not torch.equal(y, x)  # with 6 images, some crop is off-centre or flipped


@pytest.mark.parametrize("kw", [{"epochs": 0}, {"lr": 0.0}, {"drop_path_prob": 1.0}, {"C": 3}])
def test_bad_train_config(kw):
    with pytest.raises(ValueError):
        train_network(DARTS_V2, TrainConfig(**kw))


def test_train_error_is_value_error():
    assert issubclass(TrainError, ValueError)

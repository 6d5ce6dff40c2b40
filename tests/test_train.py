from dataclasses import replace

import numpy as np
import pytest
import torch

import gnnlat.train
from gnnlat.published import DARTS_V2
from gnnlat.train import TrainConfig, TrainError, crop_flip, train_network
from tests.fake_cifar import write_cifar10


def test_train_network_tiny_digits():
    cfg = TrainConfig(dataset="digits", epochs=2, batch_size=32, C=4, layers=3, max_batches=4, seed=0)
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
    cfg = TrainConfig(dataset="digits", epochs=1, batch_size=32, C=4, layers=3, max_batches=2, seed=3)
    a, b = train_network(DARTS_V2, cfg), train_network(DARTS_V2, cfg)
    assert (a["test_acc"], a["val_acc"]) == (b["test_acc"], b["val_acc"])


def test_train_network_cifar10_files_with_augmentation(tmp_path, monkeypatch):
    """cifar10 train batches go through crop_flip by default; it changes them, the same way per seed."""
    write_cifar10(tmp_path, per_batch=12)
    batches = []  # (batch before, batch the network trains on)

    def spy(x, generator, pad=4):
        y = crop_flip(x, generator, pad)
        batches.append((x, y))
        return y

    monkeypatch.setattr(gnnlat.train, "crop_flip", spy)
    cfg = TrainConfig(dataset="cifar10", data_dir=str(tmp_path), epochs=1, batch_size=16, C=4, layers=3,
                      max_batches=2)

    def run(c):
        batches.clear()
        return train_network(DARTS_V2, c), list(batches)

    (out, seen), (out_again, seen_again), (_, seen_other) = run(cfg), run(cfg), run(replace(cfg, seed=1))
    assert len(seen) == 2 and all(x.shape == y.shape for x, y in seen)
    assert not any(torch.equal(x, y) for x, y in seen)  # every batch is cropped or flipped somewhere
    assert all(torch.equal(y, y_again) for (_, y), (_, y_again) in zip(seen, seen_again))
    assert out_again["test_acc"] == out["test_acc"] and out_again["val_acc"] == out["val_acc"]
    assert not torch.equal(seen[0][1], seen_other[0][1])  # another seed: other batches and crops
    assert run(replace(cfg, augment=False))[1] == []  # switched off, crop_flip is never called


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


@pytest.mark.parametrize("kw, match", [
    ({"epochs": 0}, "epochs must be a positive integer"), ({"lr": 0.0}, "lr must be a positive number"),
    ({"drop_path_prob": 1.0}, r"drop_path_prob must lie in \[0, 1\)"), ({"C": 3}, "bad network shape.*even"),
])
def test_bad_train_config(kw, match):
    with pytest.raises(TrainError, match=match):
        train_network(DARTS_V2, TrainConfig(dataset="digits", **kw))

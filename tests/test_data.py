import numpy as np
import pytest
import torch

from gnnlat.data import CIFAR10_MEAN, CIFAR10_STD, DataError, load_dataset
from tests.fake_cifar import FIRST_TEST_RGB, write_batch, write_cifar10

PER_BATCH = 30


# ---- digits ------------------------------------------------------------------------------
def test_digits_shapes_and_types():
    s = load_dataset("digits", seed=0)
    assert (s.in_channels, s.resolution, s.classes) == (1, 8, 10)
    for part in (s.train, s.val, s.test):
        x, y = part.tensors
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8) and len(x) == len(y)
        assert set(y.tolist()) == set(range(10))  # stratified: every class in every split
    sizes = [len(p) for p in (s.train, s.val, s.test)]
    assert sum(sizes) == 1797
    assert abs(sizes[0] / 1797 - 0.6) < 0.01 and abs(sizes[1] / 1797 - 0.2) < 0.01
    x_train = s.train.tensors[0]
    assert abs(float(x_train.mean())) < 1e-4 and abs(float(x_train.std()) - 1) < 1e-2


def test_digits_splits_partition_the_dataset():
    from sklearn.datasets import load_digits

    s = load_dataset("digits", seed=3)
    xs = torch.cat([p.tensors[0] for p in (s.train, s.val, s.test)]).flatten(1)
    # Undo the standardisation (affine), then compare the multiset of rows with the raw data:
    # equal multisets of the same size mean every image sits in exactly one split.
    raw = torch.from_numpy(load_digits().images.reshape(1797, 64).astype(np.float32))
    lo, hi = xs.min(), xs.max()
    restored = torch.round((xs - lo) / (hi - lo) * 16)
    assert torch.equal(_sorted_rows(restored), _sorted_rows(raw))


def test_digits_split_is_seeded():
    a, b, c = load_dataset("digits", seed=1), load_dataset("digits", seed=1), load_dataset("digits", seed=2)
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert not torch.equal(a.val.tensors[1], c.val.tensors[1])


def _sorted_rows(x: torch.Tensor) -> torch.Tensor:
    keys = [tuple(r) for r in x.tolist()]
    return torch.tensor(sorted(keys))


# ---- cifar10 -----------------------------------------------------------------------------
def test_cifar10_reads_pickled_batches(tmp_path):
    root = write_cifar10(tmp_path / "batches")
    s = load_dataset("cifar10", str(root), seed=0)
    assert (s.in_channels, s.resolution, s.classes) == (3, 32, 10)
    assert len(s.train) + len(s.val) == 5 * PER_BATCH
    assert 0 < len(s.val) < 0.25 * 5 * PER_BATCH
    assert len(s.test) == PER_BATCH
    x, y = s.test.tensors
    assert x.shape == (PER_BATCH, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    expected = [(v / 255 - m) / sd for v, m, sd in zip(FIRST_TEST_RGB, CIFAR10_MEAN, CIFAR10_STD)]
    for c in range(3):  # channel order R, G, B and per-channel normalisation
        assert torch.allclose(x[0, c], torch.full((32, 32), expected[c]), atol=1e-5)


def test_cifar10_accepts_parent_dir_and_splits_disjoint(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    s = load_dataset("cifar10", str(tmp_path), seed=0)
    train, val = s.train.tensors[0].flatten(1), s.val.tensors[0].flatten(1)
    # Random images are distinct, so no val row may appear in train.
    assert not any(bool((train == row).all(1).any()) for row in val)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("imagenet")


def test_cifar10_missing_dir(tmp_path):
    with pytest.raises(DataError, match="needs a data directory"):
        load_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10", str(tmp_path / "nope"))


def test_cifar10_missing_batch(tmp_path):
    root = write_cifar10(tmp_path / "b")
    (root / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", str(root))


def test_cifar10_corrupt_batch(tmp_path):
    root = write_cifar10(tmp_path / "b")
    (root / "data_batch_2").write_bytes(b"\x80\x04garbage that is not a pickle")
    with pytest.raises(DataError, match="cannot read cifar10 batch"):
        load_dataset("cifar10", str(root))


def test_cifar10_wrong_structure(tmp_path):
    root = write_cifar10(tmp_path / "b")
    write_batch(root / "test_batch", [1, 2, 3])
    with pytest.raises(DataError, match="not a dict"):
        load_dataset("cifar10", str(root))
    write_batch(root / "test_batch", {b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4})
    with pytest.raises(DataError, match="N×3072"):
        load_dataset("cifar10", str(root))
    write_batch(root / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(DataError, match="0..9"):
        load_dataset("cifar10", str(root))

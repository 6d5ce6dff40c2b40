"""Datasets for search and retraining, as in-memory train/val/test TensorDatasets.

Three sources:

* ``cluttered`` (the default): the proxy task of :mod:`gnnlat.cluttered`, digits on a 16×16
  canvas among fragments of other digits, where the cell's operations decide accuracy. Its data
  are fixed (they do not depend on a run's seed), so every cell and seed is scored on the same
  test images; pixels are standardised with the train split's mean and std.
* ``digits``: scikit-learn's 8×8 grey handwritten digits (1797 images, ships with sklearn).
  Pixels are scaled to [0, 1] and standardised with the train split's mean and std; a seeded,
  stratified 60/20/20 split keeps train/val/test disjoint.
* ``cifar10``: the standard python-pickle batches (``data_batch_1..5``, ``test_batch``) read from
  a directory the user names. A seeded, stratified 10 % of the train batches becomes the val split;
  pixels are normalised per channel with the usual CIFAR-10 mean and std.

Every failure to find or read a dataset raises :class:`DataError`.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from gnnlat.cluttered import ClutterConfig, render_cluttered
from gnnlat.errors import GnnlatError

DATASETS: tuple[str, ...] = ("cluttered", "digits", "cifar10")
DEFAULT_DATASET = "cluttered"

CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_VAL_FRACTION = 0.1
DIGITS_FRACTIONS = (0.6, 0.2, 0.2)  # train / val / test


class DataError(GnnlatError, ValueError):
    """A dataset that is unknown, missing or unreadable."""


@dataclass(frozen=True)
class DatasetSplits:
    """Disjoint splits (float32 NCHW images, int64 labels) plus the shape facts a network needs."""

    name: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    in_channels: int
    resolution: int
    classes: int


def load_dataset(name: str, data_dir: str | None = None, seed: int = 0) -> DatasetSplits:
    """Load ``name`` (one of :data:`DATASETS`); ``seed`` fixes the split."""
    if name == "cluttered":
        return load_cluttered(ClutterConfig())
    if name == "digits":
        return _load_digits(seed)
    if name == "cifar10":
        return _load_cifar10(data_dir, seed)
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


# ---- digits ------------------------------------------------------------------------------
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 digits: images (N×8×8 float32 in [0, 1]) and labels (int64)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target.astype(np.int64)  # 0..16 intensities


def _load_digits(seed: int) -> DatasetSplits:
    images, labels = sklearn_digits()
    train_idx, val_idx, test_idx = _stratified_split(labels, DIGITS_FRACTIONS, seed)
    # Standardise with train statistics only, so val/test stay unseen.
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = (images - mean) / std
    x = torch.from_numpy(images).unsqueeze(1)  # N×1×8×8
    y = torch.from_numpy(labels)
    return DatasetSplits("digits", _subset(x, y, train_idx), _subset(x, y, val_idx),
                         _subset(x, y, test_idx), in_channels=1, resolution=8, classes=10)


# ---- cluttered digits (gnnlat.cluttered) ------------------------------------------------
def load_cluttered(cfg: ClutterConfig) -> DatasetSplits:
    """The cluttered-digits proxy: each split rendered from its own pool of source digits (the
    digits split 60/20/20 as above, with the config's seed)."""
    images, labels = sklearn_digits()
    pools = _stratified_split(labels, DIGITS_FRACTIONS, cfg.seed)
    splits = render_cluttered(images, labels, pools, (cfg.train, cfg.val, cfg.test), cfg)
    mean, std = splits[0].images.mean(), splits[0].images.std()  # train statistics only
    parts = [TensorDataset(torch.from_numpy((s.images - mean) / std).unsqueeze(1), torch.from_numpy(s.labels))
             for s in splits]
    return DatasetSplits("cluttered", *parts, in_channels=1, resolution=cfg.canvas, classes=10)


# ---- cifar10 -----------------------------------------------------------------------------
def _load_cifar10(data_dir: str | None, seed: int) -> DatasetSplits:
    root = _cifar10_root(data_dir)
    train_x, train_y = _concat([_read_cifar_batch(root / n) for n in CIFAR10_TRAIN_BATCHES])
    test_x, test_y = _read_cifar_batch(root / CIFAR10_TEST_BATCH)
    fit_idx, val_idx = _stratified_split(train_y, (1 - CIFAR10_VAL_FRACTION, CIFAR10_VAL_FRACTION), seed)
    x, y = _cifar_tensor(train_x), torch.from_numpy(train_y)
    return DatasetSplits("cifar10", _subset(x, y, fit_idx), _subset(x, y, val_idx),
                         TensorDataset(_cifar_tensor(test_x), torch.from_numpy(test_y)),
                         in_channels=3, resolution=32, classes=10)


def _cifar10_root(data_dir: str | None) -> Path:
    """Accept the batch directory itself or its parent holding ``cifar-10-batches-py``."""
    if not data_dir:
        raise DataError("cifar10 needs a data directory (the folder with data_batch_1..5 and test_batch)")
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"cifar10 data directory does not exist: {data_dir}")
    nested = root / "cifar-10-batches-py"
    if not (root / CIFAR10_TEST_BATCH).exists() and nested.is_dir():
        root = nested
    missing = [n for n in CIFAR10_TRAIN_BATCHES + (CIFAR10_TEST_BATCH,) if not (root / n).is_file()]
    if missing:
        raise DataError(f"cifar10 batch file(s) missing in {root}: {', '.join(missing)}")
    return root


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch → (N×3072 uint8, N int64). Only files the user pointed at are unpickled."""
    try:
        with path.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # a corrupt pickle can raise almost anything; report it uniformly
        raise DataError(f"cannot read cifar10 batch {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"cifar10 batch {path} is not a dict with b'data' and b'labels'")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"cifar10 batch {path}: b'data' must be uint8 N×3072, "
                        f"got {data.dtype} {tuple(data.shape)}")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"cifar10 batch {path}: b'labels' must be {len(data)} integers")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"cifar10 batch {path}: labels must lie in 0..9")
    return data, labels.astype(np.int64)


def _cifar_tensor(data: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---- splitting ---------------------------------------------------------------------------
def _stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices per class in the given fractions (seeded), so every split sees every class.

    Each class is shuffled and cut at rounded cumulative fractions; the last part takes the rest.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)[:-1]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        cuts = np.round(bounds * len(idx)).astype(int)
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _subset(x: torch.Tensor, y: torch.Tensor, idx: np.ndarray) -> TensorDataset:
    index = torch.from_numpy(idx)
    return TensorDataset(x[index].contiguous(), y[index].contiguous())


def split_for_search(train: TensorDataset, portion: float, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """Seeded split of the train set into the weight half and the α half (DARTS train_portion)."""
    x, y = train.tensors
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(round(portion * len(y)))
    if cut < 1 or cut >= len(y):
        raise DataError(f"train split of {len(y)} examples is too small to halve for search")
    a, b = perm[:cut].sort().values, perm[cut:].sort().values
    return TensorDataset(x[a], y[a]), TensorDataset(x[b], y[b])


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, stream: int) -> list[torch.Tensor]:
    """Index batches of one epoch. The order depends only on (seed, epoch, stream), so a resumed
    run sees exactly the batches an uninterrupted one would."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 7 + stream) % (2**63))
    return list(torch.randperm(n, generator=g).split(batch_size))

"""Test helper: a tiny, seeded file set in the exact CIFAR-10 python format (pickled batches)."""
import pickle
from pathlib import Path

import numpy as np

BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
# The first test image is one flat colour, so tests can check channel order and normalisation.
FIRST_TEST_RGB = (255, 0, 128)


def write_batch(path: Path, batch: object) -> None:
    """Pickle ``batch`` to ``path`` as CIFAR-10 does (also used to write malformed batches)."""
    with path.open("wb") as fh:
        pickle.dump(batch, fh)


def write_cifar10(folder: Path, per_batch: int = 30, seed: int = 0) -> Path:
    """Five train batches and a test batch of ``per_batch`` random images each, in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in BATCHES:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        if name == "test_batch":
            data[0, :1024], data[0, 1024:2048], data[0, 2048:] = FIRST_TEST_RGB
        write_batch(folder / name, {b"batch_label": name.encode(), b"data": data, b"labels": labels,
                                    b"filenames": [b"x.png"] * per_batch})
    return folder

import numpy as np
import pytest
import torch

from gnnlat.cluttered import ClutterConfig, render_cluttered
from gnnlat.data import DIGITS_FRACTIONS, _stratified_split, load_dataset, sklearn_digits

SMALL = ClutterConfig(train=60, val=20, test=30)


@pytest.fixture(scope="module")
def digits():
    return sklearn_digits()


def render(digits, cfg: ClutterConfig = SMALL):
    images, labels = digits
    pools = _stratified_split(labels, DIGITS_FRACTIONS, cfg.seed)
    return pools, render_cluttered(images, labels, pools, (cfg.train, cfg.val, cfg.test), cfg)


def test_rendering_is_a_function_of_the_config(digits):
    _, a = render(digits)
    _, b = render(digits)
    _, other = render(digits, ClutterConfig(train=60, val=20, test=30, seed=1))
    for x, y in zip(a, b):
        assert np.array_equal(x.images, y.images) and np.array_equal(x.sources, y.sources)
    assert not np.array_equal(a[0].images, other[0].images)


def test_splits_never_share_a_source_digit(digits):
    pools, splits = render(digits)
    for pool, split in zip(pools, splits):
        assert set(split.sources.ravel()) <= set(pool.tolist())  # digit and fragments from its own pool
        assert split.sources.shape == (len(split.labels), 1 + SMALL.fragments)
    used = [set(s.sources.ravel()) for s in splits]
    assert not (used[0] & used[1]) and not (used[0] & used[2]) and not (used[1] & used[2])


def test_images_labels_and_range(digits):
    _, splits = render(digits)
    for s in splits:
        assert s.images.shape[1:] == (SMALL.canvas, SMALL.canvas) and s.images.dtype == np.float32
        assert s.images.min() >= 0 and s.images.max() <= 1
        assert np.array_equal(s.labels, digits[1][s.sources[:, 0]])  # the label is the digit's, not a fragment's


def test_a_plain_digit_lands_whole_on_the_canvas(digits):
    """No clutter, no noise, no rotation, scale 1: the canvas holds the source digit's ink, moved."""
    cfg = ClutterConfig(train=40, val=1, test=1, fragments=0, noise=0.0, rotation_deg=0.0, scale=(1.0, 1.0))
    _, (split, *_) = render(digits, cfg)
    ink = digits[0][split.sources[:, 0]].sum(axis=(1, 2))
    assert split.images.sum(axis=(1, 2)) == pytest.approx(ink, rel=0.02)
    centres = [np.argwhere(img > 0.05).mean(axis=0) for img in split.images]
    assert np.ptp(np.array(centres), axis=0).min() > 3  # placed at varying positions


def test_fragments_add_ink_from_other_digits(digits):
    plain = ClutterConfig(train=40, val=1, test=1, fragments=0, noise=0.0)
    cluttered = ClutterConfig(train=40, val=1, test=1, fragments=3, noise=0.0)
    _, (a, *_) = render(digits, plain)
    _, (b, *_) = render(digits, cluttered)
    assert b.images.sum() > a.images.sum() * 1.1


def test_load_dataset_cluttered():
    s = load_dataset("cluttered")
    assert (s.in_channels, s.resolution, s.classes) == (1, 16, 10)
    assert [len(p) for p in (s.train, s.val, s.test)] == [1600, 400, 1000]
    x = s.train.tensors[0]
    assert x.shape[1:] == (1, 16, 16) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    assert all(set(p.tensors[1].tolist()) == set(range(10)) for p in (s.train, s.val, s.test))
    assert torch.equal(load_dataset("cluttered", seed=5).test.tensors[0], s.test.tensors[0])  # run seeds share the data

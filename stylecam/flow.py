"""Optical flow helpers shared by the `flow` smoother and the warping-error benchmark.

Flow comes from OpenCV's DIS (no downloaded weights). Conventions: `flow_ab[y, x]` is the
displacement (dx, dy) that takes pixel (x, y) of frame a to its place in frame b, so
`warp(image_b, flow_ab)` lines frame b up with frame a (backward warping).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


class FlowEstimator:
    """DIS optical flow on grayscale frames, optionally on a downscaled copy (flow is
    scaled back up to full resolution)."""

    def __init__(self, preset: str = "medium", max_side: int = 0):
        self.dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])  # type: ignore[attr-defined]  # not in OpenCV's stubs
        self.max_side = max_side

    def gray(self, rgb: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h, w = g.shape
        if self.max_side and max(h, w) > self.max_side:
            s = self.max_side / max(h, w)
            g = cv2.resize(g, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        return g

    def __call__(self, gray_a: np.ndarray, gray_b: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Flow a->b between two outputs of `gray`, at `size` (W, H) if given."""
        flow = self.dis.calc(gray_a, gray_b, None)
        return resize_flow(flow, size) if size is not None else flow


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flow field resampled to `size` (W, H), its vectors scaled to the new pixel grid."""
    if (flow.shape[1], flow.shape[0]) == size:
        return flow
    sx, sy = size[0] / flow.shape[1], size[1] / flow.shape[0]
    flow = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= sx
    flow[..., 1] *= sy
    return flow


def sampling_maps(flow: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The cv2.remap maps of `warp(image, resize_flow(flow, size))` for a flow field computed
    at a smaller size: per axis one resize of the flow and one multiply-add onto the pixel
    grid (kept per size), instead of a two-channel resize, two scalings, a fresh grid and
    two sums, all at full size."""
    grid_x, grid_y = _pixel_grid(size)
    h, w = flow.shape[:2]
    map_x = cv2.scaleAdd(cv2.resize(np.ascontiguousarray(flow[..., 0]), size, interpolation=cv2.INTER_LINEAR),
                         size[0] / w, grid_x)
    map_y = cv2.scaleAdd(cv2.resize(np.ascontiguousarray(flow[..., 1]), size, interpolation=cv2.INTER_LINEAR),
                         size[1] / h, grid_y)
    return map_x, map_y


@functools.lru_cache(maxsize=4)  # the frame's size and the flow's
def _pixel_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel of a W x H frame, float32 (read only)."""
    grid_x, grid_y = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def warp(image: np.ndarray, flow: np.ndarray, sharp: bool = False) -> np.ndarray:
    """Sample `image` at (x, y) + flow[y, x] (bilinear, or bicubic if `sharp`; border replicated).

    Bicubic matters where a warp is applied to its own output frame after frame: bilinear
    resampling blurs a little each time and the blur adds up (it may overshoot: clip)."""
    h, w = flow.shape[:2]
    grid_x, grid_y = _pixel_grid((w, h))
    interpolation = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], interpolation,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Pixels of frame a whose flow can be trusted (Ruder et al. 2016): the forward-backward
    check marks occlusions, a large flow gradient marks motion boundaries. float32 0/1."""
    back = warp(flow_ba, flow_ab)  # flow_ba sampled where each pixel of a lands in b
    total = flow_ab + back
    consistent = (total ** 2).sum(-1) <= 0.01 * ((flow_ab ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
    gx = cv2.Sobel(flow_ab, cv2.CV_32F, 1, 0, ksize=1) / 2  # central differences, per channel
    gy = cv2.Sobel(flow_ab, cv2.CV_32F, 0, 1, ksize=1) / 2
    grad = (gx ** 2 + gy ** 2).sum(-1)
    boundary = grad > 0.01 * (flow_ab ** 2).sum(-1) + 0.002
    return (consistent & ~boundary).astype(np.float32)


def warping_error(out_a: np.ndarray, out_b: np.ndarray, flow_ab: np.ndarray, mask: np.ndarray) -> float:
    """Masked mean squared difference between frame a and frame b warped back to a, with
    images in [0, 1] (Lai et al. 2018, one frame pair)."""
    a = out_a.astype(np.float32) / 255.0
    b = warp(out_b.astype(np.float32) / 255.0, flow_ab)
    diff = ((a - b) ** 2).sum(-1)
    n = float(mask.sum())
    return float((diff * mask).sum() / n) if n else 0.0

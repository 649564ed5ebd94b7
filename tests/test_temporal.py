"""Temporal smoothing and the warping-error metric on synthetic motion with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from stylecam import StylecamError
from stylecam.flow import FlowEstimator, reliable_mask, warp, warping_error
from stylecam.temporal import EmaSmoothing, FlowSmoothing, make_smoother


def texture(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """Smooth random texture (trackable by optical flow)."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def shifted(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(np.roll(img, dy, axis=0), dx, axis=1)


def test_known_flow_gives_zero_warping_error():
    a = texture()
    b = shifted(a, 3, 2)  # content moves +3 px right, +2 px down
    flow_ab = np.zeros(a.shape[:2] + (2,), np.float32)
    flow_ab[..., 0], flow_ab[..., 1] = 3, 2
    mask = np.zeros(a.shape[:2], np.float32)
    mask[5:-5, 5:-5] = 1  # away from the wrapped-around border
    assert warping_error(a, b, flow_ab, mask) < 1e-10
    # and a wrong flow is penalised
    assert warping_error(a, b, np.zeros_like(flow_ab), mask) > 1e-3


def test_dis_flow_recovers_a_shift_and_mask_trusts_it():
    a = texture(seed=1)
    b = shifted(a, 4, -3)
    est = FlowEstimator("medium")
    ga, gb = est.gray(a), est.gray(b)
    fwd, back = est(ga, gb), est(gb, ga)
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(np.median(fwd[inner][..., 0]) - 4) < 0.3 and np.abs(np.median(fwd[inner][..., 1]) + 3) < 0.3
    mask = reliable_mask(fwd, back)
    assert mask[inner].mean() > 0.9
    interior = np.zeros_like(mask)
    interior[inner] = 1  # np.roll wraps content around the border, which no flow explains
    assert warping_error(a, b, fwd, mask * interior) < 2e-3


def test_reliable_mask_flags_inconsistent_flow():
    fwd = np.zeros((40, 40, 2), np.float32)
    back = np.zeros_like(fwd)
    fwd[10:20, 10:20] = (5, 0)  # a block that claims to move but the backward flow disagrees
    mask = reliable_mask(fwd, back)
    assert mask[12:18, 12:18].max() == 0 and mask[30:, 30:].min() == 1


def flicker(frame: np.ndarray, t: int) -> np.ndarray:
    """A stand-in stylization whose texture changes every frame (the flicker we fight)."""
    noise = np.random.default_rng(t).normal(0, 20, frame.shape)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["ema", "flow"])
def test_smoothing_cuts_flicker_on_a_static_scene(mode):
    frame = texture()
    smoother = make_smoother(mode)
    outs = [smoother(frame, flicker(frame, t)) for t in range(12)]
    raw = [flicker(frame, t) for t in range(12)]
    def jitter(seq):
        return np.mean([np.mean((seq[i + 1].astype(float) - seq[i]) ** 2) for i in range(4, 11)])
    assert jitter(outs) < 0.5 * jitter(raw)


def test_flow_smoothing_follows_motion_without_trails():
    """A textured scene panning right: flow smoothing keeps frames consistent along the
    motion, and EMA (which ignores motion) smears; the warping error tells them apart."""
    world = texture(120, 400, seed=3)
    frames = [np.ascontiguousarray(world[:, 4 * t:4 * t + 160]) for t in range(10)]
    flow_sm, ema = FlowSmoothing(0.6), EmaSmoothing(0.6)
    est = FlowEstimator("medium")
    errs = {"flow": [], "ema": [], "raw": []}
    prev = {}
    for t, f in enumerate(frames):
        styl = flicker(f, t)
        cur = {"flow": flow_sm(f, styl), "ema": ema(f, styl), "raw": styl}
        if prev:
            ga, gb = est.gray(frames[t - 1]), est.gray(f)
            fwd, back = est(ga, gb), est(gb, ga)
            mask = reliable_mask(fwd, back)
            for k in errs:
                errs[k].append(warping_error(prev[k], cur[k], fwd, mask))
        prev = cur
    assert np.mean(errs["flow"]) < 0.5 * np.mean(errs["raw"])
    # EMA blends misaligned frames: its output differs from the true content far more (ghosts)
    last = frames[-1].astype(float)
    err_flow = np.abs(prev["flow"].astype(float) - last)[:, 20:-20].mean()
    err_ema = np.abs(prev["ema"].astype(float) - last)[:, 20:-20].mean()
    assert err_flow < 0.6 * err_ema


def test_scene_cut_resets_history():
    a, b = texture(seed=1) // 3, 255 - texture(seed=2) // 3  # dark shot, then a bright one
    sm = FlowSmoothing(0.9)
    sm(a, a)
    out = sm(b, b)
    assert np.array_equal(out, b)


def test_bad_strength():
    with pytest.raises(StylecamError):
        make_smoother("flow", 1.0)
    with pytest.raises(StylecamError):
        make_smoother("wobble")


def test_warp_identity():
    img = texture()
    assert np.array_equal(warp(img, np.zeros(img.shape[:2] + (2,), np.float32)), img)


def test_sampling_maps_match_the_resized_flow_on_the_pixel_grid():
    """The smoother's full-size remap maps, built from the small flow, are exactly the maps
    of `warp` on `resize_flow` (odd sizes, a flow that varies everywhere)."""
    import cv2

    from stylecam.flow import resize_flow, sampling_maps

    rng = np.random.default_rng(3)
    flow = cv2.GaussianBlur(rng.normal(0, 3, (45, 80, 2)).astype(np.float32), (0, 0), 2)
    size = (321, 181)
    full = resize_flow(flow.copy(), size)
    grid_x, grid_y = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
    map_x, map_y = sampling_maps(flow, size)
    assert map_x.shape == map_y.shape == (181, 321)
    np.testing.assert_allclose(map_x, grid_x + full[..., 0], atol=1e-4)
    np.testing.assert_allclose(map_y, grid_y + full[..., 1], atol=1e-4)

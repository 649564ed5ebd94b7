"""The working size: the net paints a smaller copy of a large frame, and its output is
brought back to the frame's size guided by the full-resolution frame.

Guided upsampling after He & Sun ("Fast Guided Filter", 2015), in a form that keeps the
painting: the stylized output is modelled locally as a linear function of the frame's
luminance, a * Y + b, over (2r+1)^2 windows at the working size; the slopes `a`, averaged
over (2r-1)^2 windows, are upsampled bilinearly and carry the frame's full-resolution
detail, the part that downscaling removed, into the upsampled output:

    out = up(styled) + up(a) * (Y - up(Y_small))

`up` of the painting and of the small luminance is bicubic: enlarged 4.3 times (448 px to
1920), bilinear turns the edge of every painted stroke into a ramp as wide as the net's
pixels are at full size. On the 1080p frames of `benchmarks.worksize` (radius 3, slopes
averaged over 7x7) bicubic kept mosaic's strokes closer to the painting (style_ratio at
512 px 0.207 -> 0.166) with edges as sharp or sharper (10-90 % rise 2.64 -> 2.56 px) and
less overshoot (7.6 -> 6.8 levels), for about 2 ms more per 1080p frame on one core;
Lanczos measured the same, its resizes 8 times slower.

Where the painting follows the photo (an edge the net kept), `a` is its local contrast
ratio and the edge comes back as sharp as in the frame; where the net painted strokes the
photo does not have, `a` is about 0 and the strokes stay exactly as painted, at the size
the net painted them (the plain fast guided filter, out = up(a) * Y + up(b), blurs them
into window averages and lets the photo's own texture take their place).

Edge blur: a net paints the edges it keeps over one to two of its own pixels, wider than
the downscaled frame has them, and 1920 / work size times wider again at 1080p. With a
style's `edge_blur` (sigma, in work-size px; model metadata `stylecam.edge_blur`), Y_small
above is the small luminance blurred by that Gaussian: the linear model is fitted against
an edge as soft as the net's, and the detail term gives back everything finer, so the
edges the net kept come back at the frame's own sharpness. It also gives back the photo's
detail finer than that where the painting follows the photo, which suits a style that
paints over the photo's shapes (mosaic, candy) and not one that smooths them into flat
shapes (udnie, the_scream): each style's value is chosen by measurement (`benchmarks.worksize
--calibrate`), and a net that does not set one gets 0, the plain form above.

Guide radius: r, in work-size px, sets how far from one of the frame's edges its detail
reaches into the painting (the fit's window and the slopes' average together span
4r - 1 px). The default is 3; a style may set 2 (`guide_radius`, model metadata
`stylecam.guide_radius`), chosen by the same calibration: at the style's edge blur, the
radius with the sharper edges that keeps the painting. On the frames of
`benchmarks.worksize`, mosaic at its edge blur of 2 has a mean rise of 2.58 px at radius 3
and 2.34 px at 2 (the frames' own: 2.47), with less overshoot (6.7 -> 6.5 levels);
la_muse 3.08 -> 3.00 px, starry_night 3.31 -> 3.26 px; the other seven measured softer at
2 and keep 3. The two windows act together: fitted and averaged over the same 5x5 (He &
Sun's form) mosaic measured 2.56 px, no sharper than the default; over 3x3 (radius 1)
2.26 px, but there the three colour channels' slopes, each fitted to nine pixels, disagree
and the detail comes back as coloured speckle. Averaging the default's slopes over 5x5
instead of its fit's 7x7 moved no style's rise by more than 0.1 px.

Why not OpenCV's ximgproc (opencv-contrib, which would replace opencv-python-headless):
its guidedFilter and jointBilateralFilter filter at full resolution and expose no
coefficients, so they cannot upsample cheaply: measured on one core of a busy 2-core CPU
they took about 0.6 s and 2 s per 1920x1080 frame, against about 15 ms here on one core (a
few resizes and one multiply-add in 8 and 16 bits at full size; plain bilinear
alone is about 1.5 ms),
and a guided filter over the upsampled output softens the strokes instead of keeping them.
The luminance guide (not the RGB one) keeps the full-resolution work to three coefficient
planes; an edge between two colours of equal luminance comes back as plain upsampling would.

Without the edge blur, the painting limits edge sharpness at a work size. On the frames of
`benchmarks.worksize` (mean 10-90 % rise: 2.5 px in the frames; candy 4.8 px here at edge
blur 0, 2.9 px at its edge blur of 2, 6.4 px plain bilinear), other ways of upsampling the
same painting did no better than edge blur 0 (5.0 px when they were measured, with bilinear
in place of bicubic above): joint bilateral upsampling (2x2 or 4x4 taps,
luminance or RGB range weights) 5.3 to 7.0 px, the RGB-guided filter 5.4 px, and adding all
of the frame's lost detail at full strength (a slope of 1 everywhere, which also brings back
the photo's texture under the strokes) 4.0 px.
"""
from __future__ import annotations

import threading

import numpy as np

RADIUS = 3  # px at the working size: the window the linear model is fitted over, unless a style sets its own
GUIDE_RADII = (2, 3)  # the windows a style may set (model metadata `stylecam.guide_radius`)
EPS = (0.0067 * 255) ** 2  # luminance variance (0..255 scale) below which a window counts as flat
MAX_EDGE_BLUR = 4.0  # px at the working size: a larger value in a model's metadata is taken as this


def work_shape(height: int, width: int, work_size: int | None) -> tuple[int, int]:
    """H, W the net runs at: the frame scaled to a long side of `work_size` px, or the
    frame's own size when `work_size` is None or the frame is no larger (never enlarged)."""
    long_side = max(height, width)
    if work_size is None or long_side <= work_size:
        return height, width
    scale = work_size / long_side
    return max(1, round(height * scale)), max(1, round(width * scale))


def downscale(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 HxWx3 -> uint8 at `shape` (H, W), area-averaged (no aliasing)."""
    import cv2

    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(styled: np.ndarray, small: np.ndarray, frame: np.ndarray, edge_blur: float = 0.0,
                    radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """Bring `styled` (float32 hxwx3, 0..255: the net's output for `small`, the uint8
    hxwx3 copy of `frame` it ran on) to the size of `frame` (uint8 HxWx3), its edges
    following the frame's; `edge_blur` and `radius` are the style's (see the module doc).
    Returns uint8 HxWx3."""
    import cv2

    height, width = frame.shape[:2]
    size = (width, height)
    y_small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    if edge_blur > 0:
        y_small = cv2.GaussianBlur(y_small, (0, 0), min(edge_blur, MAX_EDGE_BLUR), borderType=cv2.BORDER_REFLECT)
    y = y_small.astype(np.float32)
    mean_y = _box(y, radius)
    var_y = _box(y * y, radius) - mean_y * mean_y
    mean_s = _box(styled, radius)
    cov = _box(styled * y[..., None], radius) - mean_y[..., None] * mean_s
    slope = cov / (var_y + eps)[..., None]
    if radius > 1:  # smoothed over one px less than the fit: the two windows together set the reach
        slope = _box(slope, radius - 1)
    # At full size everything is 8- and 16-bit: a 1920x1080 frame is memory-bound work, and
    # half the bytes take half the time. The slope in fixed point (SLOPE_ONE = 1.0) errs by
    # at most 1 / (2 SLOPE_ONE) times the detail, a quarter level; |slope| stays below
    # 127.5 / (2 sqrt(EPS)) ~ 37, its largest value for 0..255 pictures, so int16 holds it.
    buf = _scratch.get
    base = cv2.resize(to_uint8(styled), size, dst=buf("base", (height, width, 3), np.uint8),
                      interpolation=cv2.INTER_CUBIC)
    detail = cv2.subtract(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY, dst=buf("y", (height, width), np.uint8)),
                          cv2.resize(y_small, size, dst=buf("y_up", (height, width), np.uint8),
                                     interpolation=cv2.INTER_CUBIC),
                          dst=buf("detail", (height, width), np.int16), dtype=cv2.CV_16S)
    slope = cv2.resize(np.clip(np.rint(slope * SLOPE_ONE), -32767, 32767).astype(np.int16), size,
                       dst=buf("slope", (height, width, 3), np.int16), interpolation=cv2.INTER_LINEAR)
    detail3 = cv2.merge([detail, detail, detail], dst=buf("detail3", (height, width, 3), np.int16))
    added = cv2.multiply(slope, detail3, dst=detail3, scale=1 / SLOPE_ONE, dtype=cv2.CV_16S)
    return cv2.add(base, added, dtype=cv2.CV_8U)  # out = up(styled) + up(slope) * detail, saturated; a new array


class _Scratch(threading.local):
    """The full-size work planes of `guided_upsample`, kept per thread from one frame to the
    next. A fresh 1920x1080 plane costs as much again as the work done in it: the kernel
    maps and zeroes its pages on first touch, and the allocator hands them back after each
    frame (measured on 2 cores: 31-33 ms per 1080p frame with fresh planes, 13-14 ms with these)."""

    def __init__(self) -> None:
        self.planes: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        plane = self.planes.get(name)
        if plane is None or plane.shape != shape or plane.dtype != dtype:
            plane = self.planes[name] = np.empty(shape, dtype)
        return plane


_scratch = _Scratch()


SLOPE_ONE = 512


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float HxWx3 picture -> uint8: rounded to the nearest (half to even) and saturated
    to 0..255, as np.rint(np.clip(image, 0, 255)).astype(np.uint8), in one pass of OpenCV's
    saturating conversion instead of three (a 1920x1080 frame: ~4 ms instead of ~17).
    A uint8 picture is returned as it is."""
    import cv2

    if image.dtype == np.uint8:
        return image
    image = np.ascontiguousarray(image)
    return cv2.addWeighted(image, 1.0, image, 0.0, 0.0, dtype=cv2.CV_8U)  # 1 * image, converted

"""The working size at 1920x1080: what painting a smaller copy of an HD frame (the CPU's
default work size, `defaults.WORK_SIZE_CPU` px on its long side) costs in quality.

    python -m benchmarks.worksize [--style mosaic] [--frames 3] [--out-image PATH] [--write]
    python -m benchmarks.worksize --style candy --edge-blur 0,0.5,0.7,1,1.5,2
    python -m benchmarks.worksize --calibrate [--styles A,B] [--edge-blur 0,0.5,...] [--write]

Each frame is stylized three ways by the same net, the one `Stylizer(style, device="cpu")`
runs (the style's fast net, its int8 copy where one ships):
  full      the net at the frame's own size (work_size="full");
  guided    the net on a copy with a long side of the work size, brought back by guided upsampling
            (stylecam.upsample, the CPU default);
  bilinear  the same painting brought back by plain bilinear resizing (cv2.INTER_LINEAR).
guided and bilinear share one run of the net, so they differ only in the upsampling. guided
uses the style's edge blur (`stylecam.upsample`); --edge-blur adds a guided row per value given.

--calibrate measures guided upsampling of every bundled style at each edge blur (default
EDGE_BLURS) on the same frames and says which one the rule picks, the value a style's
`edge_blur` in styles.json is set to: the largest value whose style_ratio (at both sizes) is
no worse than with 0, whose content_rel at 512 px keeps 0.9x of 0's, and whose overshoot
stays within 1 level of the larger of 0's and the input's. At that edge blur it then tries
the other guide radii (`stylecam.upsample.GUIDE_RADII`, the style's `guide_radius`) and
picks the one with the sharpest edges (least mean rise) that keeps the painting by the same
test. --write puts that table in its own section of BENCHMARKS.md; with --styles only those
styles are measured and the other styles' rows are kept.

Frames: no real picture in the shared folder is 1920 px wide (photos at most 1080x1080,
clips at most 1280x720 and compressed), so the frames are the largest real photos, each
cropped to 16:9 at its centre and enlarged to 1920x1080 with Lanczos; their edges are
therefore softer than a camera's, and the input row gives their own figures.

Measures, per frame, then the mean over frames:
  content_rel / style_ratio  benchmarks.quality.Meter against the painting (at 512 px),
            once at 1920x1080 and once with input and outputs shrunk to a long side of 512 px
            (the quality report's size; at 1080p the VGG features see finer scales);
  rise      mean 10-90 % rise width, in px, of strong luminance edges. The edges are found in
            the input: per 24x24 px block the pixel of largest Sobel magnitude, kept where it
            is in the frame's top 2 %. Each image's luminance is sampled across every edge, along
            the input's gradient, over +-12 px in steps of 0.25 px; the plateaus are the medians
            of the outer 4 px on each side. The width runs from the 10 % to the 90 % crossing
            around the 50 % crossing nearest the edge; edges with less than 10 levels of contrast
            left in an output, or no clean crossings, are skipped;
  overshoot the halo: the profiles of the edges with that contrast, each oriented to rise and taken
            relative to its low plateau, are averaged (painted texture averages out, a halo
            that follows the edges does not); the overshoot is how far the mean profile goes
            beyond its own plateaus, in 0..255 levels. On a painted output both edge figures
            also count the outlines and strokes the net paints along edges, which it paints
            at a fixed pixel scale: 1920 / work size times wider at 1080p;
  ms/frame  wall-clock time of each way, one run per frame (guided and bilinear include the
            net's run at the work size and the downscale), on the machine and load of the run.

--write updates the worksize section of BENCHMARKS.md and writes the comparison image
(default benchmarks/worksize_1080p.jpg): for the first frame, 1:1 crops of the region with
the most edge detail, and the whole frames below them.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from stylecam import Stylizer, defaults, upsample
from stylecam.engine import to_uint8

from .common import BENCHMARKS_MD, ROOT, command_line, loss_network, read_block, with_earlier_rows, write_section

if TYPE_CHECKING:  # the quality module brings torch: imported where the pictures are measured
    from .quality import Meter

FRAME_SIZE = (1920, 1080)
WORK = defaults.WORK_SIZE_CPU
# The largest real photos in the shared folder, largest first; see the module doc.
CONTENT_PHOTOS = ("reference/pytorch-examples/amber.jpg", "reference/gatys-neural-style/tubingen.jpg",
                  "reference/gatys-neural-style/golden_gate.jpg", "reference/johnson-eccv16/hoovertowernight.jpg",
                  "reference/johnson-eccv16/chicago.jpg")
WAYS = {"full": "full-resolution net", "guided": f"work size {WORK} + guided upsampling",
        "bilinear": f"work size {WORK} + bilinear"}
CELL, EDGE_PERCENTILE = 24, 98.0  # one edge per 24x24 block, among the frame's strongest 2 %
RADIUS, STEP, PLATEAU = 12.0, 0.25, 4.0  # px: profile half-length, sample spacing, plateau length
MIN_CONTRAST = 10.0  # levels: below this an output has lost the edge
CROP = 480  # px, the side of the 1:1 crops of the comparison image
DEFAULT_IMAGE = Path("benchmarks") / "worksize_1080p.jpg"
EDGE_BLURS = (0.0, 0.5, 0.7, 1.0, 1.5, 2.0)  # px at the work size: what --calibrate tries


def hd_frame(photo: Image.Image) -> np.ndarray:
    """The largest 16:9 centre crop of `photo`, resized to 1920x1080 (Lanczos): uint8 HxWx3."""
    return np.asarray(ImageOps.fit(photo.convert("RGB"), FRAME_SIZE, Image.LANCZOS))


def enlargement(size: tuple[int, int]) -> float:
    """How much `hd_frame` enlarges a photo of this W, H."""
    w, h = size
    return FRAME_SIZE[0] / min(w, h * FRAME_SIZE[0] / FRAME_SIZE[1])


def bilinear_upsample(styled: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The net's float output at the work size -> uint8 at `shape`'s H, W by plain bilinear resizing."""
    import cv2

    return to_uint8(cv2.resize(styled, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR))


def paint_three_ways(full: Stylizer, small: Stylizer, frame: np.ndarray,
                     edge_blurs: tuple[float, ...] = ()) -> dict[str, tuple[np.ndarray, float]]:
    """Way -> (uint8 output, seconds) for the ways of WAYS, then guided upsampling at each of
    `edge_blurs` (way "edge blur X", at the style's guide radius); `small` paints at the work size."""
    t0 = time.perf_counter()
    full_out = full.stylize(frame)
    t1 = time.perf_counter()
    painted = small.paint_batch([frame])[0]
    t2 = time.perf_counter()
    guided = small.finish(painted)
    t3 = time.perf_counter()
    bilinear = bilinear_upsample(painted.styled, frame.shape)
    t4 = time.perf_counter()
    ways = {"full": (full_out, t1 - t0), "guided": (guided, t3 - t1), "bilinear": (bilinear, (t2 - t1) + (t4 - t3))}
    for blur in edge_blurs:
        t5 = time.perf_counter()
        out = upsample.guided_upsample(painted.styled, painted.small, frame, blur, small.guide_radius)
        ways[edge_blur_way(blur)] = (out, (t2 - t1) + time.perf_counter() - t5)
    return ways


def edge_blur_way(blur: float) -> str:
    return f"edge blur {blur:g}"


def luminance(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB -> float32 HxW luminance (BT.601), 0..255."""
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)


def gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    return cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)


def edge_points(gray: np.ndarray, cell: int = CELL, percentile: float = EDGE_PERCENTILE,
                margin: float = RADIUS + 2) -> tuple[np.ndarray, np.ndarray]:
    """Strong edges of a luminance image: per `cell` x `cell` block the pixel of largest
    Sobel magnitude, kept where it is above the frame's `percentile`, `margin` px from the
    border and at the edge's crest (see `on_crest`). Returns their x, y (N x 2, to a
    fraction of a px) and unit gradient directions, dark to bright (N x 2)."""
    gx, gy = gradients(gray)
    magnitude = np.hypot(gx, gy)
    rows, cols = gray.shape[0] // cell, gray.shape[1] // cell
    blocks = magnitude[:rows * cell, :cols * cell].reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3)
    best = blocks.reshape(rows, cols, cell * cell).argmax(axis=2)
    y = (np.arange(rows)[:, None] * cell + best // cell).ravel()
    x = (np.arange(cols)[None, :] * cell + best % cell).ravel()
    h, w = gray.shape
    keep = ((magnitude[y, x] > np.percentile(magnitude, percentile)) & (x >= margin) & (x < w - margin)
            & (y >= margin) & (y < h - margin))
    x, y = x[keep], y[keep]
    normals = np.stack([gx[y, x], gy[y, x]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return on_crest(magnitude, np.stack([x, y], axis=1).astype(np.float32), normals.astype(np.float32))


def on_crest(magnitude: np.ndarray, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points that are a maximum of the gradient magnitude across their edge, moved to
    the crest of a parabola through it and its neighbours one px either side. A block's
    strongest pixel can lie on the flank of an edge that crosses the block's corner, which
    would put the edge off the profiles' middle."""
    side = profiles(magnitude, points, normals, radius=1.0, step=1.0)  # before, at, after
    crest = (side[:, 1] >= side[:, 0]) & (side[:, 1] >= side[:, 2])
    curvature = side[:, 0] - 2 * side[:, 1] + side[:, 2]
    offset = np.where(curvature < 0, 0.5 * (side[:, 0] - side[:, 2]) / np.where(curvature < 0, curvature, -1), 0)
    return (points + offset[:, None] * normals)[crest], normals[crest]


def profiles(gray: np.ndarray, points: np.ndarray, normals: np.ndarray,
             radius: float = RADIUS, step: float = STEP) -> np.ndarray:
    """Luminance sampled across each edge, along its normal, from -radius to +radius px
    (bilinear interpolation): N x (2 * radius / step + 1)."""
    import cv2

    t = np.arange(-radius, radius + step / 2, step, dtype=np.float32)
    map_x = points[:, :1] + normals[:, :1] * t
    map_y = points[:, 1:] + normals[:, 1:] * t
    return cv2.remap(gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def plateaus(samples: np.ndarray, step: float = STEP, plateau: float = PLATEAU) -> tuple[np.ndarray, np.ndarray]:
    """The low and high ends of profiles: the medians of their first and last `plateau` px."""
    n = int(round(plateau / step))
    return np.median(samples[:, :n], axis=1), np.median(samples[:, -n:], axis=1)


def oriented(samples: np.ndarray) -> np.ndarray:
    """Profiles turned to rise from 0: relative to the low plateau, negated where they fall;
    profiles with less than MIN_CONTRAST levels between their plateaus are NaN."""
    lo, hi = plateaus(samples)
    sign = np.sign(hi - lo)[:, None]
    rising = (samples - lo[:, None]) * sign
    rising[np.abs(hi - lo) < MIN_CONTRAST] = np.nan
    return rising


def rise_widths(samples: np.ndarray, step: float = STEP) -> np.ndarray:
    """10-90 % rise width, in px, of each profile (rows of `samples`, spaced `step` px):
    from the 10 % to the 90 % crossing around the 50 % crossing nearest the middle, linearly
    interpolated between samples. NaN where there is no such edge (see `oriented`)."""
    rising = oriented(samples)
    _, hi = plateaus(rising)
    level = rising / hi[:, None]  # 0 .. 1 from plateau to plateau
    n, length = level.shape
    index = np.arange(length)
    up = (level[:, :-1] < 0.5) & (level[:, 1:] >= 0.5)
    middle = np.where(up, np.abs(index[:-1] - length // 2), length).argmin(axis=1)  # sample before the 50 %
    found = up[np.arange(n), middle]
    below = (level < 0.1) & (index <= middle[:, None])
    above = (level > 0.9) & (index > middle[:, None])
    found &= below.any(axis=1) & above.any(axis=1)
    last_low = np.where(below, index, -1).max(axis=1)  # the 10 % crossing is just after it
    first_high = np.where(above, index, length).min(axis=1)  # the 90 % crossing is just before it
    low, high = np.clip(last_low, 0, length - 2), np.clip(first_high, 1, length - 1)  # in range where not found

    def crossing(i: np.ndarray, target: float) -> np.ndarray:  # between samples i and i + 1
        a, b = level[np.arange(n), i], level[np.arange(n), i + 1]
        return i + (target - a) / np.where(b == a, 1, b - a)

    widths = (crossing(high - 1, 0.9) - crossing(low, 0.1)) * step
    return np.where(found, widths, np.nan)


def overshoot(samples: np.ndarray) -> float:
    """The halo of a set of edge profiles, in levels: how far their mean, oriented profile
    goes beyond its own plateaus (see `oriented`; profiles without the contrast are left out)."""
    rising = oriented(samples)
    mean = rising[~np.isnan(rising).any(axis=1)].mean(axis=0)[None]
    lo, hi = plateaus(mean)
    return float(max(mean.max() - hi[0], lo[0] - mean.min(), 0.0))


def edge_measures(image: np.ndarray, points: np.ndarray, normals: np.ndarray) -> tuple[float, float]:
    """(mean rise width in px, overshoot in levels) of an image across the given edges."""
    samples = profiles(luminance(image), points, normals)
    return float(np.nanmean(rise_widths(samples))), overshoot(samples)


def detail_crop(gray: np.ndarray, size: int = CROP, scale: int = 8) -> tuple[int, int]:
    """Top-left x, y of the `size` px square with the most gradient magnitude (searched on
    a map `scale` times smaller)."""
    import cv2

    gx, gy = gradients(gray)
    magnitude = np.hypot(gx, gy)
    small = cv2.resize(magnitude, (gray.shape[1] // scale, gray.shape[0] // scale), interpolation=cv2.INTER_AREA)
    total = cv2.integral(small)
    k = size // scale
    sums = total[k:, k:] - total[:-k, k:] - total[k:, :-k] + total[:-k, :-k]
    y, x = np.unravel_index(int(sums.argmax()), sums.shape)
    return int(x) * scale, int(y) * scale


def labelled(image: Image.Image, text: str) -> Image.Image:
    ImageDraw.Draw(image).text((8, 6), text, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0),
                               font_size=20)
    return image


def comparison_image(frame: np.ndarray, outputs: dict[str, np.ndarray], crop: tuple[int, int]) -> Image.Image:
    """One row of 1:1 crops (input, then each way) and below it the whole frames, shrunk,
    with the crop outlined."""
    tiles = {"input": frame} | {WAYS[way]: out for way, out in outputs.items() if way in WAYS}
    x, y = crop
    gap = 6
    small_h = round(CROP * frame.shape[0] / frame.shape[1])
    sheet = Image.new("RGB", (len(tiles) * (CROP + gap) - gap, CROP + gap + small_h), "white")
    for i, (label, image) in enumerate(tiles.items()):
        left = i * (CROP + gap)
        sheet.paste(labelled(Image.fromarray(image[y:y + CROP, x:x + CROP]), f"{label} (1:1)"), (left, 0))
        whole = Image.fromarray(image).resize((CROP, small_h), Image.LANCZOS)
        s = CROP / frame.shape[1]
        ImageDraw.Draw(whole).rectangle([x * s, y * s, (x + CROP) * s, (y + CROP) * s], outline=(255, 40, 40), width=2)
        sheet.paste(whole, (left, CROP + gap))
    return sheet


def shrink(image: np.ndarray, side: int) -> Image.Image:
    """To a long side of `side` px, as the quality report loads its photos."""
    picture = Image.fromarray(image)
    picture.thumbnail((side, side), Image.LANCZOS)
    return picture


def measure_frame(meter: Meter, frame: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Row -> measure -> value for one frame: "input" (edges only) and each way."""
    from .quality import SIZE

    points, normals = edge_points(luminance(frame))
    rows: dict[str, dict[str, float]] = {}
    rise, over = edge_measures(frame, points, normals)
    rows["input"] = {"rise": rise, "overshoot": over}
    at_hd = meter.each(Image.fromarray(frame), [Image.fromarray(o) for o in outputs.values()])
    at_512 = meter.each(shrink(frame, SIZE), [shrink(o, SIZE) for o in outputs.values()])
    for (way, out), hd, small in zip(outputs.items(), at_hd, at_512):
        rise, over = edge_measures(out, points, normals)
        rows[way] = {"content_hd": hd[0], "style_hd": hd[1], "content_512": small[0], "style_512": small[1],
                     "rise": rise, "overshoot": over}
    return rows


def keeps_the_painting(row: dict[str, float], base: dict[str, float], input_overshoot: float) -> bool:
    """The calibration rule's test (module doc) of one setting's mean measures against the
    plain form's (`base`: edge blur 0, the default radius)."""
    return (row["style_hd"] <= base["style_hd"] and row["style_512"] <= base["style_512"]
            and row["content_512"] >= 0.9 * base["content_512"]
            and row["overshoot"] <= max(base["overshoot"], input_overshoot) + 1)


def choose_edge_blur(rows: dict[float, dict[str, float]], input_overshoot: float) -> float:
    """The calibration rule (module doc) over edge blur -> mean measures; 0 must be there."""
    return max(blur for blur, row in rows.items() if keeps_the_painting(row, rows[0.0], input_overshoot))


def choose_guide_radius(rows: dict[int, dict[str, float]], base: dict[str, float], input_overshoot: float) -> int:
    """Among guide radius -> mean measures at the chosen edge blur (the default radius must be
    there), the one with the sharpest edges (least rise) that keeps the painting."""
    kept = [r for r, row in rows.items() if r == upsample.RADIUS or keeps_the_painting(row, base, input_overshoot)]
    return min(kept, key=lambda r: (rows[r]["rise"], r != upsample.RADIUS))


def guided_way(blur: float, radius: int) -> str:
    return edge_blur_way(blur) + ("" if radius == upsample.RADIUS else f", radius {radius}")


def calibrate(meter_for: Callable[[str], Meter], frames: list[np.ndarray], blurs: tuple[float, ...],
              styles: list[str]) -> str:
    """The --calibrate table: per style of `styles` (bundled), its edge blur and guide radius
    as its models carry them (from styles.json) and by the rule, with the measures of the plain
    form and of the rule's."""
    lines = ["| style | edge blur: set / by the rule | guide radius: set / by the rule | 10-90 % rise, px | "
             "overshoot, levels | style_ratio, 512 px | style_ratio, 1920x1080 | content_rel, 512 px |",
             "|---|---|---|---|---|---|---|---|"]
    others = [r for r in upsample.GUIDE_RADII if r != upsample.RADIUS]
    input_rise = 0.0
    for style in styles:
        engine = Stylizer(style, device="cpu")
        meter = meter_for(style)
        painted = [engine.paint_batch([frame])[0] for frame in frames]

        def measured(settings: list[tuple[float, int]], meter: Meter = meter,
                     painted: list = painted) -> dict[str, dict[str, float]]:
            return mean_rows([measure_frame(meter, frame, {
                guided_way(b, r): upsample.guided_upsample(p.styled, p.small, frame, b, radius=r) for b, r in settings})
                for frame, p in zip(frames, painted)])

        rows = measured([(b, upsample.RADIUS) for b in blurs])
        input_rise, input_overshoot = rows["input"]["rise"], rows["input"]["overshoot"]
        by_blur = {b: rows[guided_way(b, upsample.RADIUS)] for b in blurs}
        blur = choose_edge_blur(by_blur, input_overshoot)
        zero = by_blur[0.0]
        at_blur = {upsample.RADIUS: by_blur[blur]}
        if others:
            more = measured([(blur, r) for r in others])
            at_blur |= {r: more[guided_way(blur, r)] for r in others}
        radius = choose_guide_radius(at_blur, zero, input_overshoot)
        best = at_blur[radius]

        def change(key: str, digits: int, zero: dict[str, float] = zero, best: dict[str, float] = best) -> str:
            return f"{zero[key]:.{digits}f} → {best[key]:.{digits}f}"

        lines.append(f"| {style} | {engine.edge_blur:g} / {blur:g} | {engine.guide_radius} / {radius} | "
                     f"{change('rise', 2)} | "
                     f"{change('overshoot', 1)} | {change('style_512', 3)} | {change('style_hd', 3)} | "
                     f"{change('content_512', 2)} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines) + (
        f"\n\nEach bundled style's net (its int8 fast net, as on a CPU) at work size {WORK} on the frames of the "
        f"section above, brought back by guided upsampling at edge blurs {', '.join(f'{b:g}' for b in blurs)} px "
        f"(guide radius {upsample.RADIUS}), then at the chosen edge blur with guide radius "
        f"{', '.join(map(str, others))}; each cell is the measure at edge blur 0 and radius {upsample.RADIUS} → at "
        "the edge blur and radius the rule picks (module doc of "
        f"`benchmarks/worksize.py`; the frames' own rise is {input_rise:.2f} px). \"set\" is the style's "
        "`edge_blur` and `guide_radius` in `training/recipes/styles.json`, which the bundled models carry.")


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    def pair(row: dict[str, float], size: str) -> str:
        return f"{row[f'content_{size}']:.2f} / {row[f'style_{size}']:.3f}" if f"content_{size}" in row else "n/a"

    lines = ["| output | content_rel / style_ratio, 1920x1080 | content_rel / style_ratio, 512 px | "
             "10-90 % rise, px | overshoot, levels | ms/frame |", "|---|---|---|---|---|---|"]
    for way, row in rows.items():
        ms = f"{row['seconds'] * 1000:.0f}" if "seconds" in row else "n/a"
        label = WAYS.get(way, f"work size {WORK} + guided, {way}" if way.startswith("edge blur") else "input frame")
        lines.append(f"| {label} | {pair(row, 'hd')} | {pair(row, '512')} | "
                     f"{row['rise']:.2f} | {row['overshoot']:.1f} | {ms} |")
    return "\n".join(lines)


def mean_rows(frames: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {row: {k: float(np.mean([f[row][k] for f in frames])) for k in frames[0][row]} for row in frames[0]}


def note(photos: list[Path], sizes: list[tuple[int, int]], net: Stylizer, image: str | None) -> str:
    work_h, work_w = net.work_shape(FRAME_SIZE[1], FRAME_SIZE[0])
    used = ", ".join(f"`{p.name}` ({w}x{h}, enlarged {enlargement((w, h)):.2f}x)" for p, (w, h) in zip(photos, sizes))
    sentences = [
        f"Style `{net.name}`, net `{net.model_path.name}` (what `Stylizer(style, device=\"cpu\")` runs), on "
        f"{len(photos)} frame(s) at 1920x1080, the mean over them.",
        "No real picture in the shared folder is 1920 px wide, so each frame is one of the largest real photos "
        f"there, cropped to 16:9 and enlarged with Lanczos: {used}; the input row gives the frames' own edge figures.",
        f"Full-resolution net: the net at 1920x1080; work size {WORK}: the net paints a {work_w}x{work_h} copy, "
        f"brought back by guided upsampling (the CPU default; the style's edge blur, {net.edge_blur:g} px, and guide "
        f"radius, {net.guide_radius}) or by "
        "plain bilinear resizing of the same painting.",
        "content_rel / style_ratio as in the quality report (shared VGG16, painting at 512 px; higher content_rel = "
        "more repainted, lower style_ratio = closer to the painting), on the 1920x1080 outputs and on all pictures "
        "shrunk to 512 px.",
        "Rise: mean 10-90 % width of the luminance profile across the input's strongest edges; overshoot: how far "
        "the mean edge profile goes beyond its plateaus (halo), in 0..255 levels; the method is in the module doc. "
        "On the outputs both also count the outlines the net paints along edges, at the net's own pixel scale "
        f"({FRAME_SIZE[0] / WORK:.3g} times wider at 1920x1080 when painted at {WORK} px).",
        "ms/frame: one run per frame on the machine below, under whatever else it was running (the work size rows "
        "share one net run and both include it); the speed section has the speed figures.",
    ]
    text = " ".join(sentences)
    if image:
        text += f"\n\n![input, full-resolution net, work size {WORK} + guided, work size {WORK} + bilinear]({image})"
    return text


def image_link(image: Path) -> str:
    """How BENCHMARKS.md refers to the image: relative to the repository when inside it."""
    path = image.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    p = command_line(__doc__, "benchmarks.worksize")
    p.add_argument("--style", default=defaults.STYLE)
    p.add_argument("--frames", type=int, default=3, help=f"photos to use, 1..{len(CONTENT_PHOTOS)}")
    p.add_argument("--out-image", default="", help=f"write the comparison image here (default with --write: "
                                                    f"{DEFAULT_IMAGE})")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md and write the comparison image")
    p.add_argument("--edge-blur", default="", metavar="X,Y,...",
                   help="also measure guided upsampling at these edge blurs (px at the work size)")
    p.add_argument("--calibrate", action="store_true",
                   help="every bundled style's edge blur and guide radius by the rule (module doc) instead of "
                        "the comparison")
    p.add_argument("--styles", default="", metavar="A,B,...",
                   help="--calibrate only these bundled styles (--write keeps the other styles' rows)")
    args = p.parse_args()
    if not 1 <= args.frames <= len(CONTENT_PHOTOS):
        p.error(f"--frames must be 1..{len(CONTENT_PHOTOS)}")
    try:
        edge_blurs = tuple(float(v) for v in args.edge_blur.split(",") if v.strip())
    except ValueError:
        p.error(f"--edge-blur takes numbers separated by commas, got {args.edge_blur!r}")
    if any(not 0 <= b <= upsample.MAX_EDGE_BLUR for b in edge_blurs):
        p.error(f"--edge-blur values must be 0..{upsample.MAX_EDGE_BLUR:g}")
    if args.calibrate and edge_blurs and 0.0 not in edge_blurs:
        p.error("--calibrate compares with an edge blur of 0: include it in --edge-blur")
    from training.recipes import load_styles

    bundled = list(load_styles())
    chosen = [v.strip() for v in args.styles.split(",") if v.strip()] or bundled
    if args.styles and not args.calibrate:
        p.error("--styles goes with --calibrate (the comparison takes one --style)")
    if unknown := [v for v in chosen if v not in bundled]:
        p.error(f"not a bundled style: {', '.join(unknown)} (bundled: {', '.join(bundled)})")
    shared = Path(args.shared)
    if args.calibrate:
        return run_calibration(shared, args.frames, edge_blurs or EDGE_BLURS, chosen, args.write)
    small = Stylizer(args.style, device="cpu")
    full = Stylizer(args.style, device="cpu", work_size="full")
    assert small.work_size == WORK and full.model_path == small.model_path, (small.work_size, full.model_path)
    from training.data import load_rgb
    from training.recipes import painting

    from .quality import STYLE_LAYERS, Meter

    meter = Meter(loss_network(shared, STYLE_LAYERS), painting(shared, args.style))
    photos = [shared / c for c in CONTENT_PHOTOS[:args.frames]]
    pictures = [load_rgb(photo) for photo in photos]
    sizes = [picture.size for picture in pictures]
    frames = [hd_frame(picture) for picture in pictures]
    paint_three_ways(full, small, frames[0], edge_blurs)  # warm-up: the first call at a new size allocates
    measured: list[dict[str, dict[str, float]]] = []
    first_outputs: dict[str, np.ndarray] = {}
    for photo, frame in zip(photos, frames):
        ways = paint_three_ways(full, small, frame, edge_blurs)
        outputs = {way: out for way, (out, _) in ways.items()}
        rows = measure_frame(meter, frame, outputs)
        for way, (_, seconds) in ways.items():
            rows[way]["seconds"] = seconds
        measured.append(rows)
        first_outputs = first_outputs or outputs
        print(f"{photo.name}: " + ", ".join(f"{w} rise {r['rise']:.2f} px" for w, r in rows.items()),
              file=sys.stderr, flush=True)
    table = markdown_table(mean_rows(measured))
    image = Path(args.out_image) if args.out_image else (ROOT / DEFAULT_IMAGE if args.write else None)
    if image:
        crop = detail_crop(luminance(frames[0]))
        comparison_image(frames[0], first_outputs, crop).save(image, quality=defaults.JPEG_QUALITY)
        print(f"wrote {image} (crop at x={crop[0]}, y={crop[1]} of {photos[0].name})", file=sys.stderr)
    text = note(photos, sizes, small, image_link(image) if image else None)
    print(table + "\n\n" + text)
    if args.write:
        write_section("worksize", "## Working size at 1920x1080 (`python -m benchmarks.worksize`)\n\n"
                      + table + "\n\n" + text)
    return 0


def run_calibration(shared: Path, count: int, blurs: tuple[float, ...], styles: list[str], write: bool) -> int:
    from training.data import load_rgb
    from training.recipes import painting

    from .quality import STYLE_LAYERS, Meter

    network = loss_network(shared, STYLE_LAYERS)
    frames = [hd_frame(load_rgb(shared / c)) for c in CONTENT_PHOTOS[:count]]
    table = calibrate(lambda style: Meter(network, painting(shared, style)), frames, blurs, styles)
    print(table)
    if write:
        table = with_earlier_rows(table, read_block(BENCHMARKS_MD, "edge_blur"), set(styles))
        write_section("edge_blur", "## Edge blur per style at 1920x1080 (`python -m benchmarks.worksize "
                      "--calibrate`)\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

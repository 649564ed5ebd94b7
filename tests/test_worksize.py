"""The working size: large frames are painted smaller and brought back to their size with
edge-aware upsampling; self-made frames and the tiny test nets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stylecam import StylecamError, Stylizer, defaults
from stylecam.upsample import work_shape

from conftest import build_test_model, make_video, probe, run_cli

WORK = 448


def rand_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def net_shapes(engine: Stylizer) -> list[tuple[int, ...]]:
    """Record the N,3,H,W of every inference call of a one-style engine."""
    shapes: list[tuple[int, ...]] = []
    net = engine._nets[0]
    real = net.infer

    def recording(batch, cancel=None):
        shapes.append(batch.shape)
        return real(batch, cancel)

    net.infer = recording
    return shapes


@pytest.fixture(scope="module")
def point_model(tmp_path_factory):
    """A per-pixel 'style' (a colour mix and offset, no neighbourhood): its output has
    edges exactly where its input has them, so any softening comes from the upsampling."""
    return build_test_model(tmp_path_factory.mktemp("point") / "point.onnx", name="point", multiple=1, seed=3)


def test_cpu_default_paints_at_448_and_gives_the_frames_size(test_model):
    engine = Stylizer(test_model, device="cpu")
    assert engine.work_size == defaults.WORK_SIZE_CPU == WORK
    shapes = net_shapes(engine)
    out = engine.stylize(rand_frame(1081, 1921))
    assert out.shape == (1081, 1921, 3) and out.dtype == np.uint8
    assert shapes == [(1, 3, 252, 448)]  # the net painted the 448x252 copy


def test_the_default_rule_per_device():
    assert defaults.work_size_for("cpu") == WORK
    assert defaults.work_size_for("cuda") is None and defaults.work_size_for("tensorrt") is None


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (1, 1), (3, 2000), (2000, 3), (1, 700), (641, 17), (1081, 1921)])
def test_odd_sizes_come_back_at_their_size(test_model, shape):
    out = Stylizer(test_model, device="cpu").stylize(rand_frame(*shape))
    assert out.shape == shape + (3,) and out.dtype == np.uint8


def test_work_shape_keeps_the_aspect_and_never_enlarges():
    assert work_shape(1080, 1920, 640) == (360, 640)
    assert work_shape(1081, 1921, 640) == (360, 640)
    assert work_shape(1920, 1080, 640) == (640, 360)
    assert work_shape(3, 7, 640) == (3, 7)
    assert work_shape(360, 640, 640) == (360, 640)
    assert work_shape(3, 2000, 640) == (1, 640)
    assert work_shape(2160, 3840, None) == (2160, 3840)


def test_full_reproduces_the_nets_own_output(test_model):
    """work_size="full" runs the frame as it is: the net's raw output, clipped and rounded."""
    frame = rand_frame(720, 1280)  # multiples of 4: no padding
    engine = Stylizer(test_model, device="cpu", work_size="full")
    shapes = net_shapes(engine)
    raw = engine.infer(frame.transpose(2, 0, 1)[None].astype(np.float32))[0].transpose(1, 2, 0)
    assert np.array_equal(engine.stylize(frame), np.rint(np.clip(raw, 0, 255)).astype(np.uint8))
    assert shapes[-1] == (1, 3, 720, 1280)


@pytest.mark.parametrize("shape", [(3, 7), (WORK * 9 // 16, WORK), (WORK, 200)])
def test_frames_no_larger_than_the_work_size_run_as_they_are(test_model, shape):
    frame = rand_frame(*shape, seed=4)
    assert np.array_equal(Stylizer(test_model, device="cpu").stylize(frame),
                          Stylizer(test_model, device="cpu", work_size="full").stylize(frame))


def rise_width(profile: np.ndarray) -> float:
    """10-90 % rise of a rising edge, in px (linear interpolation between samples)."""
    lo, hi = profile[:30].mean(), profile[-30:].mean()
    t = (profile - lo) / (hi - lo)

    def crossing(level: float) -> float:
        i = int(np.argmax(t >= level))
        return i - 1 + (level - t[i - 1]) / (t[i] - t[i - 1])

    return crossing(0.9) - crossing(0.1)


def edge_frame() -> np.ndarray:
    """1921x1081, a vertical step between two colours at x = 1000 (not on the 3x grid)."""
    frame = np.empty((1081, 1921, 3), np.uint8)
    frame[:, :1000] = (40, 70, 50)
    frame[:, 1000:] = (220, 190, 150)
    return frame


def test_a_sharp_edge_stays_sharp_and_plain_bilinear_would_not(point_model):
    import cv2

    frame = edge_frame()
    engine = Stylizer(point_model, device="cpu", work_size=WORK)
    out = engine.stylize(frame).astype(np.float32)
    # the same painting brought back by plain bilinear resizing
    h, w = work_shape(*frame.shape[:2], WORK)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    painted = Stylizer(point_model, device="cpu", work_size="full").stylize(small)
    bilinear = cv2.resize(painted.astype(np.float32), (1921, 1081), interpolation=cv2.INTER_LINEAR)

    def profile(image: np.ndarray) -> np.ndarray:  # luminance across the edge, mean of the rows
        return image[:, 940:1060].mean(axis=(0, 2))

    source = rise_width(profile(frame.astype(np.float32)))
    sharp, soft = rise_width(profile(out)), rise_width(profile(bilinear))
    assert source == pytest.approx(0.8, abs=1e-3)  # one step from one pixel to the next
    print(f"10-90 % rise: frame {source:.2f} px, guided {sharp:.2f} px, bilinear {soft:.2f} px")
    assert sharp <= source + 0.5, (sharp, soft)
    assert soft >= 2.5 and soft >= 2 * sharp, (sharp, soft)
    # no halo: no overshoot beside the edge, beyond the flat sides' own values
    sides = out[:, [900, 1100]]
    assert (out[:, 940:1060].max(axis=(0, 1)) <= sides.max(axis=(0, 1)) + 2).all()
    assert (out[:, 940:1060].min(axis=(0, 1)) >= sides.min(axis=(0, 1)) - 2).all()


def build_soft_edge_model(path, edge_blur: float) -> Path:
    """A 'style' that paints every edge soft, as a real net does at its own scale: a
    Gaussian blur (sigma 1 px) of its input, brightened; `edge_blur` goes in its metadata."""
    import cv2
    from onnx import helper, numpy_helper

    from conftest import save_one_input_net
    from stylecam.contract import INPUT_NAME, OUTPUT_NAME, StyleInfo

    kernel = cv2.getGaussianKernel(7, 1.0).astype(np.float32)
    weight = np.zeros((3, 1, 7, 7), np.float32)
    weight[:, 0] = kernel @ kernel.T
    nodes = [helper.make_node("Conv", [INPUT_NAME, "K"], ["blurred"], group=3, pads=[3, 3, 3, 3]),
             helper.make_node("Mul", ["blurred", "gain"], ["scaled"]),
             helper.make_node("Add", ["scaled", "offset"], [OUTPUT_NAME])]
    inits = [numpy_helper.from_array(weight, "K"), numpy_helper.from_array(np.array(0.8, np.float32), "gain"),
             numpy_helper.from_array(np.array(30, np.float32), "offset")]
    return save_one_input_net(path, nodes, inits, StyleInfo(name="soft", multiple=1, border=3, edge_blur=edge_blur))


def test_the_styles_edge_blur_brings_its_soft_edges_back_sharp(tmp_path):
    """A net that paints edges over a few of its own pixels: upsampled as they are they are
    work-size-times wider than the frame's; with the style's edge blur they come back at
    the frame's sharpness, without a halo."""
    frame = edge_frame()

    def profile(image: np.ndarray) -> np.ndarray:
        return image[:, 940:1060].astype(np.float32).mean(axis=(0, 2))

    plain = Stylizer(build_soft_edge_model(tmp_path / "a.onnx", 0.0), device="cpu", work_size=WORK)
    blurred = Stylizer(build_soft_edge_model(tmp_path / "b.onnx", 1.0), device="cpu", work_size=WORK)
    assert plain.edge_blur == 0 and blurred.edge_blur == 1.0
    soft, sharp = plain.stylize(frame), blurred.stylize(frame)
    source = rise_width(profile(frame))
    print(f"10-90 % rise: frame {source:.2f} px, edge blur 0: {rise_width(profile(soft)):.2f} px, "
          f"edge blur 1: {rise_width(profile(sharp)):.2f} px")
    assert rise_width(profile(soft)) >= 4 * source
    assert rise_width(profile(sharp)) <= source + 0.5
    sides = sharp[:, [900, 1100]].astype(int)
    middle = sharp[:, 940:1060].astype(int)
    assert (middle.max(axis=(0, 1)) <= sides.max(axis=(0, 1)) + 3).all()
    assert (middle.min(axis=(0, 1)) >= sides.min(axis=(0, 1)) - 3).all()
    # away from edges the painting is as it was
    assert np.abs(sharp[:, 200:800].astype(int) - soft[:, 200:800]).max() <= 1


def test_a_mix_takes_its_styles_edge_blurs_by_weight(tmp_path, monkeypatch):
    from conftest import build_multi_style_model

    build_multi_style_model(tmp_path / "trio.onnx", ["alpha", "beta", "gamma"], edge_blurs=[0.0, 1.0, 2.0])
    build_test_model(tmp_path / "one.onnx", name="one", edge_blur=1.5)
    build_test_model(tmp_path / "two.onnx", name="two", seed=1)
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Stylizer("gamma", device="cpu").edge_blur == 2.0
    assert Stylizer("alpha:0.5,gamma:0.5", device="cpu").edge_blur == pytest.approx(1.0)
    assert Stylizer("one:0.4,two:0.6", device="cpu").edge_blur == pytest.approx(0.6)
    mixing = Stylizer("beta", device="cpu")
    mixing.set_mix("beta:0.5,gamma:0.5")
    assert mixing.edge_blur == pytest.approx(1.5)


def test_a_styles_guide_radius_reaches_the_upsampling_and_a_mix_takes_the_nearest(tmp_path, monkeypatch):
    import cv2

    from conftest import build_multi_style_model
    from stylecam import upsample

    build_test_model(tmp_path / "narrow.onnx", name="narrow", edge_blur=1.0, guide_radius=2)
    build_test_model(tmp_path / "wide.onnx", name="wide", seed=1)
    build_multi_style_model(tmp_path / "trio.onnx", ["alpha", "beta", "gamma"], guide_radii=[2, 3, 2])
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    engine = Stylizer("narrow", device="cpu", work_size=320)
    assert engine.guide_radius == 2 and Stylizer("wide", device="cpu").guide_radius == upsample.RADIUS == 3
    frame = cv2.GaussianBlur(rand_frame(361, 643, seed=2), (0, 0), 2)
    painted = engine.paint_batch([frame])[0]
    at = {r: upsample.guided_upsample(painted.styled, painted.small, frame, 1.0, radius=r) for r in (2, 3)}
    assert np.array_equal(engine.finish(painted), at[2]) and not np.array_equal(at[2], at[3])
    assert Stylizer("narrow:0.7,wide:0.3", device="cpu").guide_radius == 2  # mean 2.3
    assert Stylizer("narrow:0.3,wide:0.7", device="cpu").guide_radius == 3
    assert Stylizer("narrow:0.5,wide:0.5", device="cpu").guide_radius == 3  # a tie: the default
    assert Stylizer("alpha:0.5,gamma:0.5", device="cpu").guide_radius == 2
    assert Stylizer("beta:0.6,gamma:0.4", device="cpu").guide_radius == 3


def test_strokes_keep_their_painted_size(test_model):
    """Where the frame has no edges, the output is the painting itself, resized: the
    strokes the net painted (here the test net's 4x4 blocks) are not smoothed away."""
    import cv2

    frame = np.full((1080, 1920, 3), (90, 140, 200), np.uint8)
    out = Stylizer(test_model, device="cpu").stylize(frame).astype(np.float32)
    h, w = work_shape(1080, 1920, WORK)
    painted = Stylizer(test_model, device="cpu", work_size="full").stylize(frame[:h, :w])
    resized = cv2.resize(painted, (1920, 1080), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    assert painted.std(axis=(0, 1)).min() > 5  # the net did paint a pattern
    assert np.abs(out - resized).max() <= 1


def test_colour_preservation_and_strength_apply_at_the_frames_size(test_model):
    from stylecam.engine import transfer_luminance

    frame = rand_frame(900, 1600, seed=2)
    styled = Stylizer(test_model, device="cpu").stylize(frame).astype(np.float32)
    assert np.array_equal(Stylizer(test_model, device="cpu", strength=0.0).stylize(frame), frame)
    half = Stylizer(test_model, device="cpu", strength=0.5).stylize(frame).astype(np.float32)
    assert np.abs(half - (frame + 0.5 * (styled - frame))).max() <= 1
    kept = Stylizer(test_model, device="cpu", preserve_color=True).stylize(frame).astype(np.float32)
    assert np.abs(kept - transfer_luminance(styled, frame)).max() <= 1.5  # the frame's own chroma


def test_smoothing_runs_at_the_work_size_before_upsampling(test_model):
    """A job's smoother gets the net's input and output at the size the net painted (cheap),
    and what it returns is what the upsampling brings back; `none` changes nothing."""
    from stylecam.temporal import NoSmoothing, make_smoother

    engine = Stylizer(test_model, device="cpu", work_size=64)
    frame = rand_frame(90, 160, seed=4)
    painted = engine.paint_batch([frame])[0]
    seen: list[tuple[tuple[int, ...], tuple[int, ...], np.dtype]] = []

    def flat_grey(small: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        seen.append((small.shape, stylized.shape, stylized.dtype))
        return np.full_like(stylized, 128)

    flat_grey.reset = lambda: None  # type: ignore[attr-defined]
    out = engine.finish(painted, flat_grey)  # type: ignore[arg-type]
    assert seen == [((36, 64, 3), (36, 64, 3), np.dtype(np.float32))]  # the net's own output
    assert out.shape == frame.shape and np.abs(out.astype(int) - 128).max() <= 1  # flat: nothing to add back
    assert np.array_equal(engine.finish(painted, NoSmoothing()), engine.finish(painted))
    flow = make_smoother("flow")
    first = engine.finish(painted, flow)  # no history yet: the frame as painted, at the frame's size
    assert first.shape == frame.shape and np.abs(first.astype(int) - engine.finish(painted)).max() <= 1
    again = engine.finish(engine.paint_batch([frame])[0], flow)  # a still picture: steady
    assert np.abs(again.astype(int) - first).max() <= 1


def test_a_batch_of_mixed_sizes_matches_single_frames(test_model):
    engine = Stylizer(test_model, device="cpu", work_size=64)
    frames = [rand_frame(90, 120, s) for s in range(3)] + [rand_frame(33, 17, 9), rand_frame(100, 70, 5)]
    shapes = net_shapes(engine)
    batch = engine.stylize_batch(frames)
    # one call per size; 17x33 is not larger than the work size; padded to the net's multiple of 4
    assert shapes == [(3, 3, 48, 64), (1, 3, 36, 20), (1, 3, 64, 48)]
    for f, b in zip(frames, batch):
        assert b.shape == f.shape and np.array_equal(engine.stylize(f), b)


def test_the_megapixel_limit_counts_the_frames_the_net_sees(test_model):
    engine = Stylizer(test_model, device="cpu", max_megapixels=0.1, work_size=160)
    assert engine.frames_per_call(320, 240) == int(0.1e6 / (160 * 120))
    assert Stylizer(test_model, device="cpu", max_megapixels=0.1, work_size="full").frames_per_call(320, 240) == 1


@pytest.mark.parametrize("bad", [0, -5, 15, 2.5, "abc", "640", True, None])
def test_bad_work_sizes_are_one_line_errors(test_model, bad):
    with pytest.raises(StylecamError, match="work size") as caught:
        Stylizer(test_model, device="cpu", work_size=bad)
    assert "\n" not in str(caught.value)


def test_cli_video_at_a_work_size_with_batches_and_smoothing(tmp_path, cli_env):
    """A file job paints at --work-size, batched and flow-smoothed, and writes the input's size."""
    import json

    clip = make_video(tmp_path / "in.mp4", frames=8, size=(96, 64))
    out = tmp_path / "out.mp4"
    r = run_cli(clip, "-o", out, "--style", "testnet", "--work-size", "32", "--batch", "3", "--smooth", "flow",
                "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["work_size"] == 32
    info = probe(out)
    assert (info["width"], info["height"], info["frames"]) == (96, 64, 8)
    r = run_cli(clip, "-o", tmp_path / "full.mp4", "--style", "testnet", "--work-size", "full", "--json", env=cli_env)
    assert r.returncode == 0 and json.loads(r.stdout)["work_size"] == "full", r.stderr


def test_live_engines_keep_the_work_size(test_model):
    from stylecam.live import EngineOptions

    engine = EngineOptions(work_size=320).build(test_model)
    assert engine.work_size == 320
    again = EngineOptions.like(engine).build(test_model)  # a style switch builds the new engine like this
    assert again.work_size == 320
    assert EngineOptions(work_size="full").build(test_model).work_size is None


def test_live_json_reports_the_work_size(tmp_path, cli_env):
    import json

    clip = make_video(tmp_path / "in.mp4", frames=24, size=(96, 64), fps=24)
    r = run_cli(clip, "--live", "--no-window", "-o", tmp_path / "rec.mp4", "--style", "testnet", "--work-size", "32",
                "--duration", "1", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["work_size"] == 32 and summary["live"]["shown"] >= 1
    assert probe(tmp_path / "rec.mp4")["width"] == 96  # painted at 32 px, recorded at the source's size


@pytest.mark.parametrize("edge_blur, radius", [(0.0, 3), (1.5, 3), (1.5, 2)])
def test_guided_upsampling_in_fixed_point_matches_its_float_formula(edge_blur, radius):
    """out = up(styled) + up(slope) * (Y - up(Y_small)), computed here in float64: the
    8/16-bit version the runtime runs stays within its roundings of it, on an odd-sized
    frame: 1.2 levels for the base (rounded, then resized in 8 bits by bicubic, whose
    weights add up to 1.41 in absolute value) plus however far bicubic overshoots 0..255
    there (8 bits saturate the base before the detail is added), half a level for the
    detail term, 0.6 level of up(Y_small) (resized in 8 bits) times the slope, and the
    slope's fixed point times the detail. With an edge blur, Y_small is blurred by it (in
    8 bits) first. The fit is over the guide radius, the slope smoothed over one px less."""
    import cv2

    from stylecam import upsample

    frame = cv2.GaussianBlur(rand_frame(361, 643, seed=5), (0, 0), 3)
    frame[100:200, 300:] = 240  # a hard edge, where the slope carries the most detail
    small = upsample.downscale(frame, work_shape(361, 643, 320))
    styled = np.clip(cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.5) * [0.7, 1.1, 0.9] + 20, 0, 255)
    styled = styled.astype(np.float32)

    def box(x, r=radius):
        return cv2.boxFilter(x, -1, (2 * r + 1,) * 2, borderType=cv2.BORDER_REFLECT)

    y = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    if edge_blur:
        y = cv2.GaussianBlur(y, (0, 0), edge_blur, borderType=cv2.BORDER_REFLECT)
    y = y.astype(np.float64)
    s = styled.astype(np.float64)
    mean_y, mean_s = box(y), box(s)
    var_y = box(y * y) - mean_y ** 2
    slope = box((box(s * y[..., None]) - mean_y[..., None] * mean_s) / (var_y + upsample.EPS)[..., None], radius - 1)
    size = (frame.shape[1], frame.shape[0])
    detail = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) - cv2.resize(y, size, interpolation=cv2.INTER_CUBIC)
    base = cv2.resize(s, size, interpolation=cv2.INTER_CUBIC)
    want = base + cv2.resize(slope, size, interpolation=cv2.INTER_LINEAR) * detail[..., None]
    got = upsample.guided_upsample(styled, small, frame, edge_blur, radius)
    assert got.dtype == np.uint8 and got.shape == frame.shape
    err = np.abs(got.astype(np.float64) - np.clip(want, 0, 255))
    bound = (1.7 + np.clip(base - 255, 0, None) + np.clip(-base, 0, None)
             + 0.6 * np.abs(cv2.resize(slope, size, interpolation=cv2.INTER_LINEAR))
             + np.abs(detail)[..., None] / upsample.SLOPE_ONE)
    assert (err <= bound).all() and err.mean() < 0.35, ((err - bound).max(), err.mean())
    assert np.abs(slope).max() > 0.5  # the detail term did matter


def test_reused_work_planes_never_leak_between_frames_sizes_or_threads():
    """guided_upsample keeps its full-size planes from one call to the next (per thread):
    each result is a new array, unchanged by later calls, and equal to a first call's on the
    same input whatever ran before it, at another size or on another thread."""
    from concurrent.futures import ThreadPoolExecutor

    from stylecam import upsample

    def case(h, w, seed):
        frame = rand_frame(h, w, seed=seed)
        small = upsample.downscale(frame, work_shape(h, w, 64))
        styled = (255 - small).astype(np.float32)
        return styled, small, frame

    cases = [case(121, 203, 1), case(120, 160, 2), case(121, 203, 3)]
    with ThreadPoolExecutor(1) as fresh:  # a thread whose planes start empty, for each case
        want = [fresh.submit(upsample.guided_upsample, *c, 1.0).result() for c in cases]
    got = [upsample.guided_upsample(*c, 1.0) for c in cases]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    assert not np.shares_memory(got[0], got[2])
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            side_by_side = list(pool.map(lambda c: upsample.guided_upsample(*c, 1.0), cases * 4))
            assert all(np.array_equal(g, want[i % 3]) for i, g in enumerate(side_by_side))

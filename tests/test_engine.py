"""Core: the Stylizer API and the model contract, with a self-built test net."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stylecam
from stylecam import StylecamError, Stylizer, styles
from stylecam.engine import mirror_pad

from conftest import build_test_model


@pytest.fixture(scope="module")
def stylizer(test_model) -> Stylizer:
    return Stylizer(test_model, device="cpu")


def rand_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (2, 3), (7, 5), (33, 17), (64, 64), (361, 641)])
def test_output_size_equals_input_size(stylizer, shape):
    out = stylizer.stylize(rand_frame(*shape))
    assert out.shape == shape + (3,) and out.dtype == np.uint8


def test_stylize_changes_the_image_and_is_deterministic(stylizer):
    frame = rand_frame(48, 80)
    a, b = stylizer.stylize(frame), stylizer.stylize(frame)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - frame).mean() > 5


def test_padding_does_not_change_interior(stylizer):
    """Cropping back after reflect-padding gives the same pixels as an unpadded run
    (the test net works on 4x4 blocks, so block-aligned regions must match)."""
    frame = rand_frame(64, 64)
    full = stylizer.stylize(frame)
    cropped = stylizer.stylize(frame[:62, :61])
    assert np.array_equal(full[:60, :60], cropped[:60, :60])


def test_batch_matches_single_frames(stylizer):
    frames = [rand_frame(30, 50, s) for s in range(3)] + [rand_frame(17, 9, 9)]
    batch = stylizer.stylize_batch(frames)
    for f, b in zip(frames, batch):
        assert np.array_equal(stylizer.stylize(f), b)


def test_strength_blends_with_original(test_model):
    frame = rand_frame(40, 40)
    assert np.array_equal(Stylizer(test_model, strength=0.0).stylize(frame), frame)
    full = Stylizer(test_model, strength=1.0).stylize(frame).astype(float)
    half = Stylizer(test_model, strength=0.5).stylize(frame).astype(float)
    assert np.abs(half - (frame + full) / 2).max() <= 1.0


def test_preserve_color_keeps_chroma(test_model):
    frame = rand_frame(40, 40)
    plain = Stylizer(test_model).stylize(frame).astype(float)
    kept = Stylizer(test_model, preserve_color=True).stylize(frame).astype(float)

    def luma(x):
        return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]

    def cb(x):
        return -0.168736 * x[..., 0] - 0.331264 * x[..., 1] + 0.5 * x[..., 2]

    clipped = (kept == 0) | (kept == 255)
    ok = ~clipped.any(-1)
    assert np.abs(luma(kept) - luma(plain))[ok].mean() < 1.5
    assert np.abs(cb(kept) - cb(frame.astype(float)))[ok].mean() < 1.5


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_bad_frames_are_clear_errors(stylizer, bad):
    with pytest.raises(StylecamError):
        stylizer.stylize(bad)


def test_strength_out_of_range(test_model):
    with pytest.raises(StylecamError, match="strength"):
        Stylizer(test_model, strength=1.5)


def test_unavailable_device_is_an_error_not_a_fallback(test_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(StylecamError, match="not available"):
        Stylizer(test_model, device="cuda")
    with pytest.raises(StylecamError):
        Stylizer(test_model, device="gpu9000")


def test_auto_device_works(test_model):
    assert Stylizer(test_model, device="auto").stylize(rand_frame(8, 8)).shape == (8, 8, 3)
    assert "cpu" in stylecam.available_devices()


def test_unknown_style_lists_known_ones(models_dir, monkeypatch):
    monkeypatch.setenv("STYLECAM_MODELS", str(models_dir))
    with pytest.raises(StylecamError, match=r"unknown style 'nope'.*othernet.*testnet"):
        Stylizer("nope")


def test_style_by_name_and_metadata(models_dir, monkeypatch):
    monkeypatch.setenv("STYLECAM_MODELS", str(models_dir))
    s = Stylizer("testnet")
    assert s.info.name == "testnet" and s.info.painting == "Test Pattern" and s.info.multiple == 4
    names = [i.name for i in stylecam.list_styles()]
    assert {"testnet", "othernet"} <= set(names)


def test_a_style_with_only_its_fast_net_is_listed_and_runs(tmp_path, monkeypatch, capsys):
    build_test_model(tmp_path / "sketch.fast.onnx", name="sketch")
    build_test_model(tmp_path / "sketch.fast.int8.onnx", name="sketch")
    build_test_model(tmp_path / "paint.onnx", name="paint")
    build_test_model(tmp_path / "paint.fast.onnx", name="paint", seed=1)
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    infos = {i.name: i for i in stylecam.list_styles() if i.path is not None and i.path.parent == tmp_path}
    assert {n: i.path.name for n, i in infos.items()} == {"paint": "paint.onnx", "sketch": "sketch.fast.onnx"}
    assert styles.has_fast_net(infos["sketch"]) and styles.has_fast_net(infos["paint"])
    from stylecam.sheet import selector

    assert selector(infos["sketch"]) == "sketch"  # what the sheet selects it by
    for quality in ("auto", "best", "fast"):
        engine = Stylizer("sketch", device="cpu", quality=quality)
        assert engine.model_path.name == "sketch.fast.int8.onnx" and engine.quality_used == "fast"
        assert engine.notices == []
    assert Stylizer("paint", device="cpu", quality="best").model_path.name == "paint.onnx"


def test_corrupt_and_foreign_models_are_clear_errors(tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a protobuf at all")
    with pytest.raises(StylecamError, match="not a valid ONNX model"):
        Stylizer(corrupt)
    with pytest.raises(StylecamError, match="not found"):
        Stylizer(tmp_path / "missing.onnx")

    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])])
    foreign = tmp_path / "foreign.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(foreign))
    with pytest.raises(StylecamError, match="contract"):
        Stylizer(foreign)


def test_model_multiple_is_read_from_metadata(tmp_path):
    path = build_test_model(tmp_path / "m8.onnx", multiple=8)
    s = Stylizer(path)
    assert s.info.multiple == 8
    assert s.stylize(rand_frame(13, 21)).shape == (13, 21, 3)


def _pad_by_steps(x: np.ndarray, before: int, after: int, axis: int) -> np.ndarray:
    """Reference: np.pad's reflect, repeated while a pad is longer than the axis."""
    for side, pad in ((0, before), (1, after)):
        while pad > 0:
            size = x.shape[axis]
            step = pad if size == 1 else min(pad, size - 1)
            widths = [(0, 0)] * x.ndim
            widths[axis] = (step, 0) if side == 0 else (0, step)
            x = np.pad(x, widths, mode="edge" if size == 1 else "reflect")
            pad -= step
    return x


def test_mirror_pad_matches_repeated_reflect():
    rng = np.random.default_rng(0)
    for h, w, top, bottom, left, right in [(2, 3, 0, 7, 0, 9), (1, 5, 3, 4, 6, 0), (9, 1, 8, 8, 2, 2),
                                           (360, 640, 8, 16, 8, 8), (5, 7, 0, 0, 0, 0), (4, 4, 11, 13, 3, 17)]:
        x = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        want = _pad_by_steps(_pad_by_steps(x, top, bottom, 1), left, right, 2)
        got = mirror_pad(x, (top, bottom), (left, right))
        assert got.shape == (2, h + top + bottom, w + left + right, 3)
        assert np.array_equal(got, want), (h, w, top, bottom, left, right)
        assert np.array_equal(got[:, top:top + h, left:left + w], x)


def test_runtime_never_imports_torch(test_model):
    code = ("import sys, numpy as np, stylecam; "
            f"s = stylecam.Stylizer({str(test_model)!r}); "
            "s.stylize_batch([np.zeros((37, 53, 3), np.uint8)] * 2); "
            "import stylecam.cli, stylecam.files, stylecam.pipeline, stylecam.io; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_any_size_property(test_model):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    s = Stylizer(test_model)

    @settings(max_examples=60, deadline=None)
    @given(st.integers(1, 70), st.integers(1, 70), st.integers(1, 3))
    def check(h, w, n):
        frames = [rand_frame(h, w, i) for i in range(n)]
        outs = s.stylize_batch(frames)
        assert [o.shape for o in outs] == [(h, w, 3)] * n

    check()


@pytest.fixture()
def fast_models(tmp_path, monkeypatch) -> Path:
    """`paint` has a full and a fast net (different weights, so outputs tell them apart);
    `plain` has only a full one."""
    from conftest import build_test_model

    build_test_model(tmp_path / "paint.onnx", name="paint", seed=3)
    build_test_model(tmp_path / "paint.fast.onnx", name="paint", seed=4)
    build_test_model(tmp_path / "paint.fast.int8.onnx", name="paint", seed=6)
    build_test_model(tmp_path / "plain.onnx", name="plain", seed=5)
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    return tmp_path


def test_quality_picks_the_fast_net_on_cpu(fast_models):
    frame = rand_frame(20, 28)
    best = Stylizer("paint", device="cpu", quality="best")
    fast = Stylizer("paint", device="cpu", quality="fast", precision="fp32")
    auto = Stylizer("paint", device="cpu")  # auto on a CPU = fast, and its int8 file where there is one
    assert best.quality_used == "best" and best.model_path.name == "paint.onnx"
    assert fast.quality_used == "fast" and fast.model_path.name == "paint.fast.onnx"
    assert auto.quality_used == "fast" and auto.model_path.name == "paint.fast.int8.onnx"
    assert not np.array_equal(fast.stylize(frame), auto.stylize(frame))
    fast = Stylizer("paint", device="cpu", quality="fast", precision="int8")
    assert not np.array_equal(best.stylize(frame), fast.stylize(frame))
    assert np.array_equal(fast.stylize(frame), auto.stylize(frame))
    # variants are not styles of their own, and an explicit path runs exactly that file
    listed = [i.path.name for i in stylecam.list_styles() if i.path.parent == fast_models]
    assert listed == ["paint.onnx", "plain.onnx"]
    assert Stylizer(fast_models / "paint.onnx", device="cpu").quality_used == "best"
    # a style without a fast net runs its full net whatever is asked
    assert Stylizer("plain", device="cpu", quality="fast").quality_used == "best"
    with pytest.raises(StylecamError, match="unknown quality"):
        Stylizer("paint", quality="fastest")


def test_border_is_mirrored_around_and_cropped_off(tmp_path):
    """A net with `stylecam.border` sees the frame framed by a mirrored border; the output
    has the frame's size. The test net mixes colours per 4x4 block, so an 8-pixel border
    keeps the blocks where they were and the output must equal the border-less run."""
    from conftest import build_test_model

    plain = Stylizer(build_test_model(tmp_path / "a.onnx", seed=7), device="cpu")
    framed = Stylizer(build_test_model(tmp_path / "b.onnx", seed=7, border=8), device="cpu")
    assert framed.info.border == 8 and plain.info.border == 0
    for h, w in ((36, 52), (37, 53), (1, 9), (5, 1)):
        frame = rand_frame(h, w)
        out = framed.stylize(frame)
        assert out.shape == frame.shape
        if h % 4 == 0 and w % 4 == 0:
            assert np.array_equal(out, plain.stylize(frame))


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_gpu_provider_that_cannot_start_falls_back_to_the_cpu_choice(tmp_path, monkeypatch):
    """onnxruntime-gpu without working CUDA libraries lists CUDA but runs on the CPU; `auto`
    must then pick what a CPU should run (the fast net), and say so; an explicit device fails."""
    import stylecam.engine as engine

    build_test_model(tmp_path / "paint.onnx", name="paint", seed=3)
    build_test_model(tmp_path / "paint.fast.onnx", name="paint", seed=4)
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    # this CPU-only onnxruntime cannot start CUDA either: it skips it, as a broken install would
    monkeypatch.setattr(engine, "_provider_chain", lambda device, cache: ["CUDAExecutionProvider",
                                                                         "CPUExecutionProvider"])
    s = Stylizer("paint")
    assert s.device == "cpu" and s.quality_used == "fast" and "could not start" in s.gpu_fallback
    assert Stylizer("paint", quality="best").quality_used == "best"
    with pytest.raises(StylecamError, match="could not start"):
        Stylizer("paint", device="cuda")


def test_sessions_do_not_spin(test_model):
    """onnxruntime's intra-op threads sleep when out of work instead of spinning, so the work
    around each call (and the other stages of a job) gets the cores (engine.session_options)."""
    options = Stylizer(test_model, device="cpu").session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_to_uint8_rounds_half_to_even_and_saturates():
    from stylecam.engine import to_uint8

    rng = np.random.default_rng(0)
    image = rng.uniform(-40, 300, (37, 53, 3)).astype(np.float32)
    image[0, :10, 0] = [0.5, 1.5, 2.5, 254.5, 255.5, -0.5, -0.4, 253.5, 127.5, 128.5]
    for x in (image, image[:, ::-1], image.transpose(1, 0, 2), image.astype(np.float64), image[:1, :1]):
        assert np.array_equal(to_uint8(x), np.rint(np.clip(x, 0, 255)).astype(np.uint8))

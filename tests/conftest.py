"""Shared fixtures: a tiny ONNX style net built with onnx.helper (no torch, no training),
self-made images and videos, and the path to ../shared for the real-media group."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stylecam.contract import INPUT_NAME, OUTPUT_NAME, StyleInfo

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    path = Path(os.environ.get("STYLECAM_SHARED", REPO.parent / "shared"))
    return path if (path / "clips").is_dir() else None


def pytest_configure(config):
    if os.environ.get("STYLECAM_REQUIRE_SHARED") and shared_dir() is None:
        raise pytest.UsageError("STYLECAM_REQUIRE_SHARED is set but ../shared (STYLECAM_SHARED) was not found; "
                                "the real-media tests must run here")


def build_test_model(path: Path, name: str = "testnet", multiple: int = 4, seed: int = 0,
                     extra_convs: int = 0, border: int = 0,
                     temporal_weight: float = 0.0, edge_blur: float = 0.0, guide_radius: int = 3) -> Path:
    """A deterministic 'style' net that honours the contract and really needs padding:
    SpaceToDepth(multiple) only accepts H, W that are multiples of `multiple`.
    It mixes colours per block, so the output depends on the input (not the identity)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    ch = 3 * multiple * multiple
    weight = (np.eye(ch) * 0.6 + rng.normal(0, 0.05, (ch, ch))).astype(np.float32).reshape(ch, ch, 1, 1)
    bias = rng.uniform(20, 60, ch).astype(np.float32)
    nodes = [
        helper.make_node("SpaceToDepth", [INPUT_NAME], ["s2d"], blocksize=multiple),
        helper.make_node("Conv", ["s2d", "w", "b"], ["mixed"]),
        helper.make_node("DepthToSpace", ["mixed"], ["d2s"], blocksize=multiple, mode="DCR"),
        helper.make_node("Clip", ["d2s", "lo", "hi"], ["clipped"]),
    ]
    # optional full-resolution 3x3 convs that cost time (a slow net for live-mode tests);
    # each is an exact identity (centre tap 1), so the output does not change
    last = "clipped"
    for i in range(extra_convs):
        nodes.append(helper.make_node("Conv", [last, "wide", "zb16"], [f"wide{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Conv", [f"wide{i}", "narrow", "zb3"], [f"narrow{i}"], pads=[1, 1, 1, 1]))
        last = f"narrow{i}"
    nodes.append(helper.make_node("Identity", [last], [OUTPUT_NAME]))
    inits = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(255, np.float32), "hi")]
    if extra_convs:
        wide = np.zeros((16, 3, 3, 3), np.float32)
        narrow = np.zeros((3, 16, 3, 3), np.float32)
        for c in range(3):
            wide[c, c, 1, 1] = 1.0
            narrow[c, c, 1, 1] = 1.0
        inits += [numpy_helper.from_array(wide, "wide"), numpy_helper.from_array(narrow, "narrow"),
                  numpy_helper.from_array(np.zeros(16, np.float32), "zb16"),
                  numpy_helper.from_array(np.zeros(3, np.float32), "zb3")]
    info = StyleInfo(name=name, display_name=f"Test net {name}", painting="Test Pattern", artist="Nobody",
                     multiple=multiple, border=border, edge_blur=edge_blur, guide_radius=guide_radius,
                     training={"arch": "onnx.helper", "trained_steps": 0, "image_size": 0, "batch_size": 0,
                               "temporal_weight": temporal_weight})
    return save_one_input_net(path, nodes, inits, info)


def save_one_input_net(path: Path, nodes: list, inits: list, info: StyleInfo) -> Path:
    """Save a graph from `input` to `output` (float32 N,3,H,W) with `info` as its metadata."""
    import onnx
    from onnx import TensorProto, helper

    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph(nodes, info.name, [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in info.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_multi_style_model(path: Path, names: list[str], seed: int = 0, net_name: str = "multinet",
                            edge_blurs: list[float] | None = None, guide_radii: list[int] | None = None) -> Path:
    """A multi-style net by the contract (input and style weights 1,S): per style a colour
    gain and offset, out = clip(input * (w @ G)^2 + w @ B). The square makes a mix inside the
    net differ from a mix of the styles' outputs, as in a real net."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from stylecam.contract import STYLE_WEIGHTS_NAME

    rng = np.random.default_rng(seed)
    count = len(names)
    gains = rng.uniform(0.5, 1.2, (count, 3)).astype(np.float32)
    offsets = rng.uniform(0, 80, (count, 3)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", [STYLE_WEIGHTS_NAME, "G"], ["g"]),
        helper.make_node("Mul", ["g", "g"], ["g2"]),
        helper.make_node("Reshape", ["g2", "shape"], ["gain"]),
        helper.make_node("MatMul", [STYLE_WEIGHTS_NAME, "B"], ["b"]),
        helper.make_node("Reshape", ["b", "shape"], ["offset"]),
        helper.make_node("Mul", [INPUT_NAME, "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["shifted"]),
        helper.make_node("Clip", ["shifted", "lo", "hi"], [OUTPUT_NAME]),
    ]
    inits = [numpy_helper.from_array(gains, "G"), numpy_helper.from_array(offsets, "B"),
             numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(255, np.float32), "hi")]
    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph(nodes, net_name,
                              [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims),
                               helper.make_tensor_value_info(STYLE_WEIGHTS_NAME, TensorProto.FLOAT, [1, count])],
                              [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    info = StyleInfo(name=net_name, display_name=f"Test net {net_name}",
                     styles=tuple(StyleInfo(name=n, display_name=n.replace("_", " ").title(), painting=f"{n} painting",
                                            artist="Nobody", edge_blur=blur, guide_radius=radius)
                                  for n, blur, radius in zip(names, edge_blurs or [0.0] * count,
                                                             guide_radii or [3] * count)),
                     training={"arch": "onnx.helper", "trained_steps": 0})
    for k, v in info.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_tiny_checkpoint(path: Path, paintings: list[str], seed: int = 0, image_size: int = 64,
                         style_size: int = 128) -> Path:
    """A training checkpoint of the "tiny" net with one style per painting name, without
    training: random weights and distinct scale/shift rows, the recipe as `train` writes it."""
    import torch

    from training.loop import CHECKPOINT_FORMAT, TrainConfig
    from training.nets import TransformerNet

    config = TrainConfig(style_images=tuple(paintings), data="", out="", arch="tiny", image_size=image_size,
                         style_size=style_size, seed=seed)
    torch.manual_seed(seed)
    net = TransformerNet(config.net_config())
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.endswith((".weight", ".bias")) and param.dim() == 2 and len(paintings) > 1:  # norm rows
                param.add_(torch.randn_like(param) * 0.3)
    torch.save({"format": CHECKPOINT_FORMAT, "step": 10, "world_size": 1, "net_config": net.config.to_dict(),
                "model": net.state_dict(), "optimizer": None, "recipe": config.recipe(), "recipe_history": [],
                "rng": {"torch": torch.get_rng_state()}, "grad_cap": None}, path)
    return path


@pytest.fixture()
def mix_models(tmp_path, monkeypatch) -> Path:
    """A style folder with a three-style net (alpha, beta, gamma) and two one-style nets,
    and no learned styles of this machine."""
    folder = tmp_path / "models"
    folder.mkdir()
    build_multi_style_model(folder / "trio.onnx", ["alpha", "beta", "gamma"], seed=5, net_name="trio")
    build_test_model(folder / "testnet.onnx")
    build_test_model(folder / "othernet.onnx", name="othernet", seed=1)
    monkeypatch.setenv("STYLECAM_MODELS", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    build_test_model(folder / "testnet.onnx")
    build_test_model(folder / "othernet.onnx", name="othernet", seed=1)
    # slow enough (~60 ms a 320x240 frame on 2 cores) to be slower than a 25 fps source on a fast machine
    build_test_model(folder / "slownet.onnx", name="slownet", seed=2, extra_convs=24)
    return folder


@pytest.fixture(scope="session")
def test_model(models_dir) -> Path:
    return models_dir / "testnet.onnx"


@pytest.fixture()
def cli_env(models_dir, monkeypatch) -> dict[str, str]:
    """Environment in which `stylecam --style testnet` finds the test nets."""
    monkeypatch.setenv("STYLECAM_MODELS", str(models_dir))
    env = dict(os.environ)
    env["STYLECAM_MODELS"] = str(models_dir)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `stylecam ...` the way a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "stylecam", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def make_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: int = 12,
               audio: bool = False, codec: str = "libx264", rotation: int = 0) -> Path:
    """A self-made clip with moving content (and optionally a sine-tone audio track)."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p"
        if rotation:
            vs.set_display_rotation(rotation)
        if codec == "libx264" and (w % 2 or h % 2):
            vs.pix_fmt = "yuv444p"
        a_stream = None
        if audio:
            a_stream = out.add_stream("aac", rate=44100, layout="stereo")
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            img = np.stack([(xx * 3 + i * 8) % 256, (yy * 5 + i * 4) % 256, ((xx + yy) * 2) % 256], -1)
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if a_stream is not None:
            total = int(44100 * frames / fps)
            t = np.arange(total) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            samples = np.stack([tone, tone])
            for start in range(0, total, 1024):
                chunk = np.ascontiguousarray(samples[:, start:start + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = 44100
                af.pts = start
                for packet in a_stream.encode(af):
                    out.mux(packet)
            for packet in a_stream.encode():
                out.mux(packet)
    return path


def probe(path: Path) -> dict:
    """Frame count, size, duration, audio channels and rotation of a video, by decoding it."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = 0
        rotation = 0
        last_pts = first_pts = None
        for f in c.decode(v):
            frames += 1
            rotation = getattr(f, "rotation", 0) or 0
            t = float(f.pts * f.time_base) if f.pts is not None else None
            if t is not None:
                first_pts = t if first_pts is None else min(first_pts, t)
                last_pts = t if last_pts is None else max(last_pts, t)
        audio = [s.codec_context.channels for s in c.streams.audio]
        rate = float(v.average_rate) if v.average_rate else 0.0
        return {"frames": frames, "width": v.codec_context.width, "height": v.codec_context.height,
                "audio_channels": audio, "fps": rate, "rotation": rotation,
                "span": (last_pts - first_pts) if frames else 0.0}


def default_signals() -> None:
    """Popen preexec_fn: INT, TERM and HUP as a terminal delivers them. A shell starts
    background jobs (`.ci/run &`) with SIGINT ignored and `nohup` ignores SIGHUP; the child
    would inherit that and keep them ignored, as stylecam does on purpose."""
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)

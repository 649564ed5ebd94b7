"""Multi-style nets and style mixes: the contract's style weights, the registry listing
each style of a net, mixes inside a net and across nets, from the API and the CLI."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import build_multi_style_model, make_tiny_checkpoint, run_cli
from stylecam import StylecamError, Stylizer, list_styles
from stylecam.blend import label, parse_mix
from stylecam.contract import INPUT_NAME, OUTPUT_NAME, STYLE_WEIGHTS_NAME


@pytest.fixture()
def env(mix_models, tmp_path) -> dict[str, str]:
    import os

    return dict(os.environ)


def frame(seed: int = 0, shape=(36, 52, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def run_net(path: Path, image: np.ndarray, weights: list[float]) -> np.ndarray:
    """The net called directly with these style weights: float N,H,W,3 clipped."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = image.transpose(2, 0, 1)[None].astype(np.float32)
    out = session.run([OUTPUT_NAME], {INPUT_NAME: x, STYLE_WEIGHTS_NAME: np.array([weights], np.float32)})[0]
    return np.clip(out[0].transpose(1, 2, 0), 0, 255)


# -- the mix syntax ---------------------------------------------------------------------


def test_parse_mix_normalises_weights():
    assert parse_mix("mosaic:0.6,candy:0.4") == pytest.approx({"mosaic": 0.6, "candy": 0.4})
    assert parse_mix("mosaic:3, candy:1") == pytest.approx({"mosaic": 0.75, "candy": 0.25})
    assert parse_mix("mosaic,candy") == pytest.approx({"mosaic": 0.5, "candy": 0.5})
    assert parse_mix("mosaic:2") == {"mosaic": 1.0}
    assert parse_mix("mosaic") is None  # a plain style
    assert parse_mix("C:\\models\\x.onnx") is None and parse_mix("./x.onnx") is None  # paths, not mixes
    assert label({"mosaic": 0.6, "candy": 0.4}) == "mosaic60_candy40" and label({"candy": 1.0}) == "candy"


@pytest.mark.parametrize("spec, match", [
    ("mosaic:0,candy:0", "add up to a positive number"),
    ("mosaic:-1,candy:2", "must be a number >= 0"),
    ("mosaic:nan,candy:1", "must be a number >= 0"),
    ("mosaic:,candy:1", "needs a number after ':'"),
    ("mosaic:abc", "needs a number after ':'"),
    ("mosaic,,candy", "malformed"),
    (":0.5,candy:0.5", "malformed"),
    ("mosaic:1,mosaic:2", "twice"),
])
def test_malformed_mixes_are_one_line_errors(spec, match):
    with pytest.raises(StylecamError, match=match):
        parse_mix(spec)


# -- multi-style nets in the registry and the engine -------------------------------------


def test_registry_lists_each_style_of_a_multi_style_net(mix_models):
    infos = {i.name: i for i in list_styles()}
    assert {"alpha", "beta", "gamma", "testnet", "othernet"} <= set(infos) and "trio" not in infos
    beta = infos["beta"]
    assert beta.index == 1 and beta.path == mix_models / "trio.onnx"
    assert beta.display_name == "Beta" and beta.painting == "beta painting"
    assert beta.style_names == ("alpha", "beta", "gamma")


def test_a_style_of_a_multi_style_net_runs_its_row(mix_models):
    image = frame()
    s = Stylizer("gamma", device="cpu")
    assert s.name == "gamma" and s.info.display_name == "Gamma" and s.blend_mode == "none"
    expected = run_net(mix_models / "trio.onnx", image, [0, 0, 1])
    assert np.abs(s.stylize(image).astype(float) - expected).max() <= 0.5
    assert not np.array_equal(s.stylize(image), Stylizer("alpha", device="cpu").stylize(image))


def test_mix_inside_one_net_feeds_the_weights(mix_models):
    image = frame(1)
    s = Stylizer("alpha:0.6,gamma:0.4", device="cpu")
    assert s.blend_mode == "net" and s.name == "alpha60_gamma40" and s.notices == []
    inside = run_net(mix_models / "trio.onnx", image, [0.6, 0, 0.4])
    assert np.abs(s.stylize(image).astype(float) - inside).max() <= 0.5
    # the net's mix is not the mix of its outputs (which is what separate nets get)
    outside = 0.6 * run_net(mix_models / "trio.onnx", image, [1, 0, 0]) + \
        0.4 * run_net(mix_models / "trio.onnx", image, [0, 0, 1])
    assert np.abs(inside - outside).max() > 5
    assert Stylizer({"gamma": 2, "alpha": 3}, device="cpu").mix == pytest.approx({"gamma": 0.4, "alpha": 0.6})


def test_mix_of_separate_nets_mixes_their_outputs_and_says_so(mix_models):
    image = frame(2)
    s = Stylizer("testnet:0.7,beta:0.3", device="cpu", strength=1.0)
    assert s.blend_mode == "outputs"
    assert len(s.notices) == 1 and "separate nets" in s.notices[0] and "testnet" in s.notices[0]
    a = Stylizer("testnet", device="cpu").stylize(image).astype(float)
    b = Stylizer("beta", device="cpu").stylize(image).astype(float)
    assert np.abs(s.stylize(image) - (0.7 * a + 0.3 * b)).max() <= 1.0
    assert s.stylize_batch([image, frame(3)])[0].shape == image.shape
    only = Stylizer("testnet:1,beta:0", device="cpu")  # a style at weight 0 is checked, not run
    assert only.blend_mode == "none" and np.array_equal(only.stylize(image), a.astype(np.uint8))
    with pytest.raises(StylecamError, match="unknown style"):
        Stylizer("testnet:1,nope:0")


def test_set_mix_changes_the_nets_weights_without_reloading(mix_models):
    image = frame(4)
    s = Stylizer("alpha", device="cpu")
    session = s.session
    assert s.can_mix(["beta", "gamma"]) and not s.can_mix(["testnet"])
    s.set_mix({"beta": 0.5, "gamma": 0.5})
    assert s.session is session and s.name == "beta50_gamma50"
    expected = run_net(mix_models / "trio.onnx", image, [0, 0.5, 0.5])
    assert np.abs(s.stylize(image).astype(float) - expected).max() <= 0.5
    with pytest.raises(StylecamError, match="cannot run"):
        s.set_mix("testnet")
    assert not Stylizer("testnet", device="cpu").can_mix(["testnet"])


def test_unknown_style_in_a_mix_is_an_error(mix_models):
    with pytest.raises(StylecamError, match="unknown style 'nope'"):
        Stylizer("alpha:0.5,nope:0.5")


def test_a_multi_style_net_given_by_path_runs_its_first_style(mix_models):
    s = Stylizer(mix_models / "trio.onnx", device="cpu")
    assert s.name == "alpha" and any("holds 3 styles" in n for n in s.notices)


def test_multi_style_nets_that_break_the_contract(tmp_path):
    import onnx

    path = build_multi_style_model(tmp_path / "net.onnx", ["a", "b"])
    model = onnx.load(str(path))
    cases = {"unlisted": ("[]", "does not list its styles"),
             "miscounted": ('[{"name": "a"}, {"name": "b"}, {"name": "c"}]', "must be float32 1x3")}
    for name, (styles, error) in cases.items():
        for prop in model.metadata_props:
            if prop.key == "stylecam.styles":
                prop.value = styles
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        with pytest.raises(StylecamError, match=error):
            Stylizer(tmp_path / f"{name}.onnx")


def test_export_writes_a_multi_style_net_the_runtime_mixes_inside(tmp_path, monkeypatch):
    """training/export.py: a multi-style checkpoint -> one ONNX with style weights; the
    registry lists its styles, and a style or a mix runs as the PyTorch net does."""
    torch = pytest.importorskip("torch")
    from training.export import export_onnx
    from training.loop import load_checkpoint, net_from_checkpoint

    from stylecam.contract import StyleInfo

    ckpt = make_tiny_checkpoint(tmp_path / "multi.pt", ["red_dots.jpg", "blue_lines.jpg", "waves.jpg"])
    folder = tmp_path / "models"
    export_onnx(ckpt, folder / "bundle.onnx", StyleInfo(name="bundle"), all_styles=True)
    monkeypatch.setenv("STYLECAM_MODELS", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    infos = {i.name: i for i in list_styles()}
    assert {"red_dots", "blue_lines", "waves"} <= set(infos) and infos["blue_lines"].display_name == "Blue Lines"
    assert infos["waves"].index == 2 and infos["waves"].arch["styles"] == 3

    net = net_from_checkpoint(load_checkpoint(ckpt)).eval()
    image = frame(6, (48, 64, 3))
    x = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32))

    def torch_out(weights):
        with torch.no_grad():
            y = net(x, torch.tensor([weights], dtype=torch.float32))
        return y[0].clamp(0, 255).permute(1, 2, 0).numpy()

    one = Stylizer("blue_lines", device="cpu")
    assert np.abs(one.stylize(image) - torch_out([0, 1, 0])).max() <= 1.5
    mixed = Stylizer("red_dots:0.5,waves:0.5", device="cpu")
    assert mixed.blend_mode == "net"
    assert np.abs(mixed.stylize(image) - torch_out([0.5, 0, 0.5])).max() <= 1.5
    assert np.abs(torch_out([0.5, 0, 0.5]) - 0.5 * (torch_out([1, 0, 0]) + torch_out([0, 0, 1]))).max() > 2

    r = subprocess.run([sys.executable, "-m", "training", "export", str(ckpt), "-o", str(tmp_path / "x.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--all-styles" in r.stderr and not (tmp_path / "x.onnx").exists()


# -- live style switches ------------------------------------------------------------------


class SteadySource:
    name = "steady"

    def open(self):
        pass

    def read(self):
        time.sleep(0.01)
        return frame(7, (24, 32, 3))

    def close(self):
        pass


class Recorder:
    """A sink that presses n (next style) at the first frame and records what each frame ran."""

    def __init__(self, loop, press):
        self.loop, self.press, self.seen = loop, press, []

    def write(self, image, live_frame):
        self.seen.append((self.loop.engine, dict(self.loop.engine.mix)))
        if len(self.seen) == 1:
            self.press()

    def close(self):
        pass


def test_live_switch_within_a_multi_style_net_fades(mix_models):
    from stylecam.live import LiveLoop, WindowSink

    class NoDisplay:
        def show(self, rgb):
            return None

        def close(self):
            pass

    engine = Stylizer("alpha", device="cpu")
    loop = LiveLoop(SteadySource(), engine, warn=lambda m: None, fade_seconds=0.4)
    window = WindowSink(loop, ["alpha", "beta", "gamma"], display=NoDisplay())
    recorder = Recorder(loop, lambda: window.handle_key("n", np.zeros((4, 4, 3), np.uint8)))
    loop.add_sink(recorder)
    loop.add_sink(window)
    loop.run(duration=1.2)
    assert all(e is engine for e, _ in recorder.seen)  # one net, never reloaded
    beta = [mix.get("beta", 0.0) for _, mix in recorder.seen]
    assert beta[0] == 0 and beta[-1] == 1.0 and loop.style == "beta"
    between = [b for b in beta if 0 < b < 1]
    assert len(between) >= 3 and between == sorted(between)  # a gradual fade, not a cut
    assert all(abs(sum(mix.values()) - 1) < 1e-6 for _, mix in recorder.seen)


def test_live_switch_between_separate_nets_cuts(mix_models):
    from stylecam.live import LiveLoop

    engine = Stylizer("testnet", device="cpu")
    loop = LiveLoop(SteadySource(), engine, warn=lambda m: None)
    recorder = Recorder(loop, lambda: loop.switch_style("othernet"))
    loop.add_sink(recorder)
    loop.run(duration=0.4)
    assert recorder.seen[0][0] is engine and all(e.name == "othernet" for e, _ in recorder.seen[1:])
    faded = LiveLoop(SteadySource(), Stylizer("alpha", device="cpu"), warn=lambda m: None, fade_seconds=0)
    faded.switch_style("beta")  # fades switched off: a cut
    assert faded.engine.name == "beta" and faded.engine.mix == {"beta": 1.0}


# -- the command line ---------------------------------------------------------------------


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(frame(5, (40, 56, 3))).save(path)
    return path


def test_cli_mix_inside_a_net(tmp_path, photo, env, mix_models):
    out = tmp_path / "mixed.png"
    r = run_cli(photo, "-o", out, "--style", "alpha:0.6,gamma:0.4", env=env)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    expected = run_net(mix_models / "trio.onnx", np.asarray(Image.open(photo)), [0.6, 0, 0.4])
    assert np.abs(np.asarray(Image.open(out)).astype(float) - expected).max() <= 0.5
    r = run_cli(photo, "--style", "alpha:0.6,gamma:0.4", env=env)  # default name: the mix's label
    assert r.returncode == 0 and (tmp_path / "photo_alpha60_gamma40.png").is_file()


def test_cli_mix_of_separate_nets_warns_once(tmp_path, photo, env):
    out = tmp_path / "mixed.png"
    r = run_cli(photo, "-o", out, "--style", "testnet:0.5,othernet:0.5", env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "mixing their outputs" in warnings[0]
    assert out.is_file()


@pytest.mark.parametrize("spec, match", [
    ("testnet:0.5,nope:0.5", "unknown style 'nope'"),
    ("testnet:0,othernet:0", "add up to a positive number"),
    ("testnet:-0.5,othernet:1.5", ">= 0"),
    ("testnet:0.5,,othernet", "malformed"),
    ("testnet:half", "needs a number"),
])
def test_cli_bad_mixes_are_one_line_exit_2(tmp_path, photo, env, spec, match):
    out = tmp_path / "never.png"
    r = run_cli(photo, "-o", out, "--style", spec, env=env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylecam: error:") and match in lines[0], r.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_cli_lists_the_styles_of_a_multi_style_net(env, mix_models):
    r = run_cli("--list-styles", env=env)
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"alpha", "beta", "gamma", "testnet"} <= set(names) and "trio" not in names
    shutil.rmtree(mix_models)

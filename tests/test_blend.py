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


# -- blend nets: one-style nets of one ancestry, their weights mixed in the net ------------


def build_gain_net(path: Path, name: str, seed: int) -> Path:
    """A one-style net whose output is not linear in its weights, as in a real net:
    out = clip(input * g^2 + b), g and b per channel. Nets built by it share one graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from stylecam.contract import StyleInfo

    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.5, 1.3, (1, 3, 1, 1)).astype(np.float32)
    offset = rng.uniform(0, 60, (1, 3, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Mul", ["g", "g"], ["g2"]), helper.make_node("Mul", [INPUT_NAME, "g2"], ["scaled"]),
             helper.make_node("Add", ["scaled", "b"], ["shifted"]),
             helper.make_node("Clip", ["shifted", "lo", "hi"], [OUTPUT_NAME])]
    inits = [numpy_helper.from_array(gain, "g"), numpy_helper.from_array(offset, "b"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(255, np.float32), "hi")]
    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    info = StyleInfo(name=name, display_name=name.title(), painting=f"{name} painting", artist="Nobody",
                     training={"arch": "onnx.helper", "temporal_weight": 50.0, "style_image": f"{name}.jpg",
                               "init_from": {"style_image": "root.jpg"}})
    for k, v in info.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def family_models(tmp_path, monkeypatch) -> Path:
    """alpha, beta, gamma: one-style nets fine-tuned from one net, and their blend net."""
    from training.blend import build_blend_net

    folder = tmp_path / "family"
    folder.mkdir()
    nets = [build_gain_net(folder / f"{n}.fast.onnx", n, seed) for seed, n in enumerate(["alpha", "beta", "gamma"])]
    build_blend_net(nets, folder / "blend.onnx")
    monkeypatch.setenv("STYLECAM_MODELS", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return folder


def test_a_blend_net_runs_each_member_exactly_and_a_mix_of_their_weights(family_models):
    from training.blend import check_blend_net, family

    members = family(family_models, "root.jpg")
    assert [p.name for p in members] == ["alpha.fast.onnx", "beta.fast.onnx", "gamma.fast.onnx"]
    assert check_blend_net(family_models / "blend.onnx", members) < 1e-3
    image = frame(3)
    x = image.astype(np.float32)
    weights = [[numpy_weights(p, k) for k in ("g", "b")] for p in members]
    g = 0.3 * weights[0][0] + 0.7 * weights[2][0]
    b = 0.3 * weights[0][1] + 0.7 * weights[2][1]
    expected = np.clip(x * g.reshape(3) ** 2 + b.reshape(3), 0, 255)
    got = run_net(family_models / "blend.onnx", image, [0.3, 0.0, 0.7])
    assert np.abs(got - expected).max() < 1e-2
    outputs_mixed = 0.3 * run_net(family_models / "blend.onnx", image, [1, 0, 0]) + \
        0.7 * run_net(family_models / "blend.onnx", image, [0, 0, 1])
    assert np.abs(got - outputs_mixed).max() > 2  # a mix of weights, not of pictures


def numpy_weights(path: Path, name: str) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    return next(numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer if i.name == name)


def test_a_blend_net_is_built_only_from_one_architecture(tmp_path):
    from conftest import build_test_model
    from training.blend import BlendError, build_blend_net

    a = build_gain_net(tmp_path / "a.onnx", "a", 0)
    other = build_test_model(tmp_path / "other.onnx", name="other")
    with pytest.raises(BlendError, match="not the architecture"):
        build_blend_net([a, other], tmp_path / "blend.onnx")
    with pytest.raises(BlendError, match="at least two"):
        build_blend_net([a], tmp_path / "blend.onnx")
    with pytest.raises(BlendError, match="same style"):
        build_blend_net([a, build_gain_net(tmp_path / "a2.onnx", "a", 1)], tmp_path / "blend.onnx")
    assert not (tmp_path / "blend.onnx").exists()


def test_a_mix_of_styles_a_blend_net_holds_runs_inside_it(family_models):
    alone = Stylizer("beta", device="cpu")
    assert alone.model_path.name == "beta.fast.onnx" and alone.blend_mode == "none"  # a style's own net wins
    mixed = Stylizer("alpha:0.5,gamma:0.5", device="cpu")
    assert mixed.blend_mode == "net" and mixed.model_path.name == "blend.onnx" and mixed.notices == []
    assert mixed.default_smoothing == "none"  # its members were trained to be steady
    names = [s.name for s in list_styles()]
    assert {"alpha", "beta", "gamma"} <= set(names) and "blend" not in names  # listed once, by their own nets


def test_live_switch_between_members_of_a_blend_net_fades_then_runs_the_own_net(family_models):
    from stylecam.live import LiveLoop

    engine = Stylizer("alpha", device="cpu")
    loop = LiveLoop(SteadySource(), engine, warn=lambda m: None, fade_seconds=0.4)
    recorder = Recorder(loop, lambda: loop.switch_style("beta"))
    loop.add_sink(recorder)
    loop.run(duration=1.5)
    nets = [e.model_path.name for e, _ in recorder.seen]
    assert nets[0] == "alpha.fast.onnx" and nets[-1] == "beta.fast.onnx" and loop.style == "beta"
    faded = [mix.get("beta", 0.0) for (e, mix), net in zip(recorder.seen, nets) if net == "blend.onnx"]
    between = [b for b in faded if 0 < b < 1]
    assert len(between) >= 3 and between == sorted(between)  # a gradual fade in the blend net, not a cut
    assert nets.index("beta.fast.onnx") > nets.index("blend.onnx")  # then on in beta's own net
    assert set(nets[nets.index("beta.fast.onnx"):]) == {"beta.fast.onnx"}


def test_the_bundled_blend_net_holds_the_bundled_nets_as_they_are():
    """A fast net re-exported without rebuilding models/blend.onnx would blend a stale copy."""
    from stylecam.styles import bundled_dir, read_info
    from training.blend import check_blend_net, family
    from training.recipes.build_blend_net import ROOT_STYLE

    members = family(bundled_dir(), f"{ROOT_STYLE}.jpg")
    blend = bundled_dir() / "blend.onnx"
    assert read_info(blend).style_names == tuple(read_info(p).name for p in members)
    assert len(members) >= 4 and check_blend_net(blend, members) < 0.01


def test_every_bundled_model_states_its_styles_upsampling_settings():
    """styles.json is where a style's edge blur and guide radius are defined; every bundled
    file of the style, and its row of the blend net, must say the same (export_styles.py --restamp)."""
    from stylecam.styles import bundled_dir, read_info
    from stylecam.upsample import RADIUS
    from training.recipes import load_styles

    want = {name: (float(entry.get("edge_blur", 0.0)), int(entry.get("guide_radius", RADIUS)))
            for name, entry in load_styles().items()}
    assert any(blur for blur, _ in want.values())  # some style sets one
    seen = 0
    for path in sorted(bundled_dir().glob("*.onnx")):
        info = read_info(path)
        for style in info.styles or (info,):
            assert (style.edge_blur, style.guide_radius) == want[style.name], (path.name, style.name)
            seen += 1
    assert seen >= 2 * len(want)

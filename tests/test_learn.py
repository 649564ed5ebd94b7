"""A painting of the user's as a style: training/adapt.py learns a new style's norm rows on
a tiny base net made here, and the runtime checks, caches and names what it learned
(--style-image, --learn-style), with one-line errors for bad paintings, an unusable cache
and a missing training extra."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import build_test_model, make_tiny_checkpoint, make_video, run_cli, shared_dir
from stylecam import Stylizer

torch = pytest.importorskip("torch")
SHARED = shared_dir()
pytestmark = [pytest.mark.media,
              pytest.mark.skipif(SHARED is None, reason="needs the shared VGG weights (set STYLECAM_SHARED)")]
STEPS = "2"  # every CLI run learns with this budget, so they share one cache entry


def vgg_weights() -> Path:
    return SHARED / "weights" / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth"


def painting_image(size=(96, 80), seed=0) -> Image.Image:
    """Bold diagonal strokes in two colours: a 'painting' with a clear texture."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy) // 6 % 2).astype(bool)
    rgb = np.where(stripes[..., None], [200, 60, 30], [30, 70, 160]).astype(np.uint8)
    rgb = rgb + np.random.default_rng(seed).integers(0, 20, rgb.shape, dtype=np.uint8)
    return Image.fromarray(rgb)


def photo_image(seed: int, size=(72, 64)) -> Image.Image:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 3 + seed * 40) % 256, (yy * 4) % 256, ((xx - yy) * 2 + 128) % 256], -1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("learn")
    base = make_tiny_checkpoint(root / "base.pt", ["one.jpg", "two.jpg"], image_size=32, style_size=64)
    painting_image().save(root / "my_painting.png")
    (root / "photos").mkdir()
    for i in range(3):
        photo_image(i).save(root / "photos" / f"p{i}.png")
    photo_image(7, (60, 44)).save(root / "photo.png")
    (root / "models").mkdir()
    build_test_model(root / "models" / "testnet.onnx")
    return {"root": root, "base": base, "painting": root / "my_painting.png", "photos": root / "photos",
            "photo": root / "photo.png", "models": root / "models"}


@pytest.fixture(scope="module")
def env(setup) -> dict[str, str]:
    """Where a user's cache and data folders are, and what learning reads."""
    root = setup["root"]
    return dict(os.environ, XDG_CACHE_HOME=str(root / "cache"), XDG_DATA_HOME=str(root / "data"),
                STYLECAM_MODELS=str(setup["models"]), STYLECAM_BASE_CHECKPOINT=str(setup["base"]),
                STYLECAM_VGG_WEIGHTS=str(vgg_weights()), STYLECAM_LEARN_PHOTOS=str(setup["photos"]))


def cache_files(env: dict[str, str]) -> list[str]:
    folder = Path(env["XDG_CACHE_HOME"]) / "stylecam" / "learned"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def one_line_exit_2(r: subprocess.CompletedProcess, match: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylecam: error:") and match in lines[0], r.stderr


def run_without_torch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`stylecam ARGS` on an install without torch (the runtime only)."""
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = ['stylecam', *sys.argv[1:]]; "
            "runpy.run_module('stylecam', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


# -- the learning itself (training/adapt.py) ----------------------------------------------


def test_new_row_starts_at_the_mean_and_only_it_learns(setup):
    from training import losses
    from training.adapt import _train_row, _with_new_row
    from training.loop import load_checkpoint, net_from_checkpoint
    from training.nets import ConditionalInstanceNorm

    base = net_from_checkpoint(load_checkpoint(setup["base"]))
    net, row = _with_new_row(base)
    assert row == 2 and net.config.styles == 3 and net.config.channels == base.config.channels
    norms = [m for m in net.modules() if isinstance(m, ConditionalInstanceNorm)]
    for m in norms:
        assert torch.allclose(m.weight[2], m.weight[:2].mean(0)) and torch.allclose(m.bias[2], m.bias[:2].mean(0))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trained = _train_row(net, row)
    optimizer = torch.optim.Adam(trained, lr=0.1)
    x = torch.rand(2, 3, 32, 32) * 255
    y = net(x, torch.eye(3)[[2, 2]])
    loss = losses.tv_loss(y) + losses.content_loss(y, torch.zeros_like(y))
    loss.backward()
    optimizer.step()
    after = net.state_dict()
    moved = [k for k in after if not torch.equal(after[k], before[k])]
    assert moved and all(k.endswith((".weight", ".bias")) and after[k].dim() == 2 for k in moved)  # norm rows only
    for k in moved:
        assert torch.equal(after[k][:2], before[k][:2]) and not torch.equal(after[k][2], before[k][2])


def test_edge_loss_is_what_the_runtime_border_changes_at_the_frame_edge():
    """The edge term compares the picture painted with the runtime's border with the net's
    own picture with a wide border: nothing to learn when they are the same border, and
    what differs most lies along the frame's edge (inside, only the instance norms' statistics move)."""
    from training.adapt import _OneRow
    from training.export import painted
    from training.nets import PRESETS, TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(PRESETS["fast_up8"]).eval()  # zero-padded convs: its edges need a border
    x = torch.rand(1, 3, 64, 64) * 255
    model = _OneRow(net, 0, 8)
    with torch.no_grad():
        model(torch.cat([x, x.flip(3)]))  # as compute_losses calls it: x first, then its warped twin
        same, differ = model.edge_loss(x, 8), model.edge_loss(x, 24)  # pixels 0..255: float noise is < 1e-6
        assert same < 1e-6 and differ > 1
        gap = (painted(net, x, 8, torch.ones(1, 1)) - painted(net, x, 24, torch.ones(1, 1))).abs().mean(1)[0]
    assert gap[:8].mean() > 2 * gap[24:40, 24:40].mean()


def test_adapt_recipe_names_what_trains_and_refuses_the_rest():
    from training.adapt import AdaptRecipe

    assert AdaptRecipe().trains == "net" and AdaptRecipe().learning_rate == 0.003
    assert AdaptRecipe(trains="row").learning_rate == 0.01 and AdaptRecipe(lr=0.02).learning_rate == 0.02
    assert AdaptRecipe().key("base") != AdaptRecipe(trains="row").key("base")  # separate cache entries
    for bad in ({"trains": "everything"}, {"style_weight": -1}, {"steps": 0}, {"border": -1}, {"edge_weight": -1}):
        with pytest.raises(ValueError):
            AdaptRecipe(**bad)


def test_adapt_style_exports_a_one_style_model_with_a_progress_bar(setup, tmp_path, capsys):
    from training.adapt import AdaptRecipe, adapt_style

    import stylecam

    out = tmp_path / "learned.onnx"
    photos = sorted(setup["photos"].iterdir())[:2] + [np.asarray(photo_image(9))]  # files and arrays
    result = adapt_style(setup["painting"], setup["base"], out, photos, recipe=AdaptRecipe(steps=3),
                         vgg_weights=vgg_weights(), progress=True)
    assert result.steps == 3 and result.stopped_by == "steps" and np.isfinite(result.last_loss)
    assert "learning my_painting" in capsys.readouterr().err  # the tqdm bar
    s = stylecam.Stylizer(out, device="cpu")
    assert s.name == "my_painting" and s.info.arch["styles"] == 1 and s.info.styles == ()
    assert s.info.border == AdaptRecipe().border  # it learned its edges with the runtime's border
    t = s.info.training
    assert t["style_image"] == "my_painting.png" and t["style_index"] == 2 and t["trained_steps"] == 3
    assert t["adapted_from"] == {"checkpoint": "base.pt", "trained_steps": 10, "styles": ["one.jpg", "two.jpg"]}
    assert t["image_size"] == 32 and t["style_size"] == 64  # the base net's loss settings
    frame = np.asarray(photo_image(3))
    assert s.stylize(frame).shape == frame.shape

    timed = adapt_style(setup["painting"], setup["base"], tmp_path / "t.onnx", photos,
                        recipe=AdaptRecipe(steps=500, max_minutes=1e-4), vgg_weights=vgg_weights(), progress=False)
    assert timed.stopped_by == "time" and timed.steps == 1


# -- the runtime: --style-image, the cache, --learn-style ---------------------------------


@pytest.fixture(scope="module")
def learned(setup, env) -> subprocess.CompletedProcess:
    """The first --style-image run: it learns and caches the style."""
    out = setup["root"] / "first.png"
    return run_cli(setup["photo"], "--style-image", setup["painting"], "--learn-steps", STEPS, "-o", out, env=env)


def test_style_image_learns_once_then_starts_at_once_without_torch(setup, env, learned):
    assert learned.returncode == 0, learned.stderr
    assert "learning my_painting.png" in learned.stderr
    with Image.open(setup["root"] / "first.png") as im:
        assert im.size == (60, 44)
    cached = cache_files(env)
    assert len(cached) == 2 and cached[1].endswith(".onnx")  # no temp file left
    assert cached[0] == cached[1].replace(".onnx", ".int8.onnx")  # an int8 copy, which the CPU runs
    net = Stylizer(Path(env["XDG_CACHE_HOME"]) / "stylecam" / "learned" / cached[1], device="cpu")
    assert net.model_path.name == cached[0] and net.info.precision == "int8" and net.name == "my_painting"
    out = setup["root"] / "second.png"
    r = run_without_torch(setup["photo"], "--style-image", setup["painting"], "--learn-steps", STEPS, "-o", out,
                          env=env)
    assert r.returncode == 0, r.stderr
    assert "learning" not in r.stderr and out.read_bytes() == (setup["root"] / "first.png").read_bytes()
    assert cache_files(env) == cached
    # the cache is keyed by the painting's content, not its name
    copy = setup["root"] / "copy_of_painting.png"
    copy.write_bytes(setup["painting"].read_bytes())
    r = run_without_torch(setup["photo"], "--style-image", copy, "--learn-steps", STEPS, "-o",
                          setup["root"] / "third.png", env=env)
    assert r.returncode == 0, r.stderr
    # another recipe is another net: learning it needs torch, which this install lacks
    r = run_without_torch(setup["photo"], "--style-image", setup["painting"], "--learn-steps", "3",
                          "-o", setup["root"] / "fourth.png", env=env)
    one_line_exit_2(r, "needs the training extra: pip install 'stylecam[train]'")
    assert cache_files(env) == cached and not (setup["root"] / "fourth.png").exists()


def test_style_image_for_video_folder_and_webcam(setup, env, learned, tmp_path):
    from stylecam.learn import photos_from

    clip = make_video(tmp_path / "clip.mp4", frames=40, size=(64, 48))
    frames = photos_from(None, clip)
    assert len(frames) == 2 and all(isinstance(f, np.ndarray) and f.shape == (48, 64, 3) for f in frames)
    assert photos_from(None, setup["photos"]) == sorted(setup["photos"].iterdir())
    r = run_cli(clip, "--style-image", setup["painting"], "--learn-steps", STEPS, "-o", tmp_path / "out.mp4",
                env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli(setup["photos"], "--style-image", setup["painting"], "--learn-steps", STEPS, "-o",
                tmp_path / "styled", env=env)
    assert r.returncode == 0 and len(list((tmp_path / "styled").iterdir())) == 3, r.stderr
    # live: the learned net is found, then the missing camera is the one error
    r = run_cli("--webcam", "7", "--no-window", "-o", tmp_path / "rec.mp4", "--style-image", setup["painting"],
                "--learn-steps", STEPS, env=env)
    one_line_exit_2(r, "camera 7 not found")


def test_learn_style_makes_a_named_style(setup, env, learned, tmp_path):
    r = run_cli("--learn-style", setup["painting"], "--name", "my_style", "--learn-steps", STEPS, env=env)
    assert r.returncode == 0, r.stderr
    assert "learned style my_style" in r.stderr and "learning" not in r.stderr.split("learned style")[0]
    target = Path(env["XDG_DATA_HOME"]) / "stylecam" / "styles" / "my_style.onnx"
    assert sorted(p.name for p in target.parent.iterdir()) == ["my_style.int8.onnx", "my_style.onnx"]
    listed = run_cli("--list-styles", env=env)
    line = next(x for x in listed.stdout.splitlines() if x.startswith("my_style"))
    assert "(learned)" in line and "my_painting" in line
    out = tmp_path / "out.png"
    r = run_cli(setup["photo"], "--style", "my_style", "-o", out, env=env)
    assert r.returncode == 0 and out.is_file(), r.stderr
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(setup["root"] / "first.png")))
    sheet = run_cli("--sheet", setup["photo"], "-o", tmp_path / "sheet.png", "--json", env=env)
    assert sheet.returncode == 0 and "my_style" in sheet.stdout, sheet.stderr

    again = run_cli("--learn-style", setup["painting"], "--name", "my_style", "--learn-steps", STEPS, env=env)
    one_line_exit_2(again, "use -y/--overwrite")
    r = run_cli("--learn-style", setup["painting"], "--name", "my_style", "--learn-steps", STEPS, "-y", env=env)
    assert r.returncode == 0, r.stderr
    one_line_exit_2(run_cli("--learn-style", setup["painting"], "--name", "mosaic", "--learn-steps", STEPS, env=env),
                    "is taken by")
    one_line_exit_2(run_cli("--learn-style", setup["painting"], "--name", "my style!", env=env), "style name")
    one_line_exit_2(run_cli("--learn-style", setup["painting"], env=env), "needs --name")
    assert not [p for p in target.parent.iterdir() if ".part" in p.name]


# -- bad input ------------------------------------------------------------------------------


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header declares width x height (a decompression bomb's trick)."""
    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 12  # length(4) 'IHDR'(4) ... after the 8-byte signature
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("not a picture"), "cannot read image"),
    (lambda p: painting_image((40, 200)).save(p), "needs at least 64 px"),
    (lambda p: bomb_png(p, 60000, 60000), "exceeds limit"),  # Pillow's own bomb guard
    (lambda p: bomb_png(p, 6000, 5000), "above the limit of 16 megapixels"),
    (lambda p: None, "not found"),
])
def test_bad_style_images_are_one_line_exit_2(setup, env, tmp_path, make, match):
    bad = tmp_path / "painting.png"
    make(bad)
    before = cache_files(env)
    for args in (["--style-image", bad, setup["photo"], "-o", tmp_path / "o.png"],
                 ["--learn-style", bad, "--name", "bad_one"]):
        r = run_cli(*args, env=env)
        one_line_exit_2(r, match)
    assert cache_files(env) == before and not (tmp_path / "o.png").exists()


def test_unwritable_cache_is_one_line_and_leaves_nothing(setup, env, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder would be")
    painting = tmp_path / "fresh.png"
    painting_image(seed=5).save(painting)  # not in any cache
    r = run_cli(setup["photo"], "--style-image", painting, "--learn-steps", STEPS, "-o", tmp_path / "o.png",
                env=dict(env, XDG_CACHE_HOME=str(blocker / "cache")))
    one_line_exit_2(r, "cannot make the folder")
    assert blocker.read_text().startswith("a file") and not (tmp_path / "o.png").exists()


def test_missing_pieces_for_learning_are_one_line(setup, env, tmp_path):
    painting = tmp_path / "fresh.png"
    painting_image(seed=6).save(painting)
    before = cache_files(env)
    args = ["--learn-style", painting, "--name", "fresh", "--learn-steps", STEPS]
    one_line_exit_2(run_without_torch(*args, env=env), "needs the training extra: pip install 'stylecam[train]'")
    no_photos = {k: v for k, v in env.items() if k != "STYLECAM_LEARN_PHOTOS"}
    one_line_exit_2(run_cli(*args, env=no_photos), "needs photos to learn on")
    no_vgg = {k: v for k, v in env.items() if k != "STYLECAM_VGG_WEIGHTS"}
    if not any((Path(p) / "torchvision").is_dir() for p in sys.path if p):
        one_line_exit_2(run_cli(*args, env=no_vgg), "needs VGG16 weights")
    one_line_exit_2(run_cli(*args, "--vgg-weights", tmp_path / "nothing.pth", env=env), "VGG weights not found")
    one_line_exit_2(run_cli(*args, "--base-checkpoint", tmp_path / "none.pt", env=env), "base checkpoint not found")
    one_line_exit_2(run_cli("--style-image", painting, env=env), "no input given")
    assert cache_files(env) == before  # nothing learned, nothing half-written
    assert not (Path(env["XDG_DATA_HOME"]) / "stylecam" / "styles" / "fresh.onnx").exists()

"""Training package: short real runs on ../shared photos with the shared VGG16 weights,
exact resume, ONNX export parity, torchrun with gloo, and clear errors for wrong files."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, shared_dir

torch = pytest.importorskip("torch")
SHARED = shared_dir()
pytestmark = [pytest.mark.media,
              pytest.mark.skipif(SHARED is None, reason="needs ../shared (set STYLECAM_SHARED)")]


def vgg_weights() -> Path:
    return SHARED / "weights" / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth"


def train_args(out: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "--style-image", str(SHARED / "styles" / "mosaic.jpg"), "--data", str(SHARED / "photos" / "train"),
            "--out", str(out), "--arch", "tiny", "--steps", str(steps), "--batch-size", "2", "--image-size", "64",
            "--style-size", "128", "--vgg-weights", str(vgg_weights()), "--threads", "2", "--log-every", "1",
            "--checkpoint-every", "15", "--keep-checkpoints", "5", "--sample-every", "1000", "--no-progress", *extra]


def run_training(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "training", *args], capture_output=True, text=True, cwd=REPO,
                       env=env, timeout=900)
    return r


def losses(run: Path) -> dict[int, float]:
    with open(run / "log.csv") as f:
        return {int(row["step"]): float(row["total"]) for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "full"
    r = run_training(*train_args(out, 30, "--workers", "2"))
    assert r.returncode == 0, r.stderr
    return out


def test_thirty_steps_lower_the_loss(full_run):
    log = losses(full_run)
    assert sorted(log) == list(range(1, 31))
    first = np.mean([log[s] for s in range(1, 6)])
    last = np.mean([log[s] for s in range(26, 31)])
    assert last < 0.7 * first, (first, last)
    assert (full_run / "losses.png").is_file() and (full_run / "last.pt").is_file()


def test_same_seed_same_run(full_run, tmp_path):
    """--seed fixes the initial weights too: a fresh run repeats the first steps exactly."""
    r = run_training(*train_args(tmp_path / "again", 3, "--workers", "0"))
    assert r.returncode == 0, r.stderr
    first, again = losses(full_run), losses(tmp_path / "again")
    assert [again[s] for s in (1, 2, 3)] == [first[s] for s in (1, 2, 3)]


def test_resume_reproduces_the_uninterrupted_run_exactly(full_run, tmp_path):
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    r = run_training(*train_args(resumed, 30, "--workers", "0", "--resume", str(full_run / "step_000015.pt")))
    assert r.returncode == 0, r.stderr
    a, b = losses(full_run), losses(resumed)
    assert [b[s] for s in range(16, 31)] == [a[s] for s in range(16, 31)]



def test_change_recipe_on_resume_is_recorded_in_checkpoint_and_model(full_run, tmp_path):
    """--change-recipe continues a run with other loss settings; the earlier ones travel on
    into later checkpoints and the exported model's metadata."""
    import json

    import onnx

    from stylecam.contract import Key

    changed = tmp_path / "changed"
    r = run_training(*train_args(changed, 17, "--workers", "0", "--resume", str(full_run / "step_000015.pt"),
                                 "--style-weight", "7", "--lr", "2e-3", "--change-recipe"))
    assert r.returncode == 0, r.stderr
    assert "changed settings" in r.stderr
    ckpt = torch.load(changed / "last.pt", weights_only=False)
    assert ckpt["recipe"]["style_weight"] == 7
    assert ckpt["recipe_history"] == [{"from_step": 15, "was": {"style_weight": 5.0, "lr": 1e-3}}]
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == 2e-3  # not the lr stored in Adam's state
    model = tmp_path / "m.onnx"
    r = run_training("export", str(changed / "last.pt"), "-o", str(model))
    assert r.returncode == 0, r.stderr
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    recipe = json.loads(meta[Key.TRAINING])
    assert recipe["earlier_settings"] == ckpt["recipe_history"]
    # the training time adds up across resumes and travels into the model
    before = torch.load(full_run / "step_000015.pt", weights_only=False)["trained_seconds"]
    assert 0 < before < ckpt["trained_seconds"]
    assert recipe["trained_minutes"] == round(ckpt["trained_seconds"] / 60, 1)


def test_a_setting_newer_than_the_checkpoint_resumes_at_its_default(full_run, tmp_path):
    """A checkpoint saved before a recipe setting existed was trained at that setting's
    default: it resumes without --change-recipe, and a different value is a change."""
    ckpt = torch.load(full_run / "step_000015.pt", weights_only=False)
    del ckpt["recipe"]["temporal_noise"]
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    r = run_training(*train_args(tmp_path / "same", 16, "--workers", "0", "--resume", str(old)))
    assert r.returncode == 0, r.stderr
    assert "changed settings" not in r.stderr
    r = run_training(*train_args(tmp_path / "other", 16, "--workers", "0", "--resume", str(old),
                                 "--temporal-noise", "1"))
    assert r.returncode != 0 and "temporal_noise" in r.stderr


def test_init_starts_a_new_painting_from_a_trained_net(full_run, tmp_path):
    """--init loads another painting's trained weights at step 0; where the net came from
    (and its training time) travels on through resumes into the exported model."""
    import json

    import onnx

    from stylecam.contract import Key

    donor = torch.load(full_run / "last.pt", weights_only=False)
    candy = ["--style-image", str(SHARED / "styles" / "candy.jpg")]
    run = tmp_path / "candy"
    r = run_training(*train_args(run, 1, "--workers", "0", "--lr", "1e-12", "--init", str(full_run / "last.pt")),
                     *candy)
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["step"] == 1 and ckpt["recipe"]["style_image"] == "candy.jpg"
    for name, weight in ckpt["model"].items():  # one step of lr 1e-12 moves nothing visible
        assert torch.allclose(weight.float(), donor["model"][name].float(), atol=1e-6), name
    assert ckpt["init_from"] == {"style_image": "mosaic.jpg", "step": 30,
                                 "trained_minutes": round(donor["trained_seconds"] / 60, 1)}
    r = run_training(*train_args(run, 2, "--workers", "0", "--lr", "1e-12", "--resume", str(run / "last.pt")), *candy)
    assert r.returncode == 0, r.stderr
    assert torch.load(run / "last.pt", weights_only=False)["init_from"] == ckpt["init_from"]
    model = tmp_path / "candy.onnx"
    assert run_training("export", str(run / "last.pt"), "-o", str(model)).returncode == 0
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert json.loads(meta[Key.TRAINING])["init_from"] == ckpt["init_from"]
    # another net design cannot start from it: one line, no traceback
    r = run_training(*train_args(tmp_path / "other", 1, "--arch", "fast", "--init", str(full_run / "last.pt")))
    assert r.returncode != 0 and "different net" in r.stderr and "Traceback" not in r.stderr


def test_max_minutes_ends_with_a_checkpoint(tmp_path):
    r = run_training(*train_args(tmp_path / "short", 100000, "--max-minutes", "0.05", "--workers", "0"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "short" / "last.pt").is_file() and "time limit" in (r.stdout + r.stderr)


def test_export_parity_and_runtime_loads_it(full_run, tmp_path):
    from training.export import parity_check
    from training.loop import load_checkpoint, net_from_checkpoint

    import stylecam

    model = tmp_path / "tiny_mosaic.onnx"
    r = run_training("export", str(full_run / "last.pt"), "-o", str(model), "--painting", "Mosaic",
                     "--parity-images", str(SHARED / "photos" / "eval"))
    assert r.returncode == 0, r.stderr
    s = stylecam.Stylizer(model)
    assert s.info.painting == "Mosaic" and s.info.training["trained_steps"] == 30
    assert s.info.training["style_image"] == "mosaic.jpg"
    net = net_from_checkpoint(load_checkpoint(full_run / "last.pt")).eval()
    rng = np.random.default_rng(0)
    for h, w in [(37, 101), (90, 66)]:  # sizes the net does not accept directly: the runtime pads
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ours = s.stylize(frame).astype(np.float32)
        hp, wp = -(-h // 4) * 4, -(-w // 4) * 4
        x = torch.from_numpy(np.pad(frame, ((0, hp - h), (0, wp - w), (0, 0)), mode="reflect")).permute(2, 0, 1)
        with torch.no_grad():
            ref = net(x[None].float())[0].permute(1, 2, 0).clamp(0, 255).numpy()[:h, :w]
        assert np.abs(ours - ref).max() <= 1.0  # 0.5 parity + uint8 rounding
    errors = parity_check(net, model)
    assert max(errors.values()) < 0.5


def test_broken_export_fails_the_parity_check(full_run, tmp_path, monkeypatch):
    import training.export as export
    from training.loop import TrainingError

    from stylecam.contract import StyleInfo

    real = export._export

    def sabotaged(net, path, *args):
        real(net, path, *args)
        import onnx
        m = onnx.load(str(path))
        for w in m.graph.initializer:  # every conv: instance norm would undo a single inner layer's scale
            arr = onnx.numpy_helper.to_array(w)
            if arr.ndim == 4:
                w.CopyFrom(onnx.numpy_helper.from_array(arr * 1.2, w.name))
        onnx.save(m, str(path))

    monkeypatch.setattr(export, "_export", sabotaged)
    out = tmp_path / "bad.onnx"
    with pytest.raises(TrainingError, match="parity"):
        export.export_onnx(full_run / "last.pt", out, StyleInfo(name="bad"))
    assert not out.exists()


def test_fp16_export_is_a_valid_model_close_to_fp32(full_run, tmp_path):
    """--fp16 writes NAME.fp16.onnx (fp16 weights and math, fp32 IO) for GPU providers."""
    import onnxruntime as ort
    from training.export import export_onnx

    from stylecam.contract import StyleInfo

    export_onnx(full_run / "last.pt", tmp_path / "n.onnx", StyleInfo(name="n"), fp16=True)
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 64, 96)).astype(np.float32)
    outs = [ort.InferenceSession(str(tmp_path / f), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
            for f in ("n.onnx", "n.fp16.onnx")]
    assert outs[1].dtype == np.float32 and np.abs(outs[0] - outs[1]).max() < 4.0
    from stylecam.styles import read_info
    assert read_info(tmp_path / "n.fp16.onnx").precision == "fp16"


def test_slim_checkpoint_exports_and_resumes(full_run, tmp_path):
    """`slim` (fp16 weights, no Adam state), the small copy of a checkpoint for moving or
    sharing it: it must still export within parity and resume training."""
    from training.export import export_onnx

    from stylecam.contract import StyleInfo

    slim = tmp_path / "slim.pt"
    r = run_training("slim", str(full_run / "last.pt"), str(slim))
    assert r.returncode == 0, r.stderr
    assert slim.stat().st_size < 0.5 * (full_run / "last.pt").stat().st_size
    ckpt = torch.load(slim, weights_only=True)
    assert ckpt["optimizer"] is None and all(v.dtype == torch.float16 for v in ckpt["model"].values()
                                             if v.is_floating_point())
    export_onnx(slim, tmp_path / "slim.onnx", StyleInfo(name="slim"))
    r = run_training(*train_args(tmp_path / "more", 33, "--workers", "0", "--resume", str(slim)))
    assert r.returncode == 0, r.stderr
    assert sorted(losses(tmp_path / "more")) == [31, 32, 33]


def test_style_recipe_exports_every_style_of_a_multi_style_run(tmp_path):
    """training/recipes at toy scale: a three-painting run, then export_styles.py writes
    each style (credits from styles.json) and its int8 copy, which the runtime loads."""
    import stylecam

    paintings = [str(SHARED / "styles" / f"{s}.jpg") for s in ("candy", "wave", "udnie")]
    args = train_args(tmp_path / "run", 2, "--workers", "0")
    args[args.index("--style-image") + 1:args.index("--style-image") + 2] = paintings
    assert run_training(*args).returncode == 0
    r = subprocess.run([sys.executable, str(REPO / "training" / "recipes" / "export_styles.py"),
                        str(tmp_path / "run" / "last.pt"), "--variant", "fast", "--out", str(tmp_path / "models"),
                        "--shared", str(SHARED)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert names == sorted(f"{s}.fast{v}.onnx" for s in ("candy", "wave", "udnie") for v in ("", ".int8"))
    info = stylecam.Stylizer(tmp_path / "models" / "wave.fast.int8.onnx").info
    assert info.artist == "Katsushika Hokusai" and info.training["style_image"] == "wave.jpg"
    # credits and edge blur come from styles.json; --restamp writes them again, nets untouched
    from dataclasses import replace

    from stylecam.styles import read_info
    from training.export import set_metadata
    from training.recipes import load_styles

    wave = tmp_path / "models" / "wave.fast.onnx"
    assert info.edge_blur == read_info(wave).edge_blur == float(load_styles()["wave"].get("edge_blur", 0.0))
    set_metadata(wave, replace(read_info(wave), artist="someone", edge_blur=3.0).to_metadata())
    r = subprocess.run([sys.executable, str(REPO / "training" / "recipes" / "export_styles.py"), "--restamp",
                        "--out", str(tmp_path / "models")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    again = read_info(wave)
    assert again.artist == "Katsushika Hokusai" and again.edge_blur == info.edge_blur
    assert again.training == read_info(tmp_path / "models" / "wave.fast.int8.onnx").training


def test_pair_recipe_trains_the_shipped_net_and_its_plain_twin_from_one_start(full_run, tmp_path):
    """train_pair_cpu.sh at toy scale: a style's temporal net and its plain twin, side by
    side from the same start, with the style's own settings from styles.json."""
    from training.recipes import load_styles

    env = dict(os.environ, STYLECAM_SHARED=str(SHARED), CHECKPOINTS=str(tmp_path / "none"), ARCH="tiny",
               IMAGE_SIZE="64", STEPS="2", INIT=str(full_run / "last.pt"), TEMPORAL_WEIGHT="10")
    r = subprocess.run(["bash", str(REPO / "training" / "recipes" / "train_pair_cpu.sh"), str(tmp_path / "run"), "5",
                        "candy"], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    shipped, twin = (torch.load(tmp_path / "run" / v / "candy" / "last.pt", weights_only=True)
                     for v in ("temporal", "plain"))
    assert shipped["step"] == twin["step"] == 2
    assert shipped["recipe"]["temporal_weight"] == 10 and twin["recipe"]["temporal_weight"] == 0
    assert shipped["init_from"] == twin["init_from"] and shipped["init_from"]["style_image"] == "mosaic.jpg"
    weight = load_styles()["candy"].get("train", {}).get("style_weight", 5)
    assert shipped["recipe"]["style_weight"] == twin["recipe"]["style_weight"] == weight


def test_distil_pair_recipe_exports_the_shipped_net_and_its_twin_with_the_small_border(full_run, tmp_path):
    """distil_pair_cpu.sh at toy scale: both nets of a trained pair distilled, then exported
    (the style's net with its int8 copy, the twin for the temporal benchmark), 8 px border."""
    import shutil

    import stylecam

    for kind in ("temporal", "plain"):
        (tmp_path / "run" / kind / "candy").mkdir(parents=True)
        shutil.copy(full_run / "last.pt", tmp_path / "run" / kind / "candy" / "last.pt")
    env = dict(os.environ, STYLECAM_SHARED=str(SHARED), ARCH="tiny", IMAGE_SIZE="64", STEPS="2",
               MODELS=str(tmp_path / "models"), TWINS=str(tmp_path / "twins"))
    r = subprocess.run(["bash", str(REPO / "training" / "recipes" / "distil_pair_cpu.sh"), str(tmp_path / "run"),
                        "candy"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "models").glob("*.onnx")) == ["candy.fast.int8.onnx", "candy.fast.onnx"]
    for model in (tmp_path / "models" / "candy.fast.onnx", tmp_path / "twins" / "candy_fast_plain.onnx"):
        info = stylecam.Stylizer(model, device="cpu").info
        assert info.border == 8 and info.training["distil"]["steps_done"] == 2

    r = subprocess.run(["bash", str(REPO / "training" / "recipes" / "distil_pair_cpu.sh"), str(tmp_path / "none"),
                        "candy"], capture_output=True, text=True, cwd=tmp_path,
                       env=env | {"CHECKPOINTS": str(tmp_path / "none")}, timeout=60)
    assert r.returncode == 2 and "no trained temporal net for candy" in r.stderr


def test_soup_averages_nets_fine_tuned_from_one_state_by_their_shares(full_run, tmp_path):
    """A soup's weights are the shares' mix of its parts', its recipe lists them, its
    training time counts the start once; it exports like any checkpoint. Bad parts are
    one-line errors (exit 2), and nothing is written."""
    import stylecam

    start = torch.load(full_run / "last.pt", weights_only=False)
    parts = []
    for name, delta, weight in (("a", 1.0, 150.0), ("b", -1.0, 125.0)):
        part = start | {"step": start["step"] + 10, "trained_seconds": start["trained_seconds"] + 5,
                        "model": {k: v + delta if v.is_floating_point() else v for k, v in start["model"].items()},
                        "recipe": start["recipe"] | {"temporal_weight": weight}}
        torch.save(part, tmp_path / f"{name}.pt")
        parts.append(tmp_path / f"{name}.pt")
    # a start saved before the net config had its `norm` field: the same net, its default filled in
    assert start["net_config"]["norm"] == "instance"
    older = start | {"net_config": {k: v for k, v in start["net_config"].items() if k != "norm"}}
    torch.save(older, tmp_path / "start.pt")
    r = run_training("soup", "--start", str(tmp_path / "start.pt"), "-o", str(tmp_path / "soup.pt"),
                     f"{parts[0]}:0.7", f"{parts[1]}:0.3")
    assert r.returncode == 0, r.stderr
    soup = torch.load(tmp_path / "soup.pt", weights_only=False)
    for k, v in start["model"].items():
        if v.is_floating_point():
            assert torch.allclose(soup["model"][k], v + 0.4, atol=1e-5), k
    assert soup["recipe"]["soup"] == [{"share": 0.7, "temporal_weight": 150.0, "steps": 10},
                                      {"share": 0.3, "temporal_weight": 125.0, "steps": 10}]
    assert soup["trained_seconds"] == pytest.approx(start["trained_seconds"] + 10)
    assert soup["step"] == start["step"] + 10 and soup["optimizer"] is None
    r = run_training("export", str(tmp_path / "soup.pt"), "-o", str(tmp_path / "soup.onnx"))
    assert r.returncode == 0, r.stderr
    assert stylecam.Stylizer(tmp_path / "soup.onnx", device="cpu").info.training["soup"][1]["share"] == 0.3

    other = torch.load(parts[1], weights_only=False)
    torch.save(other | {"recipe": other["recipe"] | {"style_image": "candy.jpg"}}, tmp_path / "other.pt")
    for bad in ([f"{parts[0]}:0.7", f"{parts[1]}:0.4"],  # shares that do not sum to 1
                [f"{parts[0]}", f"{parts[1]}:0.3"],  # no share
                [f"{parts[0]}:1"],  # one part
                [f"{parts[0]}:0.5", f"{full_run / 'last.pt'}:0.5"],  # a part that is the start itself
                [f"{parts[0]}:0.5", f"{tmp_path / 'other.pt'}:0.5"]):  # a part of another painting
        r = run_training("soup", "--start", str(full_run / "last.pt"), "-o", str(tmp_path / "bad.pt"), *bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, bad
        assert not (tmp_path / "bad.pt").exists()


def test_temporal_recipe_makes_the_soup_a_style_asks_for_and_distils_it(full_run, tmp_path):
    """temporal_cpu.sh at toy scale for mosaic, whose styles.json entry asks for a soup: the
    fine-tune at its temporal weight, the plain twin, the second fine-tune at the soup's
    weight, and their soup, which distil_pair_cpu.sh then takes as the temporal net."""
    import shutil

    import stylecam
    from training.recipes import load_styles

    train = load_styles()["mosaic"]["train"]
    (tmp_path / "committed").mkdir()
    shutil.copy(full_run / "last.pt", tmp_path / "committed" / "mosaic.pt")
    env = dict(os.environ, STYLECAM_SHARED=str(SHARED), CHECKPOINTS=str(tmp_path / "committed"), ARCH="tiny",
               IMAGE_SIZE="64", FINETUNE_STEPS="2", CHANGE_RECIPE="1")  # the toy start has other settings
    r = subprocess.run(["bash", str(REPO / "training" / "recipes" / "temporal_cpu.sh"), str(tmp_path / "run"),
                        "mosaic"], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    soup = torch.load(tmp_path / "run" / "soup" / "mosaic" / "last.pt", weights_only=False)
    share = train["soup_share"]
    assert soup["recipe"]["soup"] == [
        {"share": pytest.approx(1 - share), "temporal_weight": train["temporal_weight"], "steps": 2},
        {"share": share, "temporal_weight": train["soup_temporal_weight"], "steps": 2}]
    assert torch.load(tmp_path / "run" / "plain" / "mosaic" / "last.pt", weights_only=True)["step"] == soup["step"]

    env |= {"STEPS": "2", "MODELS": str(tmp_path / "models"), "TWINS": str(tmp_path / "twins")}
    r = subprocess.run(["bash", str(REPO / "training" / "recipes" / "distil_pair_cpu.sh"), str(tmp_path / "run"),
                        "mosaic"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    info = stylecam.Stylizer(tmp_path / "models" / "mosaic.fast.onnx", device="cpu").info
    assert info.training["soup"][1]["temporal_weight"] == train["soup_temporal_weight"]
    assert "soup" not in stylecam.Stylizer(tmp_path / "twins" / "mosaic_fast_plain.onnx", device="cpu").info.training


def test_torchrun_two_ranks_gloo(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "training", *train_args(out, 4, "--workers", "0", "--threads", "1", "--checkpoint-every", "4")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ckpts = sorted(p.name for p in out.glob("step_*.pt"))
    assert ckpts == ["step_000004.pt"]
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["world_size"] == 2


def test_wrong_files_are_clear_errors(full_run, tmp_path):
    bad_weights = tmp_path / "bad_vgg.pth"
    torch.save({"0.weight": torch.zeros(3, 3, 3, 3)}, bad_weights)
    r = run_training(*train_args(tmp_path / "x", 2, "--vgg-weights", str(bad_weights)))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "vgg" in r.stderr.lower()

    not_ours = tmp_path / "random.pt"
    torch.save({"hello": torch.zeros(2)}, not_ours)
    r = run_training("export", str(not_ours), "-o", str(tmp_path / "m.onnx"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "checkpoint" in r.stderr
    assert not (tmp_path / "m.onnx").exists()

    r = run_training(*train_args(tmp_path / "y", 60, "--resume", str(full_run / "step_000015.pt"),
                                 "--style-weight", "99"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "other settings" in r.stderr

    r = run_training("train", "--style-image", "/nope.jpg", "--data", str(tmp_path), "--out", str(tmp_path / "z"),
                     "--vgg-weights", str(vgg_weights()))
    assert r.returncode == 2 and "Traceback" not in r.stderr

    for flag, value in (("--temporal-codec-quality", "150"), ("--temporal-local-motion", "-1"),
                        ("--plain-crops", "1.5")):
        r = run_training(*train_args(tmp_path / "q", 2, flag, value))
        assert r.returncode == 2 and "Traceback" not in r.stderr and flag in r.stderr


@pytest.mark.parametrize("arch", ["fast", "fast_up"])
def test_fast_arch_with_temporal_loss_trains_exports_and_gets_its_border(tmp_path, arch):
    """The CPU fast nets (zero-padded convs; pixel-shuffle or full-resolution decoder) with the
    temporal loss: a few steps, export, and the runtime reproduces PyTorch on a frame mirrored
    by the model's border."""
    from training.loop import load_checkpoint, net_from_checkpoint

    import stylecam

    args = train_args(tmp_path / "fast", 3, "--workers", "0", "--temporal-weight", "10",
                      "--temporal-local-motion", "2", "--temporal-codec-quality", "40", "--plain-crops", "0.5")
    args[args.index("tiny")] = arch
    r = run_training(*args)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "fast" / "log.csv") as f:
        assert all(float(row["temporal"]) > 0 for row in csv.DictReader(f))
    model = tmp_path / "x.fast.onnx"
    r = run_training("export", str(tmp_path / "fast" / "last.pt"), "-o", str(model))
    assert r.returncode == 0, r.stderr
    s = stylecam.Stylizer(model, device="cpu")
    assert s.info.arch["padding"] == "zero"
    assert s.info.arch["decoder"] == ("upsample" if arch == "fast_up" else "shuffle")
    b = s.info.border
    assert b == (24 if arch == "fast_up" else 8)
    net = net_from_checkpoint(load_checkpoint(tmp_path / "fast" / "last.pt")).eval()
    frame = np.random.default_rng(1).integers(0, 256, (41, 59, 3), dtype=np.uint8)
    hp, wp = -(-(41 + 2 * b) // 4) * 4, -(-(59 + 2 * b) // 4) * 4
    padded = np.pad(frame, ((b, hp - 41 - b), (b, wp - 59 - b), (0, 0)), mode="reflect")
    with torch.no_grad():
        ref = net(torch.from_numpy(padded).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0)
    ref = ref.clamp(0, 255).numpy()[b:b + 41, b:b + 59]
    assert np.abs(s.stylize(frame).astype(np.float32) - ref).max() <= 1.0


def test_quantize_writes_an_int8_copy_the_runtime_prefers_on_cpu(tmp_path):
    from conftest import build_test_model

    import stylecam

    build_test_model(tmp_path / "q.onnx", name="q")
    r = run_training("quantize", str(tmp_path / "q.onnx"), "--calibration", str(SHARED / "photos" / "eval"),
                     "--images", "2")
    assert r.returncode == 0, r.stderr
    s = stylecam.Stylizer(tmp_path / "q.onnx", device="cpu")
    assert s.model_path.name == "q.int8.onnx" and s.info.precision == "int8" and s.info.name == "q"
    assert stylecam.Stylizer(tmp_path / "q.onnx", device="cpu", precision="fp32").model_path.name == "q.onnx"
    frame = np.random.default_rng(0).integers(0, 256, (30, 44, 3), dtype=np.uint8)
    assert s.stylize(frame).shape == frame.shape


def test_gram_stays_fp32_under_autocast():
    """CUDA training runs under bf16/fp16 autocast; the Gram matrices must not (a style loss
    is a small difference of large sums). Checked with CPU autocast, which casts matmuls alike."""
    from training.losses import gram

    x = torch.randn(2, 64, 32, 32)
    reference = gram(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram(x.to(torch.bfloat16).float())
    assert g.dtype == torch.float32
    assert torch.allclose(g, gram(x.to(torch.bfloat16).float()), atol=0, rtol=0)
    assert (g - reference).abs().max() < 1e-2 * reference.abs().max()


def test_local_motion_is_smooth_and_differs_across_the_picture():
    """The temporal loss's local motion: offsets of about the asked std in px, smooth from
    pixel to pixel, and not one shift for the whole crop (that is the camera's part)."""
    from training.losses import random_local_motion

    h, w, amplitude = 64, 96, 3.0
    grid = random_local_motion(64, h, w, torch.Generator().manual_seed(0), amplitude)
    assert grid.shape == (64, h, w, 2)
    px = grid * torch.tensor([w / 2, h / 2])  # back from grid units
    assert 0.7 * amplitude < float(px.std()) < 1.3 * amplitude
    assert float((px[:, :, 1:] - px[:, :, :-1]).abs().max()) < amplitude / 2
    corners = (px[:, 0, 0] - px[:, -1, -1]).norm(dim=-1)
    assert float(corners.mean()) > amplitude
    assert not random_local_motion(1, h, w, torch.Generator(), 0.0).any()


def test_codec_noise_is_block_noise_that_keeps_the_colours():
    """The temporal loss's codec noise: a JPEG round trip that keeps the colours (a red
    picture stays red), with more error at a lower quality, aligned to 8x8 blocks."""
    from training.losses import codec_noise

    g = torch.Generator().manual_seed(0)
    shapes = torch.nn.functional.interpolate(torch.rand(2, 3, 6, 6, generator=g), size=(64, 64), mode="bicubic")
    x = shapes * 40 + torch.tensor([200.0, 30.0, 60.0]).view(1, 3, 1, 1)  # a red picture of soft shapes
    low, high = codec_noise(x, 20), codec_noise(x, 95)
    assert low.shape == x.shape and low.dtype == x.dtype
    assert torch.allclose(low.mean(dim=(0, 2, 3)), x.mean(dim=(0, 2, 3)), atol=6)
    assert (low - x).abs().mean() > 2 * (high - x).abs().mean() > 0
    step = (low[..., 1:] - low[..., :-1]).abs().mean(dim=(0, 1, 2))  # column-to-column change
    inside = torch.tensor([i % 8 != 7 for i in range(63)])
    assert step[~inside].mean() > step[inside].mean()  # jumps at the block edges


def test_plain_surface_keeps_the_mean_colour_and_drops_detail_and_contrast():
    """A crop made a plain surface (a wall, a floor): each image keeps its mean colour, and
    both its pixel-to-pixel detail and its contrast are cut to 5..30 % of the crop's."""
    from training.losses import flatten_like_plain_surface

    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 64, 96, generator=g) * 255
    x[:, :, :, :48] *= 0.3  # a dark half: contrast the plain copy must keep a little of
    plain = flatten_like_plain_surface(x, g)
    assert plain.shape == x.shape
    assert torch.allclose(plain.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1.0)
    detail = [(img[..., 1:] - img[..., :-1]).abs().mean() for img in (x, plain)]  # pixel to pixel
    assert detail[1] <= 0.3 * detail[0]
    left, right = plain[..., 8:-8, 8:40].mean(), plain[..., 8:-8, 56:-8].mean()
    half_gap = x[..., 8:-8, 56:-8].mean() - x[..., 8:-8, 8:40].mean()
    assert 0.05 * half_gap <= right - left <= 0.3 * half_gap


def test_gradient_cap_trims_a_freak_step_only():
    from training.loop import GradientCap

    p = torch.nn.Parameter(torch.zeros(10))
    cap = GradientCap(4.0, warmup=5)
    rng = np.random.default_rng(0)
    for step in range(40):
        size = 100.0 if step == 30 else rng.uniform(0.8, 1.2)
        p.grad = torch.ones(10) * size / np.sqrt(10)
        cap([p])
        norm = float(p.grad.norm())
        if step == 30:
            assert 3.0 < norm < 5.0  # cut to 4x the running average (~1)
        else:
            assert abs(norm - size) < 1e-4  # untouched
    assert cap.capped == 1
    restored = GradientCap(4.0, warmup=5)
    restored.load_state_dict(cap.state_dict())
    assert restored.state_dict() == cap.state_dict()


def test_multi_style_net_trains_each_style_and_exports_one(tmp_path):
    """Several paintings train one net (conditional instance norm): each style's rows move,
    the style loss of every style falls, and export bakes one style into the usual contract."""
    import stylecam
    from training.loop import load_checkpoint, net_from_checkpoint
    from training.nets import bake_style

    paintings = [str(SHARED / "styles" / f"{s}.jpg") for s in ("mosaic", "candy", "udnie")]
    args = train_args(tmp_path / "multi", 24, "--workers", "0")
    args[args.index("--style-image") + 1] = paintings[0]
    args[args.index("--style-image") + 2:args.index("--style-image") + 2] = paintings[1:]
    r = run_training(*args)
    assert r.returncode == 0, r.stderr
    ckpt = load_checkpoint(tmp_path / "multi" / "last.pt")
    assert ckpt["net_config"]["styles"] == 3
    assert ckpt["recipe"]["style_image"] == ["mosaic.jpg", "candy.jpg", "udnie.jpg"]
    net = net_from_checkpoint(ckpt).eval()
    norms = [m for m in net.modules() if type(m).__name__ == "ConditionalInstanceNorm"]
    assert norms and all((n.weight[i] != 1).any() for n in norms for i in range(3))  # every style was trained
    log = losses(tmp_path / "multi")
    assert np.mean([log[s] for s in range(19, 25)]) < 0.7 * np.mean([log[s] for s in range(1, 7)])

    x = torch.rand(3, 3, 48, 64) * 255
    with torch.no_grad():
        mixed = net(x, torch.eye(3))
        for i in range(3):  # a baked copy is exactly that style's path through the multi-style net
            assert torch.allclose(bake_style(net, torch.eye(3)[i])(x[i:i + 1]), mixed[i:i + 1], atol=0.05)

    model = tmp_path / "candy_tiny.onnx"
    r = run_training("export", str(tmp_path / "multi" / "last.pt"), "-o", str(model), "--style-index", "1")
    assert r.returncode == 0, r.stderr
    info = stylecam.Stylizer(model).info
    assert info.training["style_image"] == "candy.jpg" and info.training["style_index"] == 1
    r = run_training("export", str(tmp_path / "multi" / "last.pt"), "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "--style-index" in r.stderr and not (tmp_path / "x.onnx").exists()


# a bundled style's committed fast_up8 state: a trained teacher, which a student can learn quickly
TEACHER = REPO / "training" / "checkpoints" / "candy.pt"


def distil_args(teacher: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["distil", str(teacher), "--data", str(SHARED / "photos" / "train"), "--out", str(out), "--steps",
            str(steps), "--image-size", "64", "--batch-size", "1", "--lr", "3e-3", "--threads", "1",
            "--no-progress", *extra]


def test_distil_makes_a_narrower_net_that_paints_like_its_teacher_with_a_smaller_border(tmp_path):
    """The student (fast_d16) ends closer to the teacher's pictures than it starts, and its
    export carries the border it was taught with: the runtime reproduces PyTorch with it."""
    import random

    from training.data import load_rgb, random_crop
    from training.distil import _start_from_teacher
    from training.export import painted
    from training.loop import load_checkpoint, net_from_checkpoint
    from training.nets import PRESETS, TransformerNet

    import stylecam

    r = run_training(*distil_args(TEACHER, tmp_path / "d", 100))
    assert r.returncode == 0, r.stderr
    teacher = net_from_checkpoint(load_checkpoint(TEACHER)).eval()
    ckpt = load_checkpoint(tmp_path / "d" / "last.pt")
    student = net_from_checkpoint(ckpt).eval()
    assert student.config == PRESETS["fast_d16"] and ckpt["step"] == load_checkpoint(TEACHER)["step"]
    start = TransformerNet(PRESETS["fast_d16"]).eval()
    _start_from_teacher(start, teacher)
    x = torch.stack([random_crop(load_rgb(f), 64, random.Random(0))
                     for f in sorted((SHARED / "photos" / "eval").glob("*.jpg"))[:4]])
    with torch.no_grad():
        target = painted(teacher, x, 24)
        before = (painted(start, x, 8) - target).abs().mean()
        after = (painted(student, x, 8) - target).abs().mean()
    assert after < 0.9 * before, (before, after)

    model = tmp_path / "x.fast.onnx"
    r = run_training("export", str(tmp_path / "d" / "last.pt"), "-o", str(model))
    assert r.returncode == 0, r.stderr
    s = stylecam.Stylizer(model, device="cpu")
    assert s.info.border == 8 and s.info.arch["channels"] == [32, 16, 64]
    assert s.info.training["distil"]["teacher_arch"] == "fast_up8"
    frame = np.random.default_rng(1).integers(0, 256, (41, 59, 3), dtype=np.uint8)
    hp, wp = -(-(41 + 16) // 4) * 4, -(-(59 + 16) // 4) * 4
    padded = np.pad(frame, ((8, hp - 49), (8, wp - 67), (0, 0)), mode="reflect")
    with torch.no_grad():
        ref = student(torch.from_numpy(padded).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0)
    assert np.abs(s.stylize(frame).astype(np.float32) - ref.clamp(0, 255).numpy()[8:49, 8:67]).max() <= 1.0


def test_a_norm_free_student_starts_with_the_teachers_norms_folded_at_their_mean_statistics():
    """Folded at one photo's statistics, the student paints that photo exactly as the
    teacher; folded at several photos' means, it is already close on photos it never saw."""
    import random

    from training.data import load_rgb, random_crop
    from training.distil import _start_from_teacher, fold_norms
    from training.loop import load_checkpoint, net_from_checkpoint
    from training.nets import PRESETS, TransformerNet

    teacher = net_from_checkpoint(load_checkpoint(TEACHER)).eval()
    photos = torch.stack([random_crop(load_rgb(f), 64, random.Random(0))
                          for f in sorted((SHARED / "photos" / "eval").glob("*.jpg"))[:6]])

    def folded(at: torch.Tensor) -> TransformerNet:
        student = TransformerNet(PRESETS["fast_up8_nonorm"]).eval()
        _start_from_teacher(student, teacher)
        fold_norms(student, teacher, at)
        return student

    with torch.no_grad():
        want = teacher(photos)
        assert (folded(photos[:1])(photos[:1]) - want[:1]).abs().max() < 0.05
        unfolded = TransformerNet(PRESETS["fast_up8_nonorm"]).eval()
        _start_from_teacher(unfolded, teacher)
        near, far = ((net(photos[4:]) - want[4:]).abs().mean() for net in (folded(photos[:4]), unfolded))
    assert near < 0.5 * far, (near, far)


def test_distil_resumes_exactly_and_refuses_other_settings(tmp_path):
    from training.distil import DistilRecipe, distil
    from training.loop import load_checkpoint

    recipe = DistilRecipe(steps=4, batch_size=1, image_size=64, lr=3e-3)
    run = {"teacher": TEACHER, "data": SHARED / "photos" / "train", "progress": False}
    distil(out=tmp_path / "straight", recipe=recipe, **run)
    distil(out=tmp_path / "cut", recipe=recipe, max_minutes=1e-9, **run)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["recipe"]["distil"]["steps_done"] == 1
    distil(out=tmp_path / "cut", recipe=recipe, **run)
    a, b = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "cut"))
    assert b["recipe"]["distil"]["steps_done"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    r = run_training(*distil_args(TEACHER, tmp_path / "cut", 5))  # from the command line: one line, exit 2
    assert r.returncode == 2 and "Traceback" not in r.stderr and "other settings" in r.stderr
    r = run_training(*distil_args(tmp_path / "nope.pt", tmp_path / "z", 5))
    assert r.returncode == 2 and "Traceback" not in r.stderr

"""End-to-end CLI runs on self-made media, as a user would type them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import default_signals, make_video, probe, run_cli


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def assert_usage_error(result: subprocess.CompletedProcess, match: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stylecam: error:") and match in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture()
def photo(tmp_path) -> Path:
    img = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path


# -- images ---------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_image_in_same_size_image_out(tmp_path, photo, cli_env, ext):
    out = tmp_path / f"out{ext}"
    r = run_cli(photo, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == (70, 45) and im.mode == "RGB"
    assert leftovers(tmp_path) == []


def test_default_output_name(tmp_path, photo, cli_env):
    r = run_cli(photo, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "photo_testnet.png").is_file()


def test_exif_rotation_is_honoured(tmp_path, cli_env):
    src = tmp_path / "rotated.jpg"
    img = Image.fromarray(np.full((30, 60, 3), 128, np.uint8))  # stored 60 wide, 30 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(src, exif=exif)
    out = tmp_path / "out.png"
    assert run_cli(src, "-o", out, "--style", "testnet", env=cli_env).returncode == 0
    with Image.open(out) as im:
        assert im.size == (30, 60)  # displayed orientation


def test_alpha_grayscale_cmyk_inputs(tmp_path, cli_env):
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 256, (20, 24, 4), dtype=np.uint8), "RGBA")
    rgba.save(tmp_path / "alpha.png")
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8), "L").save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    for name, want_mode in [("alpha.png", "RGBA"), ("gray.png", "RGB"), ("cmyk.jpg", "RGB")]:
        out = tmp_path / f"out_{name.split('.')[0]}.png"
        r = run_cli(tmp_path / name, "-o", out, "--style", "testnet", env=cli_env)
        assert r.returncode == 0, r.stderr
        with Image.open(out) as im:
            assert im.size == (24, 20) and im.mode == want_mode, (name, im.mode)
    with Image.open(tmp_path / "out_alpha.png") as im:  # alpha is carried over unchanged
        assert np.array_equal(np.asarray(im)[..., 3], np.asarray(rgba)[..., 3])


# -- videos ---------------------------------------------------------------------------


def test_video_keeps_size_frames_timing_and_audio(tmp_path, cli_env):
    src = make_video(tmp_path / "clip.mp4", frames=24, size=(96, 64), fps=24, audio=True)
    out = tmp_path / "out.mp4"
    r = run_cli(src, "-o", out, "--style", "testnet", "--batch", "4", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["results"][0]["frames"] == 24 and summary["results"][0]["audio"] is True
    a, b = probe(src), probe(out)
    assert (b["width"], b["height"], b["frames"]) == (96, 64, 24)
    assert b["audio_channels"] == a["audio_channels"] == [2]
    assert abs(b["span"] - a["span"]) < 1 / 24
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("preset, mark", [(None, b"subme=1 "), ("ultrafast", b"cabac=0 "), ("medium", b"subme=7 ")])
def test_x264_preset_reaches_the_encoder(tmp_path, cli_env, preset, mark):
    """x264 writes its settings into the stream (an SEI): the default is superfast (subme=1)."""
    src = make_video(tmp_path / "clip.mp4", frames=4)
    out = tmp_path / "out.mp4"
    r = run_cli(src, "-o", out, "--style", "testnet", *(["--preset", preset] if preset else []), env=cli_env)
    assert r.returncode == 0, r.stderr
    assert mark in out.read_bytes()


def test_unknown_preset_is_refused_in_one_line(tmp_path, cli_env):
    src = make_video(tmp_path / "clip.mp4", frames=2)
    r = run_cli(src, "-o", tmp_path / "out.mp4", "--preset", "turbo", env=cli_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--preset" in r.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("size", [(97, 63), (90, 66)])
def test_odd_and_non_multiple_sizes(tmp_path, cli_env, size):
    src = make_video(tmp_path / "odd.mp4", frames=6, size=size)
    out = tmp_path / "out.mp4"
    r = run_cli(src, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    p = probe(out)
    assert (p["width"], p["height"], p["frames"]) == (*size, 6)


def test_rotation_metadata_is_kept(tmp_path, cli_env):
    src = make_video(tmp_path / "rot.mp4", frames=6, rotation=90)
    if probe(src)["rotation"] == 0:
        pytest.skip("this PyAV cannot write display rotation")
    out = tmp_path / "out.mp4"
    assert run_cli(src, "-o", out, "--style", "testnet", env=cli_env).returncode == 0
    assert probe(out)["rotation"] == probe(src)["rotation"]


def test_other_container_and_codec(tmp_path, cli_env):
    src = make_video(tmp_path / "clip.avi", frames=8, codec="mpeg4")
    out = tmp_path / "out.mkv"
    r = run_cli(src, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert probe(out)["frames"] == 8


def test_truncated_video_is_stylized_as_far_as_it_decodes(tmp_path, cli_env):
    src = make_video(tmp_path / "full.mkv", frames=60, size=(64, 48))
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out.mp4"
    r = run_cli(cut, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    frames = probe(out)["frames"]
    assert 10 < frames < 60
    assert "warning" in r.stderr and f"read {frames}" in r.stderr


def test_folder_in_folder_out(tmp_path, photo, cli_env):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.open(photo).save(src / "a.png")
    Image.open(photo).save(src / "sub" / "b.jpg")
    make_video(src / "c.mp4", frames=4)
    (src / "notes.txt").write_text("not media")
    r = run_cli(src, "-o", tmp_path / "out", "--style", "testnet", "--json", env=cli_env)
    assert r.returncode == 0, r.stderr
    made = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert made == ["a.png", "c.mp4", "sub/b.jpg"]


def test_list_styles_and_version(cli_env):
    r = run_cli("--list-styles", env=cli_env)
    assert r.returncode == 0 and "testnet" in r.stdout and "Test Pattern" in r.stdout
    r = run_cli("--list-styles", "--json", env=cli_env)
    styles = {s["name"]: s for s in json.loads(r.stdout)}
    assert styles["testnet"]["artist"] == "Nobody"
    assert run_cli("--version").stdout.startswith("stylecam ")
    h = run_cli("--help")
    assert h.returncode == 0 and "--style" in h.stdout and "--batch" in h.stdout


# -- safety and bad input -------------------------------------------------------------


def test_refuses_to_overwrite_without_y(tmp_path, photo, cli_env):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    assert_usage_error(run_cli(photo, "-o", out, "--style", "testnet", env=cli_env), "exists")
    assert out.read_bytes() == b"precious"
    assert run_cli(photo, "-o", out, "--style", "testnet", "-y", env=cli_env).returncode == 0
    assert out.read_bytes() != b"precious"


def test_never_overwrites_the_input(tmp_path, photo, cli_env):
    before = photo.read_bytes()
    assert_usage_error(run_cli(photo, "-o", photo, "--style", "testnet", "-y", env=cli_env), "input")
    assert photo.read_bytes() == before


@pytest.mark.parametrize("case", ["missing", "not_media", "zero_frames", "unknown_style", "corrupt_model",
                                  "bad_strength", "bad_batch", "bad_option", "bad_device", "no_out_dir",
                                  "out_parent_is_file", "bad_out_ext", "work_size_0", "work_size_negative",
                                  "work_size_text"])
def test_bad_input_exit_2_one_line_no_file(tmp_path, photo, cli_env, case):
    video = make_video(tmp_path / "v.mp4", frames=4)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.mp4").write_bytes(video.read_bytes()[:500])  # header only: no decodable frame
    (tmp_path / "corrupt.onnx").write_bytes(b"\x00garbage")
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "out.mp4"
    args, match = {
        "missing": ([tmp_path / "nope.mp4", "-o", out], "not found"),
        "not_media": ([tmp_path / "notes.txt", "-o", out], "not an image or video"),
        "zero_frames": ([tmp_path / "broken.mp4", "-o", out], "broken.mp4"),
        "unknown_style": ([video, "-o", out, "--style", "nope"], "known styles:"),
        "corrupt_model": ([video, "-o", out, "--style", tmp_path / "corrupt.onnx"], "not a valid ONNX model"),
        "bad_strength": ([video, "-o", out, "--strength", "1.7"], "--strength"),
        "bad_batch": ([video, "-o", out, "--batch", "0"], "--batch"),
        "bad_option": ([video, "-o", out, "--frobnicate"], "--frobnicate"),
        "bad_device": ([video, "-o", out, "--device", "quantum"], "--device"),
        "no_out_dir": ([video, "-o", tmp_path / "nodir" / "out.mp4"], "does not exist"),
        "out_parent_is_file": ([video, "-o", tmp_path / "afile" / "out.mp4"], "afile"),
        "bad_out_ext": ([photo, "-o", tmp_path / "out.xyz"], ".xyz"),
        "work_size_0": ([video, "-o", out, "--work-size", "0"], "--work-size"),
        "work_size_negative": ([video, "-o", out, "--work-size", "-5"], "--work-size"),
        "work_size_text": ([video, "-o", out, "--work-size", "abc"], "--work-size"),
    }[case]
    if "--style" not in args:
        args = [*args, "--style", "testnet"]
    r = run_cli(*args, env=cli_env)
    assert_usage_error(r, match)
    assert not out.exists() and not (tmp_path / "out.xyz").exists()
    assert leftovers(tmp_path) == []


def test_ctrl_c_leaves_no_file_at_target(tmp_path, cli_env):
    src = make_video(tmp_path / "long.mp4", frames=900, size=(320, 240), fps=30)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "stylecam", src, "-o", out, "--style", "testnet"],
                            env=cli_env, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    deadline = time.time() + 30
    while not leftovers(tmp_path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)  # wait until it is really writing
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("out_ext", [".mkv", ".mp4"])
def test_variable_frame_rate_timestamps_are_kept(tmp_path, cli_env, out_ext):
    """Irregular frame times (a phone's VFR recording) come out at the same times."""
    import av
    from fractions import Fraction

    src = tmp_path / "vfr.mkv"
    times_ms = [0, 33, 66, 150, 183, 400, 433, 466, 700, 733]
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            out.mux(s.encode(f))
        out.mux(s.encode())

    def frame_times(path):
        with av.open(str(path)) as c:
            return sorted(round(float(f.time) * 1000) for f in c.decode(video=0))

    out = tmp_path / f"out{out_ext}"
    r = run_cli(src, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    a, b = frame_times(src), frame_times(out)
    assert len(b) == len(a) == len(times_ms)
    assert [t - a[0] for t in a] == [t - b[0] for t in b]


def test_quality_switch_and_listing(tmp_path, monkeypatch):
    from conftest import build_test_model

    models = tmp_path / "models"
    models.mkdir()
    build_test_model(models / "paint.onnx", name="paint", seed=3)
    build_test_model(models / "paint.fast.onnx", name="paint", seed=4)
    build_test_model(models / "plain.onnx", name="plain", seed=5)
    env = {**os.environ, "STYLECAM_MODELS": str(models)}
    listing = run_cli("--list-styles", env=env)
    assert listing.returncode == 0
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "+fast net" in lines["paint"] and "+fast net" not in lines["plain"]
    img = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)).save(img)
    outs = {}
    for quality in ("best", "fast"):
        out = tmp_path / f"{quality}.png"
        r = run_cli(str(img), "-o", str(out), "--style", "paint", "--quality", quality, "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["quality"] == quality
        outs[quality] = np.asarray(Image.open(out))
    assert not np.array_equal(outs["best"], outs["fast"])
    r = run_cli(str(img), "-o", str(tmp_path / "plain.png"), "--style", "plain", "--quality", "fast", env=env)
    assert r.returncode == 0 and "has no fast net; running its full net" in r.stderr


def test_default_smoothing_follows_the_net(tmp_path):
    """Flow smoothing by default, except for nets trained with the temporal loss (steady already)."""
    from conftest import build_test_model

    models = tmp_path / "models"
    models.mkdir()
    build_test_model(models / "plain.onnx", name="plain")
    build_test_model(models / "steady.onnx", name="steady", temporal_weight=60)
    env = {**os.environ, "STYLECAM_MODELS": str(models)}
    clip = make_video(tmp_path / "in.mp4", frames=6)
    for style, expected in (("plain", "flow"), ("steady", "none")):
        r = run_cli(str(clip), "-o", str(tmp_path / f"{style}.mp4"), "--style", style, "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["smooth"] == expected
    r = run_cli(str(clip), "-o", str(tmp_path / "forced.mp4"), "--style", "steady", "--smooth", "flow", "--json",
                env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["smooth"] == "flow"


def test_output_into_a_closed_pipe_is_quiet(cli_env):
    """`stylecam --list-styles | head -1`: the reader leaves early; no error, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "stylecam", "--list-styles", "--json"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_a_video_job_on_the_cpu_shares_the_cores_among_its_workers(tmp_path, cli_env, monkeypatch):
    """A video file on a CPU paints with two inference calls at once, each with its share of
    the cores; an image keeps one pool of all cores for its one call; --threads rules both."""
    import cv2
    from conftest import make_video

    from stylecam import cli, defaults

    made = []
    real = cli.Stylizer
    monkeypatch.setattr(cli, "Stylizer", lambda *a, **k: made.append(k["threads"]) or real(*a, **k))
    video = make_video(tmp_path / "clip.mp4", frames=4)
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.full((40, 60, 3), 90, np.uint8))
    for argv in ([str(video), "-o", str(tmp_path / "a.mp4")], [str(image), "-o", str(tmp_path / "a.png")],
                 [str(video), "-o", str(tmp_path / "b.mp4"), "--threads", "3"]):
        assert cli.main([*argv, "--style", "testnet", "--device", "cpu", "--quiet"]) == 0
    assert made == [defaults.threads_per_worker(), None, 3]

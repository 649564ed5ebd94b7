"""Hostile and unlucky conditions: every input is made here, every failure is one line."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import default_signals, make_video

from test_cli import assert_usage_error, leftovers


def cli(*args, env=None, umask: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`stylecam ...` in a subprocess, optionally under a given umask."""
    def pre() -> None:
        if umask is not None:
            os.umask(umask)
    return subprocess.run([sys.executable, "-m", "stylecam", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, preexec_fn=pre)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def save_photo(path: Path, size=(40, 30), seed=0) -> Path:
    w, h = size
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def all_leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".part" in p.name)


# -- output file modes ----------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_new_outputs_get_the_umask_mode(tmp_path, cli_env, umask):
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    folder = tmp_path / "in"
    folder.mkdir()
    save_photo(folder / "a.jpg")
    expected = 0o666 & ~umask
    for src, out in ((photo, tmp_path / "o.png"), (clip, tmp_path / "o.mp4"), (folder, tmp_path / "out")):
        r = cli(src, "-o", out, "--style", "testnet", env=cli_env, umask=umask)
        assert r.returncode == 0, r.stderr
        made = out / "a.jpg" if out.is_dir() else out
        assert mode(made) == expected, (made, oct(mode(made)))
    assert all_leftovers(tmp_path) == []


def test_overwritten_output_keeps_its_mode(tmp_path, cli_env):
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    for src, out, m in ((photo, tmp_path / "o.png", 0o664), (clip, tmp_path / "o.mp4", 0o640)):
        out.write_bytes(b"old")
        os.chmod(out, m)
        r = cli(src, "-o", out, "--style", "testnet", "-y", env=cli_env, umask=0o077)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() != b"old" and mode(out) == m, oct(mode(out))


# -- folder jobs: one bad file is that file's failure -------------------------------------


def make_bomb_png(path: Path, side: int = 30000) -> Path:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    import struct
    import zlib

    save_photo(path, size=(8, 8))
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_folder_goes_on_after_an_unexpected_error(tmp_path, cli_env):
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    make_bomb_png(src / "b_bomb.png")
    save_photo(src / "c.png", seed=2)
    make_video(src / "d.mp4", frames=3)
    out = tmp_path / "out"
    r = cli(src, "-o", out, "--style", "testnet", "--json", env=cli_env)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    bad = [line for line in r.stderr.splitlines() if "b_bomb.png" in line]
    assert len(bad) == 1, r.stderr
    assert "1 of 4 files failed" in r.stderr
    results = {Path(x["input"]).name: x for x in json.loads(r.stdout)["results"]}
    assert results["b_bomb.png"]["error"] and not results["a.png"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "d.mp4"]
    assert all_leftovers(tmp_path) == []


def test_folder_isolates_errors_nobody_foresaw(tmp_path, test_model):
    """Any exception in one file (here a RuntimeError from the engine) is that file's failure."""
    from stylecam import Stylizer
    from stylecam.files import stylize_path

    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    save_photo(src / "b.png", size=(33, 30))
    save_photo(src / "c.png", seed=2)
    engine = Stylizer(test_model, device="cpu")
    real = engine.stylize_batch

    def flaky(frames, cancel=None):
        if frames[0].shape[1] == 33:
            raise RuntimeError("something nobody foresaw\nsecond line")
        return real(frames, cancel)

    engine.stylize_batch = flaky
    warnings: list[str] = []
    results = stylize_path(src, tmp_path / "out", engine, warn=warnings.append)
    assert [Path(r.input).name for r in results] == ["a.png", "b.png", "c.png"]
    assert results[1].error == "RuntimeError: something nobody foresaw" and not results[0].error
    assert warnings == [f"skipped {src / 'b.png'}: RuntimeError: something nobody foresaw"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


# -- folder jobs: name clashes --------------------------------------------------------


def test_folder_name_clashes_keep_every_result(tmp_path, cli_env):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_video(src / "clip.avi", frames=3, codec="mpeg4")
    frames = [Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(src / "clip.gif", save_all=True, append_images=frames[1:], duration=100)
    make_video(src / "clip.mp4", frames=3)
    save_photo(src / "IMG.JPG", seed=1)
    save_photo(src / "IMG.jpg", seed=2)
    save_photo(src / "sub" / "x.bmp", seed=3)
    save_photo(src / "sub" / "x.BMP", seed=4)
    save_photo(src / "sub" / "y.tga", seed=5)  # not an input suffix: ignored
    out = tmp_path / "out"
    for extra in ([], ["-y"]):  # -y must not let one result replace another either
        r = cli(src, "-o", out, "--style", "testnet", "--json", *extra, env=cli_env)
        assert r.returncode == 0, r.stderr
    written = [x["output"] for x in json.loads(r.stdout)["results"]]
    assert len(set(written)) == len(written) == 7
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["IMG.JPG.jpg", "IMG.jpg", "clip.avi.mp4", "clip.gif.mp4", "clip.mp4",
                    "sub/x.BMP.bmp", "sub/x.bmp"]


def test_folder_plan_never_gives_two_inputs_one_name(tmp_path):
    from stylecam.files import plan_folder

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.avi", "a.mp4", "a.mkv", "a.avi.mp4", "A.MKV", "b.TIFF", "b.tiff", "b.tif"):
        (src / name).write_bytes(b"x")
    jobs = plan_folder(src, tmp_path / "out", "s")
    keys = [str(out.relative_to(tmp_path / "out")).casefold() for _, out, _ in jobs]
    assert len(jobs) == 8 and len(set(keys)) == 8
    names = {p.name: out.name for p, out, _ in jobs}
    assert (names["a.mp4"], names["a.avi.mp4"], names["a.avi"]) == ("a.mp4", "a.avi.mp4", "a.avi_2.mp4")
    assert (names["a.mkv"], names["A.MKV"]) == ("a.mkv", "A.MKV.mkv")
    assert (names["b.tiff"], names["b.TIFF"], names["b.tif"]) == ("b.tiff", "b.TIFF.tiff", "b.tif")


def test_folder_never_writes_an_input_through_a_symlink(tmp_path, cli_env):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    save_photo(src / "a.png", seed=1)
    save_photo(src / "b.png", seed=2)
    save_photo(src / "sub" / "b.png", seed=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(src)  # out/sub/b.png is in/b.png
    before = {p: p.read_bytes() for p in src.rglob("*.png")}
    r = cli(src, "-o", out, "--style", "testnet", "-y", env=cli_env)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    refused = [line for line in r.stderr.splitlines() if "is the input file" in line]
    assert len(refused) == 1 and "sub/b.png" in refused[0], r.stderr
    assert {p: p.read_bytes() for p in src.rglob("*.png")} == before
    assert (out / "a.png").is_file() and not (out / "b.png").samefile(src / "b.png")
    assert all_leftovers(tmp_path) == []


# -- huge and bomb images ---------------------------------------------------------------


def test_bomb_image_is_one_line_exit_2(tmp_path, cli_env):
    bomb = make_bomb_png(tmp_path / "bomb.png")
    out = tmp_path / "out.png"
    assert_usage_error(cli(bomb, "-o", out, "--style", "testnet", env=cli_env), "bomb.png")
    assert not out.exists() and leftovers(tmp_path) == []


def test_huge_legal_image_is_refused_with_the_limit_and_how_to_raise_it(tmp_path, cli_env):
    big = tmp_path / "big.png"
    Image.new("RGB", (8000, 8000), (90, 120, 200)).save(big, compress_level=1)
    out = tmp_path / "out.png"
    r = cli(big, "-o", out, "--style", "testnet", env=cli_env)
    assert_usage_error(r, "8000x8000")
    assert "--max-megapixels" in r.stderr and "STYLECAM_MAX_MEGAPIXELS" in r.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_megapixel_limit_can_be_set(tmp_path, cli_env):
    photo = save_photo(tmp_path / "p.png", size=(200, 100))  # 0.02 megapixels
    clip = make_video(tmp_path / "c.mp4", frames=2, size=(200, 100))
    for src in (photo, clip):
        out = tmp_path / f"out{src.suffix}"
        assert_usage_error(cli(src, "-o", out, "--style", "testnet", "--max-megapixels", "0.01", env=cli_env),
                           "above the limit of 0.01 megapixels")
        r = cli(src, "-o", out, "--style", "testnet", env={**cli_env, "STYLECAM_MAX_MEGAPIXELS": "0.01"})
        assert_usage_error(r, "above the limit")
        r = cli(src, "-o", out, "--style", "testnet", "--max-megapixels", "0.03",
                env={**cli_env, "STYLECAM_MAX_MEGAPIXELS": "0.01"})  # the option wins
        assert r.returncode == 0, r.stderr
    assert_usage_error(cli(photo, "-o", tmp_path / "x.png", "--style", "testnet",
                           env={**cli_env, "STYLECAM_MAX_MEGAPIXELS": "lots"}), "STYLECAM_MAX_MEGAPIXELS")


def test_engine_refuses_oversized_frames(test_model):
    from stylecam import StylecamError, Stylizer

    s = Stylizer(test_model, device="cpu", max_megapixels=0.01)
    assert s.stylize(np.zeros((50, 200, 3), np.uint8)).shape == (50, 200, 3)
    with pytest.raises(StylecamError, match="200x100"):
        s.stylize(np.zeros((100, 200, 3), np.uint8))


def test_a_batch_shares_the_megapixel_limit(tmp_path, test_model, cli_env):
    """The limit is the memory of one inference call: --batch 64 of 4K frames must not make
    one call of 530 megapixels. Frames are split into calls that fit, results unchanged."""
    from conftest import probe
    from stylecam import Stylizer

    engine = Stylizer(test_model, device="cpu", max_megapixels=0.01)
    calls: list[int] = []
    net = engine._nets[0]  # every inference call of a one-style engine goes through its net
    real = net.infer

    def counting(batch, cancel=None):
        calls.append(batch.shape[0])
        return real(batch, cancel)

    net.infer = counting
    frames = [np.random.default_rng(i).integers(0, 256, (50, 50, 3), dtype=np.uint8) for i in range(9)]
    outs = engine.stylize_batch(frames)  # 2500 pixels a frame: 4 to a call
    assert calls == [4, 4, 1]
    assert all(np.array_equal(o, engine.stylize(f)) for o, f in zip(outs, frames))
    clip = make_video(tmp_path / "c.mp4", frames=12, size=(200, 100))
    out = tmp_path / "out.mp4"
    r = cli(clip, "-o", out, "--style", "testnet", "--batch", "8", "--max-megapixels", "0.05", env=cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == ("stylecam: warning: c.mp4: --batch 8 lowered to 2: one inference call may "
                                        "hold 0.05 megapixels (--max-megapixels), 2 frames of 200x100"), r.stderr
    assert probe(out)["frames"] == 12


# -- models that break the contract -----------------------------------------------------


def build_hostile_model(path: Path, kind: str) -> Path:
    """A model that loads in onnxruntime but breaks the stylecam contract in one way."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dims = ["N", 3, "H", "W"]
    in_type, in_dims, out_dims = TensorProto.FLOAT, dims, dims
    inits = []
    if kind == "float64_input":
        in_type = TensorProto.DOUBLE
        nodes = [helper.make_node("Cast", ["input"], ["output"], to=TensorProto.FLOAT)]
    elif kind == "fixed_shape":
        in_dims = out_dims = [1, 3, 64, 64]
        nodes = [helper.make_node("Identity", ["input"], ["output"])]
    elif kind == "one_channel":
        out_dims = ["N", 1, "H", "W"]
        nodes = [helper.make_node("ReduceMean", ["input"], ["output"], axes=[1], keepdims=1)]
    elif kind == "half_size":
        out_dims = ["N", 3, "h", "w"]
        nodes = [helper.make_node("AveragePool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2])]
    elif kind == "nan_on_bright":  # fine on the mid-gray probe, NaN where a pixel is brighter than 200
        inits = [numpy_helper.from_array(np.array(200, np.float32), "c")]
        nodes = [helper.make_node("Sub", ["c", "input"], ["d"]), helper.make_node("Sqrt", ["d"], ["output"])]
    elif kind == "nan_always":
        inits = [numpy_helper.from_array(np.array(-1, np.float32), "c")]
        nodes = [helper.make_node("Mul", ["input", "c"], ["neg"]), helper.make_node("Sub", ["neg", "c"], ["d"]),
                 helper.make_node("Sqrt", ["d"], ["output"])]  # sqrt(-x - 1): NaN for every pixel
    else:
        raise ValueError(kind)
    graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("input", in_type, in_dims)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("kind, match", [("float64_input", "float32"), ("fixed_shape", "dynamic"),
                                         ("one_channel", "output must be N,3,H,W"),
                                         ("half_size", "output must be N,3,H,W"), ("nan_always", "NaN")])
def test_model_contract_is_checked_at_load(tmp_path, kind, match):
    model = build_hostile_model(tmp_path / f"{kind}.onnx", kind)
    photo = save_photo(tmp_path / "p.png")
    out = tmp_path / "out.png"
    assert_usage_error(cli(photo, "-o", out, "--style", model), match)
    assert not out.exists() and leftovers(tmp_path) == []


def test_nan_in_a_frame_is_one_line_and_no_output(tmp_path):
    model = build_hostile_model(tmp_path / "nan.onnx", "nan_on_bright")
    from stylecam import StylecamError, Stylizer

    s = Stylizer(model, device="cpu")  # loads: the probe frame is mid-gray
    with pytest.raises(StylecamError, match="NaN"):
        s.stylize(np.full((20, 30, 3), 250, np.uint8))
    clip = make_video(tmp_path / "c.mp4", frames=6)  # has bright pixels
    photo = save_photo(tmp_path / "p.png")
    for src, out in ((clip, tmp_path / "out.mp4"), (photo, tmp_path / "out.png")):
        assert_usage_error(cli(src, "-o", out, "--style", model), "NaN")
        assert not out.exists()
    assert leftovers(tmp_path) == []


# -- signals ----------------------------------------------------------------------------


def start(args, env) -> subprocess.Popen:
    """Start `stylecam ...` and return once its signal handlers are in place: before that
    the interpreter itself is starting (~0.1 s), and no stylecam code has run yet."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "stylecam", *map(str, args)], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, preexec_fn=default_signals)
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        time.sleep(0.3)
        return proc
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        caught = next((int(line.split()[1], 16) for line in status.read_text().splitlines()
                       if line.startswith("SigCgt:")), 0)
        if caught >> (signal.SIGHUP - 1) & 1:  # installed last
            return proc
        time.sleep(0.002)
    assert proc.poll() is not None, "stylecam installed no SIGTERM/SIGHUP handler"
    return proc


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_term_and_hup_clean_up_like_ctrl_c(tmp_path, cli_env, signame):
    import random
    import signal
    import time

    sig = getattr(signal, signame)
    src = make_video(tmp_path / "clip.mp4", frames=240, size=(320, 240), fps=24)
    work = tmp_path / "work"
    work.mkdir()
    rng = random.Random(sig)
    while_writing = 0
    for run in range(20):
        out = work / f"out{run}.mp4"
        proc = start([src, "-o", out, "--style", "testnet"], cli_env)
        if run % 2:  # at a random moment of start-up (imports, model load)
            time.sleep(rng.uniform(0, 0.7))
        else:  # while the temp file is being written
            deadline = time.time() + 30
            while not leftovers(work) and proc.poll() is None and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
            while_writing += bool(leftovers(work)) and proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (128 + sig, 0), (run, proc.returncode, err)
        if proc.returncode:
            assert not out.exists() and len(err.strip().splitlines()) == 1, err
        assert leftovers(work) == [], run
    assert while_writing >= 5  # the signal really came while a temp file existed


def test_ctrl_c_early_is_quiet(tmp_path, cli_env):
    import random
    import signal
    import time

    photo = save_photo(tmp_path / "p.png")
    rng = random.Random(1)
    for run in range(10):
        out = tmp_path / f"out{run}.png"
        proc = start([photo, "-o", out, "--style", "testnet"], cli_env)
        time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (130, 0), (run, proc.returncode, err)
        if proc.returncode:
            assert not out.exists() and err.strip() == "stylecam: interrupted; no partial output was left"
    assert leftovers(tmp_path) == []



def test_second_ctrl_c_during_the_cleanup(tmp_path, cli_env):
    """A second Ctrl+C while the first one's cleanup runs (worker threads stopping, the
    temp file going) is ignored: exit 130, one line, no abort, no temp file. A slow net
    keeps the inference thread busy, so the second signal often lands while it is joined."""
    import random
    import signal
    import time

    src = make_video(tmp_path / "clip.mp4", frames=240, size=(320, 240), fps=24)
    work = tmp_path / "work"
    work.mkdir()
    rng = random.Random(3)
    for run in range(20):
        out = work / f"out{run}.mp4"
        proc = start([src, "-o", out, "--style", "slownet"], cli_env)
        deadline = time.time() + 30
        while not leftovers(work) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(signal.SIGINT)
        time.sleep(rng.uniform(0, 0.05))
        sent = time.time()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (run, proc.returncode, err)
        assert err.strip() == "stylecam: interrupted; no partial output was left", (run, err)
        assert time.time() - sent < 2, run
        assert not out.exists() and leftovers(work) == [], run


def test_ctrl_c_after_the_output_is_written_keeps_exit_0(tmp_path, cli_env):
    """A Ctrl+C while the interpreter shuts down (after "wrote ...") does not turn a finished
    job into a process killed by SIGINT."""
    import signal
    import time

    photo = save_photo(tmp_path / "p.png")
    for run in range(10):
        out = tmp_path / f"out{run}.png"
        proc = start([photo, "-o", out, "--style", "testnet"], cli_env)
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("wrote"), line
        while proc.poll() is None:  # keep pressing until the process is gone
            proc.send_signal(signal.SIGINT)
            time.sleep(0.0005)
        assert proc.wait() == 0 and out.exists(), (run, proc.returncode, proc.stderr.read())

def build_one_slow_layer_model(path: Path, kernel: int = 127) -> Path:
    """A model that keeps the contract (its output is its input) but spends seconds in one
    layer on a large frame: a single kernel x kernel convolution, where onnxruntime cannot
    stop between layers (about 4.5 s for 1200x900 on two 2020s cores; at kernel 63 it is
    only about 1 s, short enough for a late signal to find the run already writing)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.zeros((3, 3, kernel, kernel), np.float32)
    for c in range(3):
        weight[c, c, kernel // 2, kernel // 2] = 1.0
    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["output"], pads=[kernel // 2] * 4)], "slow",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_signal_while_a_large_image_is_encoded(tmp_path, cli_env):
    """WebP encodes a large image in one C call of seconds (no signal is handled during
    it): a signal then ends the run within 2 s all the same, with no temp file left."""
    import random
    import signal
    import time

    big = save_photo(tmp_path / "big.png", size=(4000, 3000))  # noise: slow to encode
    work = tmp_path / "work"
    work.mkdir()
    rng = random.Random(7)
    sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    for run in range(10):
        sig = sigs[run % 3]
        out = work / f"out{run}.webp"
        proc = start([big, "-o", out, "--style", "testnet"], cli_env)
        deadline = time.time() + 60
        while not leftovers(work) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert leftovers(work), (run, proc.poll())
        time.sleep(rng.uniform(0, 0.8))
        assert proc.poll() is None, "the encoding was not long enough to be interrupted"
        proc.send_signal(sig)
        sent = time.time()
        _, err = proc.communicate(timeout=30)
        took = time.time() - sent
        assert took < 2, (run, round(took, 2))
        assert proc.returncode == 128 + sig, (run, proc.returncode, err)
        what = "interrupted" if sig == signal.SIGINT else f"terminated by {signal.Signals(sig).name}"
        assert err.strip() == f"stylecam: {what}; no partial output was left", (run, err)
        assert not out.exists() and leftovers(work) == [], run


def test_cancel_stops_an_inference_call_between_layers(models_dir):
    """A call that another thread cancels ends at the net's next layer (slownet has 50,
    a batch of eight 1280x720 frames takes several seconds in full), and a cancelled
    Cancel fails every later call at once."""
    import threading
    import time

    from stylecam import Stylizer
    from stylecam.engine import Cancel, Cancelled

    engine = Stylizer(models_dir / "slownet.onnx", device="cpu")
    frames = [np.full((720, 1280, 3), 100, np.uint8)] * 8
    cancel = Cancel()
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        engine.stylize_batch(frames, cancel)
    assert time.monotonic() - started < 1.5
    with pytest.raises(Cancelled):
        engine.stylize_batch(frames[:1], cancel)
    assert engine.stylize_batch(frames[:1], Cancel())[0].shape == (720, 1280, 3)


def worker_cpu_seconds(pid: int) -> float:
    """CPU time used by the process's threads other than its main thread: onnxruntime's
    pool and stylecam's workers, which only work in earnest once inference runs."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if task.name == str(pid):
            continue
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see when inference runs")
@pytest.mark.parametrize("job, runs", [("image", 12), ("video", 6), ("live", 6)])  # each signal at least twice
def test_signal_during_a_long_inference_call_ends_the_run_at_once(tmp_path, cli_env, job, runs):
    """A signal while one inference call runs for seconds (a large image, a big --batch, a
    large live frame) ends the process within 2 s, not when the call is done; INT, TERM
    and HUP in turn. The model spends its time in one layer, where onnxruntime cannot be
    stopped between layers."""
    import random
    import signal
    import time

    from conftest import probe

    model = build_one_slow_layer_model(tmp_path / "slow.onnx")
    args: list = ["--style", model, "--threads", "2"]
    if job == "image":
        src = save_photo(tmp_path / "big.png", size=(1200, 900))
    else:
        size = (640, 360) if job == "video" else (1280, 720)  # a batch of 8, or one large live frame
        src = make_video(tmp_path / "clip.mp4", frames=120, size=size, fps=24)
        args += ["--batch", "8"] if job == "video" else ["--live", "--no-window", "--json"]
    work = tmp_path / "work"
    work.mkdir()
    rng = random.Random(job)
    sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    for run in range(runs):
        sig = sigs[run % 3]
        out = work / (f"out{run}.png" if job == "image" else f"out{run}.mp4")
        proc = start([src, "-o", out, *args], cli_env)
        deadline = time.time() + 60
        while proc.poll() is None and worker_cpu_seconds(proc.pid) < 0.5 and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, (run, proc.returncode, proc.communicate()[1])
        assert worker_cpu_seconds(proc.pid) >= 0.5, "inference never started"
        time.sleep(rng.uniform(0, 1.0))
        assert proc.poll() is None, "the inference call was not long enough to be interrupted"
        proc.send_signal(sig)
        sent = time.time()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        took = time.time() - sent
        assert "Traceback" not in err, err
        assert took < 2, (run, signal.Signals(sig).name, round(took, 2))
        assert leftovers(work) == [], run
        if job == "live":  # the session ends as with q: the recording keeps every shown frame
            assert proc.returncode == (0 if sig == signal.SIGINT else 128 + sig), (run, err)
            if out.exists():
                assert probe(out)["frames"] >= 1
        else:
            assert proc.returncode == 128 + sig, (run, proc.returncode, err)
            what = "interrupted" if sig == signal.SIGINT else f"terminated by {signal.Signals(sig).name}"
            assert err.strip() == f"stylecam: {what}; no partial output was left", (run, err)
            assert not out.exists(), run


# -- two writers, one output -------------------------------------------------------------


@pytest.mark.parametrize("hard_links", [True, False])
def test_commit_never_replaces_a_file_that_appeared_meanwhile(tmp_path, monkeypatch, hard_links):
    import errno

    from stylecam import StylecamError
    from stylecam.atomic import AtomicOutput

    if not hard_links:  # a file system without hard links: the check-then-rename fallback
        def no_link(*_a):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "out.png"
    writer = AtomicOutput(target)
    writer.tmp.write_bytes(b"ours")
    target.write_bytes(b"theirs")  # another writer finished first
    with pytest.raises(StylecamError, match="another program"):
        writer.commit()
    assert target.read_bytes() == b"theirs" and leftovers(tmp_path) == []
    with AtomicOutput(tmp_path / "new.png") as tmp:  # no clash: committed
        tmp.write_bytes(b"new")
    assert (tmp_path / "new.png").read_bytes() == b"new" and leftovers(tmp_path) == []
    replacing = AtomicOutput(target, overwrite=True)  # -y replaces
    replacing.tmp.write_bytes(b"ours")
    replacing.commit()
    assert target.read_bytes() == b"ours" and leftovers(tmp_path) == []


def test_second_writer_to_one_output_fails_in_one_line(tmp_path, cli_env):
    import time

    from conftest import probe

    a = make_video(tmp_path / "a.mp4", frames=150, size=(320, 240))
    b = make_video(tmp_path / "b.mp4", frames=150, size=(256, 192))
    out = tmp_path / "out.mp4"
    procs = [subprocess.Popen([sys.executable, "-m", "stylecam", src, "-o", out, "--style", "testnet"], env=cli_env,
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) for src in (a, b)]
    deadline = time.time() + 60
    both_writing = False
    while time.time() < deadline and all(p.poll() is None for p in procs):
        if len(leftovers(tmp_path)) == 2:
            both_writing = True  # both are past the "output exists" check
            break
        time.sleep(0.01)
    errs = [p.communicate(timeout=120)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], (codes, errs)
    loser = codes.index(2)
    assert_usage_error(subprocess.CompletedProcess([], 2, "", errs[loser]),
                       "another program" if both_writing else "exists")
    winner_size = (320, 240) if codes[0] == 0 else (256, 192)
    p = probe(out)
    assert (p["width"], p["height"], p["frames"]) == (*winner_size, 150)
    assert leftovers(tmp_path) == []
    assert both_writing, "the two runs did not overlap; the race was not exercised"


# -- live URLs and the style list -------------------------------------------------------


@pytest.mark.parametrize("args, match", [
    (["udp://127.0.0.1:99999", "--no-window", "-o", "rec.mp4"], "invalid port"),
    (["udp://127.0.0.1:0", "--no-window", "-o", "rec.mp4"], "invalid port"),
    (["udp://127.0.0.1", "--no-window", "-o", "rec.mp4"], "needs a port"),
    (["--webcam", "--no-window", "--stream", "udp://127.0.0.1:70000"], "invalid port"),
    (["--webcam", "--no-window", "--stream", "udp://127.0.0.1:port"], "invalid port"),
])
def test_invalid_url_ports_are_refused(tmp_path, cli_env, args, match):
    args = [str(tmp_path / a) if a == "rec.mp4" else a for a in args]
    assert_usage_error(cli(*args, "--style", "testnet", env=cli_env, timeout=60), match)
    assert not (tmp_path / "rec.mp4").exists()


def test_stream_to_unknown_host_or_closed_port_is_one_line_and_leaves_no_recording(tmp_path, cli_env):
    """FFmpeg opens a stream URL only at the first packet and then says "Input/output
    error"; the host is checked before the model loads and a refused connection is one line,
    and the recording that got no frame is not left as an empty file."""
    import socket

    clip = make_video(tmp_path / "clip.mp4", frames=24)
    with socket.socket() as s:  # a local port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for url, match in [("udp://nohost.invalid:5000", "cannot resolve the host 'nohost.invalid'"),
                       (f"tcp://127.0.0.1:{closed}", "Connection refused")]:
        rec = tmp_path / "rec.mp4"
        r = cli(clip, "--live", "--no-window", "--stream", url, "-o", rec, "--style", "testnet", env=cli_env,
                timeout=60)
        assert_usage_error(r, match)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_one_broken_model_does_not_break_the_style_list(tmp_path, models_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "garbage.onnx").write_bytes(b"\x00not onnx")
    env = {**os.environ, "STYLECAM_MODELS": os.pathsep.join([str(broken), str(models_dir)])}
    for extra in ([], ["--json"]):
        r = cli("--list-styles", *extra, env=env)
        assert r.returncode == 0, r.stderr
        assert "testnet" in r.stdout and "garbage" not in r.stdout
        assert r.stderr.count("\n") == 1 and "skipped style garbage.onnx" in r.stderr, r.stderr


def test_error_after_decoding_started_never_hangs_at_exit(tmp_path, cli_env):
    """An error once H.264 frames were decoded (here: an output container we do not write)
    ends the process at once, every time: FFmpeg's decoder threads must never wait for the
    GIL in a Python log callback while the main thread closes the decoder."""
    clip = make_video(tmp_path / "clip.mp4", frames=48, size=(320, 240))
    for run in range(20):
        r = cli(clip, "-o", tmp_path / f"out{run}.avi", "--style", "testnet", env=cli_env, timeout=20)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


# -- full disks, long names, format limits ------------------------------------------------


def cli_with_file_size_limit(*args, limit: int, env=None) -> subprocess.CompletedProcess:
    """`stylecam ...` with RLIMIT_FSIZE: a write past `limit` bytes fails with EFBIG, as
    on a full disk (SIGXFSZ ignored, or the kernel would kill the process instead)."""
    import resource
    import signal

    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-m", "stylecam", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, preexec_fn=pre)


def test_full_disk_is_one_line_and_leaves_no_file(tmp_path, cli_env):
    photo = save_photo(tmp_path / "p.png", size=(400, 300))  # noise: about 360 KB as PNG
    clip = make_video(tmp_path / "c.mp4", frames=96, size=(320, 240))
    for src, out in ((photo, tmp_path / "out.png"), (clip, tmp_path / "out.mp4")):
        r = cli_with_file_size_limit(src, "-o", out, "--style", "testnet", limit=60_000, env=cli_env)
        assert_usage_error(r, f"cannot write {out}: File too large")
        assert not out.exists() and all_leftovers(tmp_path) == []


def test_full_disk_in_a_folder_job_is_that_files_failure(tmp_path, cli_env):
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    save_photo(src / "b.png", size=(400, 300))
    save_photo(src / "c.png", seed=2)
    out = tmp_path / "out"
    r = cli_with_file_size_limit(src, "-o", out, "--style", "testnet", limit=60_000, env=cli_env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    bad = [line for line in r.stderr.splitlines() if "b.png" in line]
    assert len(bad) == 1 and f"cannot write {out / 'b.png'}: File too large" in bad[0], r.stderr
    assert "1 of 3 files failed" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert all_leftovers(tmp_path) == []


def test_output_names_that_leave_no_room_for_the_temp_name(tmp_path, cli_env):
    """A legal name too long for `.NAME.XXXXXXXX.partEXT` still works; a name that is
    itself too long is one line."""
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    for src, name in ((photo, "a" * 250 + ".png"), (clip, "b" * 250 + ".mp4"), (photo, "é" * 125 + ".png")):
        assert len(os.fsencode(name)) >= 254
        r = cli(src, "-o", tmp_path / name, "--style", "testnet", env=cli_env)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name).is_file()
    assert_usage_error(cli(photo, "-o", tmp_path / ("c" * 252 + ".png"), "--style", "testnet", env=cli_env),
                       "too long")
    assert all_leftovers(tmp_path) == []


def test_webp_larger_than_its_limit_is_refused_before_any_work(tmp_path, cli_env):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (16400, 20), (90, 120, 200)).save(wide)
    out = tmp_path / "out.webp"
    r = cli(wide, "-o", out, "--style", "testnet", env=cli_env)
    assert_usage_error(r, "16383")
    assert "PNG" in r.stderr and not out.exists() and all_leftovers(tmp_path) == []


def test_named_pipe_input_is_refused_not_waited_for(tmp_path, cli_env):
    """Opening a FIFO blocks until a writer comes, inside C code where Ctrl+C cannot reach."""
    for name in ("clip.mp4", "photo.png", "pipe"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        for extra in ([], ["--live", "--no-window", "-o", tmp_path / "rec.mp4"]):
            r = cli(fifo, *extra, "--style", "testnet", env=cli_env, timeout=30)
            assert_usage_error(r, "not a regular file (a named pipe)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "photo.png", "pipe"]


def mp4_boxes(path: Path) -> list[str]:
    data, at, boxes = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        boxes.append(data[at + 4:at + 8].decode("latin-1"))
        if size < 8:
            break
        at += size
    return boxes


def test_mp4_cut_in_half(tmp_path, cli_env):
    """With the index (moov) at the end, half a file has none: one line that says so. With
    the index at the front (faststart, as stylecam writes), the half that is there is
    stylized with a warning."""
    from conftest import probe

    whole = make_video(tmp_path / "whole.mp4", frames=96, size=(320, 240), audio=True)
    assert mp4_boxes(whole)[-1] == "moov"
    front = tmp_path / "front.mp4"
    assert cli(whole, "-o", front, "--style", "testnet", env=cli_env).returncode == 0
    assert mp4_boxes(front)[:2] == ["ftyp", "moov"]
    for src in (whole, front):
        data = src.read_bytes()
        src.with_name(f"cut_{src.name}").write_bytes(data[:len(data) // 2])
    out = tmp_path / "out.mp4"
    r = cli(tmp_path / "cut_whole.mp4", "-o", out, "--style", "testnet", env=cli_env)
    assert_usage_error(r, "cut off before its index (moov atom); such a recording cannot be read")
    assert not out.exists()
    r = cli(tmp_path / "cut_front.mp4", "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    warned = [line for line in r.stderr.splitlines() if line.startswith("stylecam: warning:")]
    assert len(warned) == 1 and "truncated" in warned[0], r.stderr
    assert 20 < probe(out)["frames"] < 96
    assert all_leftovers(tmp_path) == []


def test_silent_stream_says_so_and_ctrl_c_ends_the_wait_at_once(tmp_path, cli_env):
    """A stream that sends nothing: FFmpeg's own words would be "Immediate exit requested"
    (its timeout), and it waits in C code, where Ctrl+C would wait for that timeout too."""
    import random
    import signal
    import socket
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody sends to
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = tmp_path / "rec.mp4"
    args = [f"udp://127.0.0.1:{port}", "--no-window", "-o", rec, "--style", "testnet"]
    assert_usage_error(cli(*args, env=cli_env, timeout=60), f"udp://127.0.0.1:{port}: it sent nothing for 5 s")
    rng = random.Random(5)
    for run in range(10):
        proc = start(args, cli_env)
        time.sleep(rng.uniform(0.2, 3.5))
        proc.send_signal(signal.SIGINT)
        sent = time.time()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, (run, proc.returncode, err)
        assert err.strip() == "stylecam: interrupted; no partial output was left", (run, err)
        assert time.time() - sent < 2, run
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_folder_job_says_what_was_written(tmp_path, cli_env):
    import signal
    import time

    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    save_photo(src / "b.png", seed=2)
    make_video(src / "c.mp4", frames=240, size=(320, 240))
    out = tmp_path / "out"
    proc = start([src, "-o", out, "--style", "slownet"], cli_env)
    deadline = time.time() + 60
    # the video's temp file: an image's lives a few ms, and a signal then would be right to
    # say that fewer files were written
    while not any(name.endswith(".part.mp4") for name in all_leftovers(out if out.is_dir() else tmp_path)) \
            and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == (f"stylecam: interrupted; 2 of 3 files were written to {out} and are kept; "
                           f"{out / 'c.mp4'} was in progress and was removed"), err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def test_a_newline_in_a_file_name_never_splits_a_message(tmp_path, cli_env):
    bad = tmp_path / "bad\nname.png"
    bad.write_bytes(b"not an image")
    assert_usage_error(cli(bad, "-o", tmp_path / "out.png", "--style", "testnet", env=cli_env), "bad\\nname.png")
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "good\nname.png")
    (src / "worse\nname.png").write_bytes(b"not an image")
    r = cli(src, "-o", tmp_path / "out", "--style", "testnet", env=cli_env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 3, r.stderr
    assert lines[0].startswith("stylecam: warning: skipped") and "worse\\nname.png" in lines[0]
    assert lines[1].startswith("wrote") and "good\\nname.png" in lines[1]
    assert lines[2] == "stylecam: error: 1 of 2 files failed"


def test_unusable_paths_are_one_line(tmp_path, cli_env):
    photo = save_photo(tmp_path / "p.png")
    (tmp_path / "afile").write_bytes(b"x")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no media here")
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, match in [([photo, "-o", tmp_path / "afile" / "out.png"], "afile is a file, not a folder"),
                        ([src, "-o", tmp_path / "afile" / "out"], "cannot make the output folder"),
                        ([photo, "-o", tmp_path / "dangling.png"], "exists; use -y/--overwrite"),
                        ([tmp_path / "empty.mp4"], "is empty (0 bytes)"),
                        ([tmp_path / "loop1"], "Too many levels of symbolic links"),
                        ([tmp_path / "nothing"], "no images or videos in")]:
        assert_usage_error(cli(*args, "--style", "testnet", env=cli_env), match)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    # a file where a sub-folder of the output must go is that file's failure
    (src / "sub").mkdir()
    save_photo(src / "sub" / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_bytes(b"x")
    r = cli(src, "-o", out, "--style", "testnet", env=cli_env)
    assert r.returncode == 2, r.stderr
    bad = [line for line in r.stderr.splitlines() if "sub" in line]
    assert len(bad) == 1 and "cannot make the output folder" in bad[0] and "Error:" not in bad[0], r.stderr
    assert (out / "a.png").is_file()


# -- permissions: run as a user the permission bits apply to ------------------------------


def as_ordinary_user():
    """A Popen preexec_fn under which the command meets permission bits as any user does.

    Root (as on CI) bypasses them (CAP_DAC_OVERRIDE), so there it drops every capability
    from the bounding set: the exec that follows then gives the process none, and root's
    own files (mode 000, a 0555 folder) refuse it with EACCES like an ordinary owner's.
    (Not setuid to nobody: the interpreter of a venv under /root, mode 0700, would be out
    of reach.) For any other user it changes nothing. `check_permissions_apply` proves it.
    """
    if os.geteuid() != 0:
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())

    def drop() -> None:
        for cap in range(last_cap + 1):
            if prctl(ctypes.c_int(24), ctypes.c_ulong(cap), ctypes.c_ulong(0), ctypes.c_ulong(0),
                     ctypes.c_ulong(0)) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")
    return drop


def cli_as_user(*args, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stylecam", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, preexec_fn=as_ordinary_user())


@pytest.fixture()
def check_permissions_apply(tmp_path):
    """Fails (never skips) when the commands of a test would not meet EACCES."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    probe.chmod(0)
    r = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}, 'rb')"], capture_output=True, text=True,
                       preexec_fn=as_ordinary_user())
    assert "PermissionError" in r.stderr, f"a mode-000 file could be read: {r.returncode} {r.stderr}"
    probe.unlink()


def test_unreadable_input_is_one_line(tmp_path, cli_env, check_permissions_apply):
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    (tmp_path / "noext").write_bytes(photo.read_bytes())  # judged by content: must not be "not an image"
    locked = tmp_path / "locked"
    locked.mkdir()
    hidden = save_photo(locked / "q.png")
    for path in (photo, clip, tmp_path / "noext", locked):
        path.chmod(0)
    out = tmp_path / "out"
    out.mkdir()
    for src in (photo, clip, tmp_path / "noext", hidden):
        for extra in ([], ["--live", "--no-window"]) if src == clip else ([],):
            r = cli_as_user(src, "-o", out / f"o{src.suffix or '.png'}", "--style", "testnet", *extra, env=cli_env)
            assert_usage_error(r, f"cannot read {src}: Permission denied")
    assert list(out.iterdir()) == [] and all_leftovers(tmp_path) == []
    locked.chmod(0o755)


def test_unwritable_output_folder_is_one_line(tmp_path, cli_env, check_permissions_apply):
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    save_photo(src / "a.png")
    save_photo(src / "sub" / "b.png")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    for args, match in [([photo, "-o", ro / "x.png"], f"cannot write to {ro}: Permission denied"),
                        ([clip, "-o", ro / "x.mp4"], f"cannot write to {ro}: Permission denied"),
                        ([src, "-o", ro], f"cannot write to {ro}: Permission denied"),  # one line, not one per file
                        ([src, "-o", ro / "new"], f"cannot make the output folder {ro / 'new'}: Permission denied"),
                        ([clip, "--live", "--no-window", "-o", ro / "rec.mp4"], f"cannot write to {ro}")]:
        assert_usage_error(cli_as_user(*args, "--style", "testnet", env=cli_env), match)
    assert list(ro.iterdir()) == []


def test_read_only_output_is_kept_with_and_without_y(tmp_path, cli_env, check_permissions_apply):
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    for src, out in ((photo, tmp_path / "o.png"), (clip, tmp_path / "o.mp4")):
        out.write_bytes(b"precious")
        out.chmod(0o444)
        for extra in ([], ["-y"]):
            r = cli_as_user(src, "-o", out, "--style", "testnet", *extra, env=cli_env)
            assert_usage_error(r, f"output {out} is read-only; it is kept")
            assert out.read_bytes() == b"precious" and mode(out) == 0o444
    # in a folder job with -y it is that file's failure; the others are written
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    save_photo(src / "b.png", seed=1)
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "b.png").write_bytes(b"precious")
    (dst / "b.png").chmod(0o444)
    r = cli_as_user(src, "-o", dst, "--style", "testnet", "-y", env=cli_env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == f"stylecam: warning: skipped {src / 'b.png'}: output {dst / 'b.png'} is read-only; it is kept " \
                       "(make it writable to replace it, or choose another output)", r.stderr
    assert lines[-1] == "stylecam: error: 1 of 2 files failed" and len(lines) == 3, r.stderr
    assert (dst / "b.png").read_bytes() == b"precious" and Image.open(dst / "a.png").size == (40, 30)
    assert all_leftovers(tmp_path) == []


def test_folder_with_unreadable_files_and_folders_goes_on(tmp_path, cli_env, check_permissions_apply):
    """An unreadable file, a folder that cannot be listed and one that can be listed but not
    searched: each is one line and a failure in the summary and JSON; the rest is written."""
    src = tmp_path / "in"
    for sub in ("sub", "locked", "nosearch"):
        (src / sub).mkdir(parents=True)
    save_photo(src / "a.png")
    save_photo(src / "b.png", seed=1)
    make_video(src / "c.mp4", frames=3)
    save_photo(src / "sub" / "d.png", seed=2)
    save_photo(src / "locked" / "e.png", seed=3)
    save_photo(src / "nosearch" / "f.png", seed=4)
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    (src / "b.png").chmod(0)
    (src / "locked").chmod(0)
    (src / "nosearch").chmod(0o444)
    out = tmp_path / "out"
    r = cli_as_user(src, "-o", out, "--style", "testnet", "--json", env=cli_env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    failed = {Path(x["input"]).relative_to(src).as_posix(): x["error"] for x in json.loads(r.stdout)["results"]
              if x["error"]}
    assert failed == {"b.png": f"cannot read image {src / 'b.png'}: Permission denied",
                      "locked": f"cannot read folder {src / 'locked'}: Permission denied",
                      "nosearch/f.png": f"cannot read {src / 'nosearch' / 'f.png'}: Permission denied"}, failed
    warned = [line for line in r.stderr.splitlines() if line.startswith("stylecam: warning: skipped")]
    assert len(warned) == 3 and r.stderr.splitlines()[-1] == "stylecam: error: 3 of 6 files failed", r.stderr
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a.png", "c.mp4", "sub/d.png"]
    assert all_leftovers(tmp_path) == []
    for folder in ("locked", "nosearch"):
        (src / folder).chmod(0o755)
    (src / "b.png").chmod(0o644)
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    # the input folder itself
    src.chmod(0)
    assert_usage_error(cli_as_user(src, "-o", tmp_path / "out2", "--style", "testnet", env=cli_env),
                       f"cannot read folder {src}: Permission denied")
    src.chmod(0o755)
    assert not (tmp_path / "out2").exists()


def test_unreadable_models_and_style_folders(tmp_path, models_dir, check_permissions_apply):
    from conftest import build_test_model

    photo = save_photo(tmp_path / "p.png")
    locked_model = build_test_model(tmp_path / "locked.onnx", name="locked")
    locked_model.chmod(0)
    locked_folder = tmp_path / "styles"
    locked_folder.mkdir()
    build_test_model(locked_folder / "hidden.onnx", name="hidden")
    locked_folder.chmod(0)
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    env = {**os.environ, "STYLECAM_MODELS": os.pathsep.join([str(locked_folder), str(tmp_path), str(models_dir)])}
    out = tmp_path / "out.png"
    for style, match in [(locked_model, f"cannot read model {locked_model}: Permission denied"),
                         ("locked", f"cannot read model {locked_model}: Permission denied"),
                         (fifo, f"model {fifo} is not a regular file"),  # not "model file not found"
                         ("hidden", f"; cannot read the style folder {locked_folder} (Permission denied)")]:
        r = cli_as_user(photo, "-o", out, "--style", style, env=env, timeout=60)
        assert_usage_error(r, match)
        assert style != "hidden" or "unknown style 'hidden'; known styles: " in r.stderr
    r = cli_as_user("--list-styles", env=env, timeout=60)
    assert r.returncode == 0 and "testnet" in r.stdout, r.stderr
    assert sorted(r.stderr.splitlines()) == [
        f"stylecam: warning: cannot read the style folder {locked_folder} (Permission denied)",
        f"stylecam: warning: skipped style locked.onnx: cannot read model {locked_model}: Permission denied",
        f"stylecam: warning: skipped style pipe.onnx: model {fifo} is not a regular file"], r.stderr
    assert not out.exists()
    locked_folder.chmod(0o755)


def set_metadata(path: Path, **props: str) -> Path:
    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key in props:
            prop.value = props.pop(prop.key)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_hostile_model_metadata(tmp_path):
    """A model's metadata cannot crash a run, make it pad frames to gigabytes or put the
    default output anywhere but beside the input."""
    from conftest import build_test_model

    photo = save_photo(tmp_path / "p.png")
    # declares multiple 1 but needs 4 (SpaceToDepth): caught on the probe frame, at load
    wrong = set_metadata(build_test_model(tmp_path / "wrong.onnx"), **{"stylecam.multiple": "1"})
    assert_usage_error(cli(photo, "-o", tmp_path / "o1.png", "--style", wrong),
                       "wrong.onnx: fails on a 19x17 probe frame")
    for value in ("0", "-8"):
        set_metadata(wrong, **{"stylecam.multiple": value})
        assert_usage_error(cli(photo, "-o", tmp_path / "o1.png", "--style", wrong), "probe frame")
    # an absurd multiple would pad the probe to 7000000x5000000: taken as 64 (the net needs 4)
    huge = set_metadata(build_test_model(tmp_path / "huge.onnx"), **{"stylecam.multiple": "1000000"})
    r = cli(photo, "-o", tmp_path / "o2.png", "--style", huge)
    assert r.returncode == 0 and Image.open(tmp_path / "o2.png").size == (40, 30), r.stderr
    # a name with path separators and a newline: the default output stays beside the input
    evil = set_metadata(build_test_model(tmp_path / "evil.onnx"), **{"stylecam.name": "../../evil\nname"})
    work = tmp_path / "work"
    work.mkdir()
    (work / "p.png").write_bytes(photo.read_bytes())
    r = cli(work / "p.png", "--style", evil)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in work.iterdir()) == ["p.png", "p_.._.._evil_name.png"]
    assert r.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == ["o2.png", "p.png"]


def build_fails_on_tall_frames(path: Path, rows: int = 64) -> Path:
    """A model that passes the probe frame but fails in onnxruntime on a frame taller than
    `rows` (it adds its first `rows` rows to the whole frame: the shapes stop matching)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([0], np.int64), "start"),
             numpy_helper.from_array(np.array([rows], np.int64), "end"),
             numpy_helper.from_array(np.array([2], np.int64), "axis"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("Slice", ["input", "start", "end", "axis"], ["top"]),
             helper.make_node("Add", ["input", "top"], ["sum"]),
             helper.make_node("Mul", ["sum", "half"], ["output"])]
    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph(nodes, "tall", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_model_that_fails_on_a_real_frame_is_one_line(tmp_path):
    model = build_fails_on_tall_frames(tmp_path / "tall.onnx")
    photo = save_photo(tmp_path / "p.png", size=(40, 100))
    clip = make_video(tmp_path / "c.mp4", frames=4, size=(48, 96))
    assert cli(save_photo(tmp_path / "small.png"), "-o", tmp_path / "ok.png", "--style", model).returncode == 0
    for src, out, match in [(photo, tmp_path / "o.png", "tall.onnx: fails on a 40x100 frame"),
                            (clip, tmp_path / "o.mp4", "tall.onnx: fails on a batch of 2 48x96 frames")]:
        assert_usage_error(cli(src, "-o", out, "--style", model, "--batch", "2"), match)
        assert not out.exists()
    assert all_leftovers(tmp_path) == []


def test_outputs_that_are_not_regular_files_are_left_alone(tmp_path, cli_env):
    """-y replaces a file, never a named pipe, a device or a link to one (the rename would
    put a file in its place: a reader waiting on the pipe would never get it)."""
    photo = save_photo(tmp_path / "p.png")
    clip = make_video(tmp_path / "c.mp4", frames=3)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    null = tmp_path / "null.mp4"
    null.symlink_to(os.devnull)
    for src, out, kind in ((photo, fifo, "a named pipe"), (clip, null, "a character device")):
        for extra in ([], ["-y"]):
            assert_usage_error(cli(src, "-o", out, "--style", "testnet", *extra, env=cli_env, timeout=60),
                               f"output {out} is not a regular file ({kind})")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and null.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert all_leftovers(tmp_path) == []


def test_output_folder_that_is_the_input_folder(tmp_path, cli_env):
    src = tmp_path / "in"
    src.mkdir()
    save_photo(src / "a.png")
    make_video(src / "b.avi", frames=3, codec="mpeg4")
    before = sorted(p.name for p in src.iterdir())
    for out in (src, tmp_path / "in" / "." / ""):
        assert_usage_error(cli(src, "-o", out, "--style", "testnet", "-y", env=cli_env),
                           f"is the input folder; choose another (the default is {tmp_path / 'in_testnet'})")
    assert sorted(p.name for p in src.iterdir()) == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_that_cannot_be_written_is_one_line(tmp_path, cli_env):
    photo = save_photo(tmp_path / "p.png")
    out = tmp_path / "o.png"
    for args in ([photo, "-o", out, "--json"], ["--list-styles"], ["--list-styles", "--json"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "stylecam", *map(str, args), "--style", "testnet"],
                               stdout=full, stderr=subprocess.PIPE, text=True, env=cli_env, timeout=120)
        assert_usage_error(r, "cannot write to standard output: No space left on device")
    assert out.exists()  # the image was written; only the summary could not be

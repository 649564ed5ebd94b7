"""Live mode without a camera: a real MPEG-TS stream over UDP on 127.0.0.1 from a second
process drives the live loop headless; stream output is read by a third process."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stylecam import StylecamError, Stylizer, defaults
from stylecam.live import LiveLoop, SourceLost, StreamSource, VirtualCamSink

from conftest import run_cli

TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_live_loop_latency_drops_and_stream_out(cli_env):
    port_in, port_out = free_port(), free_port()
    reader = subprocess.Popen([sys.executable, TESTS / "udp_reader.py", f"udp://127.0.0.1:{port_out}", "8"],
                              stdout=subprocess.PIPE, text=True)
    sender = subprocess.Popen([sys.executable, TESTS / "udp_sender.py", f"udp://127.0.0.1:{port_in}", "8"],
                              stdout=subprocess.PIPE, text=True)
    try:
        r = run_cli(f"udp://127.0.0.1:{port_in}", "--style", "slownet", "--no-window", "--smooth", "none",
                    "--stream", f"udp://127.0.0.1:{port_out}", "--duration", "4", "--json", env=cli_env, timeout=60)
        assert r.returncode == 0, r.stderr
        live = json.loads(r.stdout)["live"]
    finally:
        sender.wait(timeout=30)
        out, _ = reader.communicate(timeout=30)
    received = json.loads(out)
    frame_interval = 1000 / 25
    # slownet needs longer than a frame interval, so the newest-frame policy must drop
    assert live["inference_ms_mean"] > frame_interval * 0.8, live
    assert live["dropped"] > 0
    # in flight at the end: one frame in the mailbox, one per inference worker
    assert live["workers"] == 2  # a CPU paints two frames at once
    assert live["captured"] == live["shown"] + live["dropped"] + live["in_flight"]
    assert live["in_flight"] <= live["workers"] + 1
    assert live["latency_ms_p95"] < 2 * live["inference_ms_mean"] + frame_interval, live
    assert live["shown"] >= 10
    # the separate reader process saw our stream at the source's size and a plausible rate
    assert received["size"] == [320, 240]
    assert received["frames"] >= 0.5 * live["shown"]  # the reader joins at the first keyframe it sees
    assert 0.5 * live["fps"] < received["fps"] < 3 * live["fps"] + 5, (received, live)


class FlakySource:
    """Delivers frames, dies, refuses to open twice, then comes back."""

    name = "flaky"

    def __init__(self):
        self.opens = 0
        self.reads = 0

    def open(self):
        self.opens += 1
        if self.opens in (2, 3):
            raise SourceLost("still unplugged")
        self.reads = 0

    def read(self):
        time.sleep(0.01)
        self.reads += 1
        if self.opens == 1 and self.reads > 5:
            raise SourceLost("unplugged")
        return np.full((32, 48, 3), 100, np.uint8)

    def close(self):
        pass


class Collect:
    def __init__(self):
        self.frames = []

    def write(self, image, frame):
        self.frames.append(frame.index)

    def close(self):
        pass


def test_lost_source_reconnects_with_backoff(test_model):
    messages = []
    sink = Collect()
    loop = LiveLoop(FlakySource(), Stylizer(test_model), [sink], warn=messages.append,
                    retry_delays=(0.05, 0.1))
    stats = loop.run(duration=1.5)
    assert stats.reconnects == 1
    assert loop.source.opens == 4  # first open, two failed retries, success
    assert any("unplugged" in m for m in messages) and any("is back" in m for m in messages)
    assert len(sink.frames) > 10  # frames kept flowing after the reconnect


def test_source_that_never_returns_gives_up(test_model):
    class Dead(FlakySource):
        def open(self):
            self.opens += 1
            if self.opens > 1:
                raise SourceLost("gone")

    loop = LiveLoop(Dead(), Stylizer(test_model), [Collect()], warn=lambda m: None, retry_delays=(0.05,),
                    give_up_after=0.3)
    with pytest.raises(StylecamError, match="did not come back"):
        loop.run(duration=5)


def test_missing_stream_or_camera_is_exit_2(cli_env):
    r = run_cli("--webcam", "7", "--no-window", "--stream", "udp://127.0.0.1:9", "--style", "testnet",
                env=cli_env, timeout=60)
    assert r.returncode == 2 and "camera 7 not found" in r.stderr and "tried" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_virtual_cam_without_backend_exits_2_with_hint(tmp_path, cli_env):
    from conftest import make_video

    clip = make_video(tmp_path / "c.mp4", frames=10)
    r = run_cli(clip, "--live", "--virtual-cam", "--no-window", "--style", "testnet", "--duration", "1",
                env=cli_env, timeout=60)
    try:
        import pyvirtualcam  # noqa: F401
        pyvirtualcam.Camera(width=64, height=48, fps=10).close()
        pytest.skip("a virtual camera backend exists on this machine")
    except ImportError:
        assert r.returncode == 2 and "pip install" in r.stderr
        return
    except RuntimeError:
        pass
    assert r.returncode == 2, r.stderr
    assert "modprobe v4l2loopback" in r.stderr and "OBS" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_virtual_cam_sink_sends_frames_through_pyvirtualcam_api(monkeypatch):
    """pyvirtualcam's Camera API with a recording stand-in backend (no real device here)."""
    import types

    sent = []

    class Camera:
        def __init__(self, width, height, fps):
            self.width, self.height, self.device = width, height, "fake-device"

        def send(self, frame):
            assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
            sent.append(frame)

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=Camera))
    sink = VirtualCamSink((48, 32), 30)
    sink.write(np.zeros((32, 48, 3), np.uint8), None)
    sink.close()
    assert len(sent) == 1


def test_paced_file_source_keeps_real_time(tmp_path):
    from conftest import make_video

    clip = make_video(tmp_path / "c.mp4", frames=24, fps=24)
    src = StreamSource(str(clip), paced=True)
    src.open()
    t0 = time.monotonic()
    n = 0
    try:
        while True:
            src.read()
            n += 1
    except SourceLost:
        pass
    elapsed = time.monotonic() - t0
    assert n == 24 and 0.8 < elapsed < 2.0


@pytest.mark.parametrize("signame, exit_code", [("SIGINT", 0), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_signals_in_live_mode_finalise_the_recording(tmp_path, cli_env, signame, exit_code):
    """Ctrl+C ends a live session normally (exit 0); TERM and HUP end it the same way but
    report the signal (128 + its number). The recording keeps every shown frame."""
    import signal

    from conftest import default_signals, make_video, probe

    clip = make_video(tmp_path / "c.mp4", frames=48, fps=24)
    rec = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "stylecam", str(clip), "--live", "--no-window", "-o", str(rec),
                             "--style", "testnet", "--json"], env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    time.sleep(2.5)
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == exit_code, err
    assert "Traceback" not in err
    shown = json.loads(out)["live"]["shown"]
    assert shown > 5 and probe(rec)["frames"] == shown
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_recording_whose_first_frame_was_cut_short_leaves_no_file(tmp_path, monkeypatch):
    """A signal inside the first frame's write, before the encoder had it, ends the session
    with nothing recorded: close() leaves no file (not an MP4 without a frame); once one
    frame is in, close() keeps it."""
    from stylecam.io import encode
    from stylecam.live.sinks import RecordSink
    from stylecam.live.sources import LiveFrame

    from conftest import probe

    real = encode.video_frame

    def interrupted(image, pix_fmt):
        raise KeyboardInterrupt

    rec = tmp_path / "rec.mp4"
    sink = RecordSink(rec, (64, 48), overwrite=False)
    monkeypatch.setattr(encode, "video_frame", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sink.write(np.zeros((48, 64, 3), np.uint8), LiveFrame(np.zeros((48, 64, 3), np.uint8), 0.0, 0))
    sink.close()
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(encode, "video_frame", real)
    sink = RecordSink(rec, (64, 48), overwrite=False)
    sink.write(np.zeros((48, 64, 3), np.uint8), LiveFrame(np.zeros((48, 64, 3), np.uint8), 0.0, 0))
    sink.close()
    assert probe(rec)["frames"] == 1


def test_window_hotkeys_drive_the_loop(models_dir, monkeypatch, tmp_path):
    """The preview's hotkeys, with a scripted display in place of a real window."""
    from stylecam.live import WindowSink

    monkeypatch.setenv("STYLECAM_MODELS", str(models_dir))
    keys = iter([None, "n", "+", "-", "-", " ", None, " ", "s", "p", "q"])
    shown = []

    class ScriptedDisplay:
        def show(self, rgb):
            shown.append(rgb.shape)
            return next(keys, "q")

        def close(self):
            pass

    class Source(FlakySource):
        def read(self):
            time.sleep(0.02)
            return np.full((40, 60, 3), 90, np.uint8)

    loop = LiveLoop(Source(), Stylizer("othernet", strength=0.5), [], warn=lambda m: None)
    window = WindowSink(loop, ["othernet", "slownet", "testnet"], snapshot_dir=tmp_path, display=ScriptedDisplay())
    loop.add_sink(window)
    names, strengths, paused = [], [], []
    real_handle = window.handle_key

    def spy(key, image):
        real_handle(key, image)
        names.append(loop.engine.name)
        strengths.append(loop.engine.strength)
        paused.append(loop.paused)

    window.handle_key = spy
    stats = loop.run(duration=10)
    assert loop.stopped and stats.seconds < 9  # q ended it
    assert names[1] == "slownet" and names[-1] == "othernet"  # n, then p
    assert strengths[2] == 0.6 and strengths[4] == 0.4
    assert paused[5] and paused[6] and not paused[7]
    assert stats.paused >= 1 and len(list(tmp_path.glob("stylecam_*.png"))) == 1
    assert all(s == (40, 60, 3) for s in shown)


def test_style_switch_picks_the_new_nets_smoothing(tmp_path, monkeypatch):
    """With --smooth left to the style, n/p switch to the next net's own default: none
    for a temporally trained net, flow for the others; a chosen mode stays."""
    from conftest import build_test_model
    from stylecam.live import WindowSink
    from stylecam.temporal import FlowSmoothing, NoSmoothing

    build_test_model(tmp_path / "plainnet.onnx", name="plainnet")
    build_test_model(tmp_path / "steadynet.onnx", name="steadynet", temporal_weight=60.0)
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))

    class NoDisplay:
        def show(self, rgb):
            return None

        def close(self):
            pass

    loop = LiveLoop(FlakySource(), Stylizer("plainnet"), smooth=None, warn=lambda m: None)
    window = WindowSink(loop, ["plainnet", "steadynet"], display=NoDisplay())
    assert isinstance(loop.smoother, FlowSmoothing)
    window.handle_key("n", np.zeros((8, 8, 3), np.uint8))
    assert loop.engine.name == "steadynet" and isinstance(loop.smoother, NoSmoothing)
    window.handle_key("p", np.zeros((8, 8, 3), np.uint8))
    assert loop.engine.name == "plainnet" and isinstance(loop.smoother, FlowSmoothing)

    loop = LiveLoop(FlakySource(), Stylizer("plainnet"), smooth="flow", warn=lambda m: None)  # --smooth flow
    window = WindowSink(loop, ["plainnet", "steadynet"], display=NoDisplay())
    chosen = loop.smoother
    window.handle_key("n", np.zeros((8, 8, 3), np.uint8))
    assert loop.engine.name == "steadynet" and loop.smoother is chosen  # kept (and reset) across switches


def test_hotkey_style_switch_keeps_threads_and_precision(tmp_path, monkeypatch):
    """The engine that n builds runs like the first one: same thread count and precision
    (here fp32, although an int8 variant sits beside the next style's model)."""
    from conftest import build_test_model
    from stylecam.live import EngineOptions, LiveFrame, WindowSink

    build_test_model(tmp_path / "firstnet.onnx", name="firstnet")
    build_test_model(tmp_path / "nextnet.onnx", name="nextnet", seed=1)
    build_test_model(tmp_path / "nextnet.int8.onnx", name="nextnet", seed=2)  # what precision "auto" takes on CPU
    monkeypatch.setenv("STYLECAM_MODELS", str(tmp_path))
    keys = iter(["n"])

    class KeyDisplay:  # a window whose user presses n once
        def show(self, rgb):
            return next(keys, None)

        def close(self):
            pass

    def threads(engine):
        return engine.session.get_session_options().intra_op_num_threads

    own = defaults.threads_per_worker() + 1  # not what a live engine gets by default
    options = EngineOptions(device="cpu", threads=own, precision="fp32", preserve_color=True, max_megapixels=2.0)
    engine = options.build("firstnet", strength=0.7)
    loop = LiveLoop(FlakySource(), engine, engine_options=options, warn=lambda m: None)
    window = WindowSink(loop, ["firstnet", "nextnet"], display=KeyDisplay())
    image = np.zeros((8, 8, 3), np.uint8)
    window.write(image, LiveFrame(image, time.monotonic(), 0))
    switched = loop.engine
    assert switched.name == "nextnet" and switched is not engine
    assert threads(switched) == threads(engine) == own
    assert switched.model_path.name == "nextnet.onnx"
    assert switched.preserve_color and switched.max_megapixels == 2.0 and switched.strength == 0.7
    # the control: without the stored options the int8 file and the default threads would run
    default = EngineOptions(device="cpu").build("nextnet")
    assert default.model_path.name == "nextnet.int8.onnx" and threads(default) != own


def test_live_engine_shares_the_cores_among_its_workers(test_model):
    """On a CPU each inference worker's call gets its share of the cores (two calls on one
    pool of all cores wait for each other's threads at every layer); --threads still rules."""
    from stylecam.engine import available_devices
    from stylecam.live import EngineOptions

    def threads(engine):
        return engine.session.get_session_options().intra_op_num_threads

    share = defaults.threads_per_worker()
    cores = len(os.sched_getaffinity(0))
    assert share == max(1, cores // defaults.INFERENCE_WORKERS_CPU)
    assert threads(EngineOptions(device="cpu").build(test_model)) == share
    if available_devices() == ["cpu"]:  # auto runs on the CPU
        assert threads(EngineOptions(device="auto").build(test_model)) == share
    assert threads(EngineOptions(device="cpu", threads=3).build(test_model)) == 3
    assert threads(Stylizer(test_model, device="cpu")) == 0  # other jobs: onnxruntime's default pool


def test_live_options_from_the_command_line():
    from stylecam.cli import build_parser, live_options

    args = build_parser().parse_args(["--webcam", "2", "--threads", "3", "--quality", "best", "--device", "cpu",
                                      "--no-window", "--stream", "udp://127.0.0.1:9999", "--smooth-strength", "0.3"])
    options = live_options(args)
    assert options.webcam == 2 and options.input is None and not options.window
    assert options.engine.threads == 3 and options.engine.quality == "best" and options.engine.device == "cpu"
    assert options.smooth is None and options.smooth_strength == 0.3 and options.output is None


def test_no_display_is_a_clear_error(tmp_path, cli_env):
    from conftest import make_video

    clip = make_video(tmp_path / "c.mp4", frames=10)
    env = {k: v for k, v in cli_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = run_cli(clip, "--live", "--style", "testnet", "--duration", "1", env=env, timeout=60)
    assert r.returncode == 2 and "--no-window" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not Path("/usr/bin/Xvfb").exists(), reason="needs Xvfb (apt install xvfb)")
def test_preview_window_on_a_virtual_display(tmp_path, cli_env):
    from conftest import make_video

    display = ":%d" % (90 + free_port() % 100)
    xvfb = subprocess.Popen(["/usr/bin/Xvfb", display, "-screen", "0", "640x480x24"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        clip = make_video(tmp_path / "c.mp4", frames=24, fps=24)
        r = run_cli(clip, "--live", "--style", "testnet", "--duration", "2", "--json",
                    env=dict(cli_env, DISPLAY=display), timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["live"]["shown"] > 10
    finally:
        xvfb.terminate()


def live_stream_file(path: Path, frames: int, skip: int = 0, gop: int = 24, noise: bool = False) -> Path:
    """An H.264 MPEG-TS file as a live encoder sends it (zerolatency: no B-frames, one packet
    a frame), 320x240 at 25 fps, without the packets of its first `skip` frames."""
    from fractions import Fraction

    import av

    rng = np.random.default_rng(0)
    w, h, fps = 320, 240, 25
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop), "sc_threshold": "0"}
        for i in range(frames):
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else \
                np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx + yy) % 256], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                if i >= skip:
                    out.mux(packet)
        out.mux(stream.encode())
    return path


def test_a_stream_joined_between_two_keyframes_starts_at_the_next_one(tmp_path):
    """A live stream is usually joined mid-GOP; when the probe has not seen a keyframe, the
    decoder fails on the packets before the next one: those are skipped, not a lost source."""
    # noise: the frames before the second keyframe outgrow the live probe (256 KiB)
    path = live_stream_file(tmp_path / "joined.ts", 40, skip=6, gop=24, noise=True)  # joined after the first key
    src = StreamSource(str(path))  # not paced: opened like a live URL
    src.open()
    read = 0
    try:
        with pytest.raises(SourceLost, match="ended"):
            while True:
                assert src.read().shape == (240, 320, 3)
                read += 1
    finally:
        src.close()
    assert read == 40 - 24  # every frame from the second keyframe on


def test_a_live_source_holds_no_frame_back_in_the_decoder(tmp_path):
    """Each packet of a live stream comes out as its frame at once: frame-threaded decoding
    would hand a frame out only after one more packet per extra thread (latency nobody sees)."""
    src = StreamSource(str(live_stream_file(tmp_path / "live.ts", 12)))
    src.open()
    demuxed = []
    packets = src._packets

    def counting():
        for packet in packets:
            demuxed.append(packet.size)
            yield packet

    src._packets = counting()
    try:
        for n in range(1, 8):
            src.read()
            assert len(demuxed) == n, (n, len(demuxed))
    finally:
        src.close()


def test_work_size_governor_steps_down_only_while_the_output_falls_behind():
    from stylecam.live import WorkSizeGovernor

    def feed(governor, seconds, delivered_fps, shown_fps, start=(0.0, 0, 0), paused=0, latency=0.05):
        """Report one frame every 1/30 s for `seconds`, each shown `latency` s after its
        capture; the sizes the governor asked for."""
        t0, captured0, shown0 = start
        asked = []
        for i in range(1, int(seconds * 30) + 1):
            t = t0 + i / 30
            shown = shown0 + int((t - t0) * shown_fps)
            size = governor.observe(t, captured0 + int((t - t0) * delivered_fps), shown, paused, [latency] * shown)
            if size is not None:
                asked.append((round(t, 2), size))
        return asked

    keeping_up = WorkSizeGovernor(448, window=2.0, settle=0.5)
    assert feed(keeping_up, 20, 30, 28) == [] and keeping_up.size == 448 and not keeping_up.behind
    assert keeping_up.last_latency == pytest.approx(0.05)
    # every frame shown, but each one too late: the queue behind a net that only just keeps up
    late = WorkSizeGovernor(448, window=2.0, settle=0.5, max_latency=0.1)
    assert [size for _, size in feed(late, 5, 30, 30, latency=0.15)] == [384] and late.behind
    # one window behind (a busy moment) is not enough
    moment = WorkSizeGovernor(448, window=2.0, settle=0.0)
    assert feed(moment, 2.1, 30, 15) == [] and moment.behind
    assert feed(moment, 10, 30, 30, start=(2.1, 63, 31)) == [] and moment.size == 448 and not moment.behind
    slow_source = WorkSizeGovernor(448, window=2.0, settle=0.5)  # a dim webcam at 5 fps shows all it gets
    assert feed(slow_source, 20, 5, 5) == [] and slow_source.size == 448

    behind = WorkSizeGovernor(448, floor=256, step=64, window=2.0, settle=0.5)
    asked = feed(behind, 20, 30, 20)
    # one step per two windows behind, each after the settle time at the new size
    assert [size for _, size in asked] == [384, 320, 256]
    assert asked[0][0] == pytest.approx(4.5, abs=0.05) and asked[1][0] - asked[0][0] == pytest.approx(4.5, abs=0.05)
    assert behind.size == 256 and behind.behind  # at the floor: still behind, and stays there
    assert behind.last_rates == pytest.approx((30, 20), abs=1)

    # frames sent frozen while paused say nothing of the net: the window starts again
    paused = WorkSizeGovernor(448, window=2.0, settle=0.0)
    assert feed(paused, 1.5, 30, 0) == []
    assert feed(paused, 1.5, 30, 0, start=(1.5, 45, 0), paused=40) == []  # 3 s behind, but a pause came in between
    assert paused.size == 448


def test_work_size_governor_chooses_the_start_size_from_the_cpu_left_at_the_floor():
    from stylecam.live import WorkSizeGovernor

    def start(share, net_ms, fps=30.0, seconds=3.0, **kw):
        """A session at the floor on 2 cores: the process using `share` of them, the net
        `net_ms` of CPU per frame, every frame shown; the sizes the governor asked for."""
        governor = WorkSizeGovernor(256, choose_up_to=448, cores=2, settle=0.5, probe=1.0, **kw)
        asked, net_cpu = [], []
        for i in range(1, int(seconds * fps) + 1):
            t = i / fps
            net_cpu.append(net_ms / 1000)
            size = governor.observe(t, i, i, 0, [0.05] * i, share * 2 * t, net_cpu)
            if size is not None:
                asked.append((round(t, 2), size))
        return governor, asked

    # room to spare: up to the default at once, one second after the settle time
    roomy, asked = start(0.30, 8.0)  # predicted at 448: 0.30 + 30 * 0.008 * (3.06 - 1) / 2 = 0.55
    assert asked == [(pytest.approx(1.5, abs=0.05), 448)] and roomy.size == 448 and roomy.choose_up_to is None
    assert roomy.probed == pytest.approx((0.30, 0.008), rel=0.05)
    # the largest size predicted within the budget: 320 (0.67), not 384 (0.88)
    assert [size for _, size in start(0.50, 20.3)[1]] == [320]
    # no size above the floor fits: it stays there, and is governed as any session from then on
    tight, asked = start(0.64, 17.7)  # 320 would be 0.79
    assert asked == [] and tight.size == 256 and tight.choose_up_to is None
    # a budget of the caller's own
    assert [size for _, size in start(0.64, 17.7, cpu_budget=0.8)[1]] == [320]
    # a slow source: the choice waits for enough frames to judge by (10 after the window
    # opened with the first report past the settle time, 0.8 s: two seconds at 5 fps)
    slow, asked = start(0.10, 8.0, fps=5.0, seconds=5.0)
    assert [size for _, size in asked] == [448] and asked[0][0] == pytest.approx(2.8, abs=0.05)

    # after the choice the size only goes down, as without it
    chosen, _ = start(0.30, 8.0)
    t, captured, shown = 3.0, 90, 90
    for i in range(1, 600):  # 20 s showing two frames in three
        t += 1 / 30
        captured += 1
        shown += i % 3 != 0
        chosen.observe(t, captured, shown, 0, [0.05] * shown, 0.6 * 2 * t, [0.008] * shown)
    assert chosen.size == 256


def test_live_session_paints_smaller_while_it_falls_behind(test_model):
    """A net too slow for the source at the default work size: the session lowers the size
    step by step until it keeps up, says so, and reports the figures at the last size; a
    size the user chose stays."""
    from stylecam.live import EngineOptions, WorkSizeGovernor

    class Paced:  # a 640x360 source at 25 fps
        name = "paced"

        def open(self):
            self.next = time.monotonic()

        def read(self):
            self.next += 0.04
            time.sleep(max(0.0, self.next - time.monotonic()))
            return np.full((360, 640, 3), 120, np.uint8)

        def close(self):
            pass

    def slow_at_large_sizes(engine, sizes):
        """The net's cost grows with the pixels it paints: 0.14 s a frame at 448 px (two
        workers: 14 fps), 0.10 s at 384 px (19 fps), 0.071 s at 320 px (28 fps)."""
        real = engine.paint_batch

        def paint_batch(frames, cancel=None):
            sizes.append(engine.work_size)
            time.sleep(0.14 * (engine.work_size / 448) ** 2)
            return real(frames, cancel)

        engine.paint_batch = paint_batch
        return engine

    sizes, messages = [], []
    engine = slow_at_large_sizes(EngineOptions(device="cpu").build(test_model), sizes)
    assert engine.work_size == defaults.WORK_SIZE_CPU == 448
    loop = LiveLoop(Paced(), engine, [Collect()], warn=messages.append,
                    adapt_work_size=WorkSizeGovernor(448, floor=256, step=64, window=0.5, settle=0.2, patience=1))
    stats = loop.run(duration=4.5)
    assert sizes[0] == 448 and 384 in sizes and 320 in sizes and sizes == sorted(sizes, reverse=True), sizes
    assert loop.work_size in (320, 256)
    assert any("it paints at 384 px from now on" in m for m in messages), messages
    summary = stats.summary()
    assert [(c["from"], c["to"]) for c in summary["work_size_changes"]][:2] == [(448, 384), (384, 320)]
    settled = summary["settled"]
    assert settled["shown"] > 0 and settled["fps"] > summary["fps"] * 0.9  # caught up at the last size

    # a work size of the user's own is kept, however far behind
    sizes, messages = [], []
    options = EngineOptions(device="cpu", work_size=448)
    engine = slow_at_large_sizes(options.build(test_model), sizes)
    loop = LiveLoop(Paced(), engine, [Collect()], warn=messages.append, engine_options=options)
    stats = loop.run(duration=2.0)
    assert set(sizes) == {448} and not stats.work_size_changes and loop.work_size == 448
    assert "settled" not in stats.summary() and not messages

    # the default: it starts at the floor and, with the cores to spare (a tiny net), chooses
    # the default size after its first second, without a word
    sizes, messages = [], []
    engine = EngineOptions(device="cpu").build(test_model)
    real = engine.paint_batch

    def recording(frames, cancel=None):
        sizes.append(engine.work_size)
        return real(frames, cancel)

    engine.paint_batch = recording
    loop = LiveLoop(Paced(), engine, [Collect()], warn=messages.append)
    stats = loop.run(duration=2.5)
    assert sizes[0] == defaults.LIVE_MIN_WORK_SIZE and loop.work_size == 448 and set(sizes) == {256, 448}, sizes
    assert [(c.before, c.size) for c in stats.work_size_changes] == [(256, 448)] and not messages
    choice = stats.summary()["work_size_choice"]
    assert (choice["started_at"], choice["chose"], choice["up_to"]) == (256, 448, 448)
    assert 0 < choice["cpu_share"] < defaults.LIVE_CPU_BUDGET and choice["net_cpu_ms"] > 0
    assert len(stats.inference_cpu) == len(stats.inference) and all(c >= 0 for c in stats.inference_cpu)

    # a style switch builds its engine at the default size again: it paints at the governor's
    sizes = []
    loop = LiveLoop(Paced(), EngineOptions(device="cpu").build(test_model), [Collect()], warn=messages.append,
                    adapt_work_size=WorkSizeGovernor(320))
    loop.switch_style(str(test_model))
    assert loop.engine.work_size == 448
    slow_at_large_sizes(loop.engine, sizes)
    loop.run(duration=0.5)
    assert sizes and set(sizes) == {320}

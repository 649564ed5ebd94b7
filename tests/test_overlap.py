"""Stages that overlap: the net paints frame N+1 while frame N is brought back to its size
(guided upsampling), smoothed and written, in file and live jobs."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from stylecam import Stylizer
from stylecam.io.frames import Frame
from stylecam.live import LiveLoop
from stylecam.pipeline import stylize_stream


def rand_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_paint_then_finish_is_stylize(test_model):
    engine = Stylizer(test_model, device="cpu", work_size=64, strength=0.8, preserve_color=True)
    frames = [rand_frame(90, 120, s) for s in range(3)] + [rand_frame(40, 50, 7)]
    painted = engine.paint_batch(frames)
    assert [p.small.shape for p in painted] == [(48, 64, 3)] * 3 + [(40, 50, 3)]
    assert painted[3].small is frames[3]  # no larger than the work size: painted as it is
    assert all(p.frame is f and p.styled.dtype == np.float32 for p, f in zip(painted, frames))
    for p, whole in zip(painted, engine.stylize_batch(frames)):
        assert np.array_equal(engine.finish(p), whole)


def test_finish_applies_the_strength_set_at_finish_time(test_model):
    """A live hotkey may change the strength after a frame was painted: that frame gets it."""
    engine = Stylizer(test_model, device="cpu", work_size=64)
    frame = rand_frame(90, 120)
    painted = engine.paint_batch([frame])[0]
    engine.strength = 0.0
    assert np.array_equal(engine.finish(painted), frame)


class OverlapProbe:
    """Wraps an engine: the finish of the first frame waits (up to 5 s) for the paint of a
    later frame to start, which only happens when the two run on different threads; it
    records where each finish and upsampling ran."""

    def __init__(self, engine: Stylizer, monkeypatch: pytest.MonkeyPatch):
        from stylecam import upsample

        self.engine = engine
        self.paints = 0
        self.second_paint = threading.Event()
        self.overlapped: bool | None = None
        self.finish_threads: set[str] = set()
        self.paint_threads: set[str] = set()
        self.upsample_threads: set[str] = set()
        real_paint, real_finish, real_upsample = engine.paint_batch, engine.finish, upsample.guided_upsample

        def paint_batch(frames, cancel=None):
            self.paint_threads.add(threading.current_thread().name)
            self.paints += 1
            if self.paints >= 2:
                self.second_paint.set()
            return real_paint(frames, cancel)

        def finish(painted, smoother=None):
            self.finish_threads.add(threading.current_thread().name)
            if self.overlapped is None:
                self.overlapped = self.second_paint.wait(5)
            return real_finish(painted, smoother)

        def guided_upsample(*args, **kwargs):
            self.upsample_threads.add(threading.current_thread().name)
            return real_upsample(*args, **kwargs)

        engine.paint_batch, engine.finish = paint_batch, finish  # type: ignore[method-assign]
        monkeypatch.setattr(upsample, "guided_upsample", guided_upsample)


def test_file_jobs_upsample_frame_n_while_the_net_paints_n_plus_1(test_model, monkeypatch):
    engine = Stylizer(test_model, device="cpu", work_size=64)
    probe = OverlapProbe(engine, monkeypatch)
    frames = [Frame(rand_frame(90, 120, i), i, i, i / 10) for i in range(6)]
    written: list[Frame] = []
    stats = stylize_stream(iter(frames), engine, written.append)
    assert stats.frames == 6 and [f.index for f in written] == list(range(6))
    assert probe.overlapped, "the first frame's upsampling waited for the second frame's paint in vain"
    assert probe.paint_threads <= {"stylecam-inference", "stylecam-inference-2"}
    assert probe.finish_threads == probe.upsample_threads == {"stylecam-writer"}
    reference = Stylizer(test_model, device="cpu", work_size=64)
    assert all(np.array_equal(w.image, reference.stylize(f.image)) for w, f in zip(written, frames))


@pytest.mark.parametrize("batch", [1, 3])
def test_file_jobs_paint_two_batches_at_once_on_a_cpu_and_write_them_in_order(test_model, batch):
    """The two inference workers of a CPU run their calls side by side (each first call waits
    for the other to start), and a batch that finishes early still waits for its turn."""
    engine = Stylizer(test_model, device="cpu")
    real = engine.paint_batch
    both = threading.Barrier(2, timeout=5)
    calls: list[str] = []

    def paint_batch(frames, cancel=None):
        name = threading.current_thread().name
        if name not in calls:
            calls.append(name)
            both.wait()  # raises BrokenBarrierError unless the other worker paints meanwhile
            if name == calls[0]:
                time.sleep(0.05)  # the first batch finishes last
        return real(frames, cancel)

    engine.paint_batch = paint_batch  # type: ignore[method-assign]
    frames = [Frame(rand_frame(40, 56, i), i, i, i / 10) for i in range(10)]
    written: list[Frame] = []
    stats = stylize_stream(iter(frames), engine, written.append, batch=batch)
    assert sorted(calls) == ["stylecam-inference", "stylecam-inference-2"]
    assert stats.frames == 10 and [f.index for f in written] == list(range(10))
    reference = Stylizer(test_model, device="cpu")
    assert all(np.array_equal(w.image, reference.stylize(f.image)) for w, f in zip(written, frames))


class Camera:
    """A live source: a new frame every 10 ms."""

    name = "camera"

    def open(self):
        pass

    def read(self):
        time.sleep(0.01)
        return rand_frame(90, 120)

    def close(self):
        pass


class Collect:
    def __init__(self):
        self.images = []
        self.threads = set()

    def write(self, image, frame):
        self.images.append(image.shape)
        self.threads.add(threading.current_thread().name)

    def close(self):
        pass


def test_live_upsamples_and_writes_frame_n_while_the_net_paints_n_plus_1(test_model, monkeypatch):
    engine = Stylizer(test_model, device="cpu", work_size=64)
    probe = OverlapProbe(engine, monkeypatch)
    sink = Collect()
    loop = LiveLoop(Camera(), engine, [sink], warn=lambda m: None)
    stats = loop.run(duration=1.5)
    assert probe.overlapped, "the output stage waited for the next frame's paint in vain"
    here = threading.current_thread().name  # the output stage runs where run() was called (the window's thread)
    assert loop.workers == 2 and probe.paint_threads == {"stylecam-inference", "stylecam-inference-2"}
    assert probe.finish_threads == probe.upsample_threads == sink.threads == {here}
    assert stats.shown >= 3 and all(s == (90, 120, 3) for s in sink.images)
    assert stats.captured == stats.shown + stats.dropped + stats.in_flight and stats.in_flight <= loop.workers + 1
    assert len(stats.inference) >= stats.shown


def test_a_failing_sink_ends_the_live_loop_with_its_error(test_model):
    class Broken(Collect):
        def write(self, image, frame):
            raise OSError("the receiver went away")

    loop = LiveLoop(Camera(), Stylizer(test_model, device="cpu"), [Broken()], warn=lambda m: None)
    started = time.monotonic()
    with pytest.raises(OSError, match="receiver went away"):
        loop.run(duration=10)
    assert time.monotonic() - started < 5 and loop.stopped


def test_an_inference_error_ends_the_live_loop_with_its_error(test_model):
    from stylecam import StylecamError

    engine = Stylizer(test_model, device="cpu")

    def broken(frames, cancel=None):
        raise StylecamError("the net fails on this frame")

    engine.paint_batch = broken  # type: ignore[method-assign]
    loop = LiveLoop(Camera(), engine, [Collect()], warn=lambda m: None)
    started = time.monotonic()
    with pytest.raises(StylecamError, match="fails on this frame"):
        loop.run(duration=10)
    assert time.monotonic() - started < 5


def test_live_paints_the_newest_frame_once_the_output_stage_takes_the_last(test_model):
    """When the output stage is the slow one, the inference workers wait for it before they
    take a frame, so a shown frame waited for at most one output before its own: latency
    about two outputs, not three (a frame painted ahead and held back would be staler)."""

    class SlowSink(Collect):
        def write(self, image, frame):
            time.sleep(0.25)
            super().write(image, frame)

    loop = LiveLoop(Camera(), Stylizer(test_model, device="cpu"), [SlowSink()], warn=lambda m: None)
    stats = loop.run(duration=3)
    latencies = sorted(stats.latencies[2:])  # after the start
    assert len(latencies) >= 4
    assert latencies[len(latencies) // 2] < 2.5 * 0.25, latencies


def test_live_workers_show_frames_in_capture_order(test_model):
    """Two workers paint side by side and one may finish a later frame first: the output
    stage still shows frames in the order they were captured, and drops an overtaken one."""
    import random

    engine = Stylizer(test_model, device="cpu")
    real = engine.paint_batch
    rng = random.Random(7)

    def uneven(frames, cancel=None):  # some frames take four times as long as others
        time.sleep(rng.choice([0.005, 0.02]))
        return real(frames, cancel)

    engine.paint_batch = uneven  # type: ignore[method-assign]

    class Indices(Collect):
        def __init__(self):
            super().__init__()
            self.indices = []

        def write(self, image, frame):
            self.indices.append(frame.index)

    sink = Indices()
    loop = LiveLoop(Camera(), engine, [sink], warn=lambda m: None)
    stats = loop.run(duration=1.5)
    assert loop.workers == 2 and len(sink.indices) >= 20
    assert all(a < b for a, b in zip(sink.indices, sink.indices[1:])), sink.indices
    assert stats.captured == stats.shown + stats.dropped + stats.in_flight

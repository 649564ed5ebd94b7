"""Stages that overlap: the net paints frame N+1 while frame N is brought back to its size
(guided upsampling), smoothed and written."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from stylecam import Stylizer
from stylecam.io.frames import Frame
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

        def finish(painted):
            self.finish_threads.add(threading.current_thread().name)
            if self.overlapped is None:
                self.overlapped = self.second_paint.wait(5)
            return real_finish(painted)

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
    assert probe.paint_threads == {"stylecam-inference"}
    assert probe.finish_threads == probe.upsample_threads == {"stylecam-writer"}
    reference = Stylizer(test_model, device="cpu", work_size=64)
    assert all(np.array_equal(w.image, reference.stylize(f.image)) for w, f in zip(written, frames))

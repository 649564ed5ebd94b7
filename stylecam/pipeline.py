"""Threads and bounded queues: reader -> inference (batches) -> writer.

The inference workers run the net (`Stylizer.paint_batch`), two batches side by side on a
CPU (`defaults.inference_workers`) while the writer waits for frames; the writer thread
takes the batches in order, smooths each painted frame and brings it back to its size
(`Stylizer.finish`: smoothing at the size the net painted, then the guided upsampling of a
frame painted at a work size) and encodes it, so that work overlaps the net painting the
next frames.

The only module that knows about the threads of a file job (the live loop has its own, the
same three stages with newest-frame-wins). Offline runs keep every frame in order with
back-pressure; errors in any stage and Ctrl+C end all stages through one path
(`_Stages.stop`), and the caller decides what happens to partial output.

The threads under these stages, sized together for a small CPU: onnxruntime's intra-op
threads are the engine's (the command line gives a video job's calls their share of the
cores, `defaults.threads_per_worker`; by default one pool of all cores shared by the two
calls), and they do not spin
(`engine.session_options`), so while the writer upsamples and encodes, or the reader
decodes, the cores go to that work instead of idle workers polling. FFmpeg picks its own
decoder and x264 threads (frame threads for files; live sources decode with slice threads,
which hold no frame back), OpenCV's pool (one thread per core) splits the upsampling's
resizes and filters and waits only briefly before it sleeps, and numpy runs on the calling
thread. None of them is pinned: the stages share the cores as their work comes. The
command line also keeps freed frame buffers in the heap for the next frame (`allocator`).
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import defaults, signals
from .engine import Cancel, Stylizer, first_device
from .io.frames import Frame
from .temporal import Smoother

_END = object()
INFERENCE_THREAD = "stylecam-inference"


def inference_thread_name(worker: int) -> str:
    """The name of inference worker `worker` (0, 1, ...) of a file or live job."""
    return INFERENCE_THREAD if worker == 0 else f"{INFERENCE_THREAD}-{worker + 1}"


def worker_threads(device: str, threads: int | None = None) -> int | None:
    """onnxruntime intra-op threads per call of an engine for a video or live job, whose
    inference workers paint side by side: `threads` when given, else on a CPU each worker's
    share of the cores (`defaults.threads_per_worker`), else None (the provider's own)."""
    if threads:
        return threads
    return defaults.threads_per_worker() if first_device(device) == "cpu" else None


@dataclass
class RunStats:
    frames: int = 0
    seconds: float = 0.0
    inference_seconds: float = 0.0
    batches: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def inference_fps(self) -> float:
        return self.frames / self.inference_seconds if self.inference_seconds > 0 else 0.0


class Progress:
    """Frames, fps and ETA on stderr; silent when stderr is not a terminal or when quiet."""

    def __init__(self, total: int | None, desc: str, enabled: bool | None = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total or None, desc=desc, unit="frame", dynamic_ncols=True, leave=False,
                            smoothing=0.1)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Stages:
    """Shared stop flag and first error of a set of worker threads."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.interrupted_at: float | None = None  # when a signal (KeyboardInterrupt) stopped the run
        self.lock = threading.Lock()

    def stop(self, error: BaseException | None = None) -> None:
        with self.lock:
            if error is not None and self.error is None:
                self.error = error
            if isinstance(error, KeyboardInterrupt) and self.interrupted_at is None:
                self.interrupted_at = time.monotonic()
        self.stopped.set()

    def put(self, q: queue.Queue, item: Any) -> bool:
        """Blocking put that gives up when the run is stopped."""
        while not self.stopped.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> Any:
        while not self.stopped.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def thread(self, target: Callable[[], None], name: str) -> threading.Event:
        """Run `target` on a worker thread; the returned event is set when it has ended."""
        ended = threading.Event()

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self.stop(exc)
            finally:
                ended.set()

        threading.Thread(target=run, name=name, daemon=True).start()
        return ended

    def wait_for(self, ended: list[threading.Event], inference: Sequence[threading.Event] = (),
                 cancel: Cancel | None = None) -> None:
        """Wait until every worker has ended. Not Thread.join: a join that a signal
        interrupts marks the thread as ended while it still runs (Python 3.11), and a
        worker left inside onnxruntime at exit aborts the process.

        Once the run stopped with an error or a signal, `cancel` stops the `inference`
        workers' calls at the net's next layer. After a signal those workers are waited for at
        most signals.GRACE seconds and then left behind: one layer of a large image can take
        many seconds, the process is about to end, and the command line ends it without the
        interpreter's shutdown while such a thread runs (stylecam.__main__)."""
        for event in ended:
            self._wait(event, cancel)
        for event in inference:
            self._wait(event, cancel, may_leave=True)

    def _wait(self, event: threading.Event, cancel: Cancel | None, may_leave: bool = False) -> None:
        while not event.is_set():
            if self.error is not None and cancel is not None:
                cancel.cancel()
            since = self.interrupted_at
            if may_leave and since is not None and time.monotonic() - since > signals.GRACE:
                return
            try:
                event.wait(0.05)
            except KeyboardInterrupt as exc:  # the job ends, once the workers have
                self.stop(exc)


def stylize_stream(frames: Iterable[Frame], engine: Stylizer, write: Callable[[Frame], None],
                   batch: int = 1, smoother: Smoother | None = None, progress: Progress | None = None,
                   queue_size: int = 0, workers: int | None = None) -> RunStats:
    """Offline: stylize every frame in order, overlapping decode, inference and encode.

    `workers` inference threads paint batches side by side (default:
    `defaults.inference_workers` for the engine's device); the writer puts their frames back
    in order. `write` runs on the writer thread. Raises the first error of any stage; on
    Ctrl+C raises KeyboardInterrupt after the stages have stopped.
    """
    if batch < 1:
        raise ValueError("batch must be >= 1")
    workers = workers or defaults.inference_workers(engine.device)
    stages = _Stages()
    size = queue_size or max(4, 2 * batch * workers)
    decoded: queue.Queue = queue.Queue(maxsize=size)
    styled: queue.Queue = queue.Queue(maxsize=size)
    stats = RunStats()
    cancel = Cancel()
    started = time.perf_counter()
    taking = threading.Lock()  # one worker at a time takes a batch, so batches are numbered in order
    taken = {"batches": 0, "end": False}
    busy = _BusyClock()

    def read() -> None:
        for frame in frames:
            if not stages.put(decoded, frame):
                return
        stages.put(decoded, _END)

    def infer() -> None:
        while not stages.stopped.is_set():
            # While another worker paints, take a batch only when the writer waits for frames:
            # side by side while the net is the slow stage, one at a time while the writer is
            # (two calls would only take CPU from its upsampling and encoding).
            if busy.running and not styled.empty():
                time.sleep(0.002)
                continue
            with taking:
                if taken["end"]:
                    break
                group: list[Frame] = []
                item = stages.get(decoded)
                while item is not _END:
                    group.append(item)
                    if len(group) == batch:
                        break
                    item = stages.get(decoded)
                taken["end"] = item is _END
                number = taken["batches"]
                taken["batches"] += bool(group)
            if group:
                with busy:
                    painted = engine.paint_batch([f.image for f in group], cancel)
                if not stages.put(styled, (number, group, painted)):
                    return
        stages.put(styled, _END)  # one per worker

    def write_all() -> None:
        ended, next_batch, waiting = 0, 0, {}
        while ended < workers:
            item = stages.get(styled)
            if item is _END:
                ended += 1
                continue
            number, group, painted = item
            waiting[number] = zip(group, painted)
            while next_batch in waiting:  # the batches in the order they were taken
                stats.batches += 1
                for f, p in waiting.pop(next_batch):
                    # here, so that it overlaps the next inference: the smoothing and the upsampling
                    # of a frame the net painted at a work size (Stylizer.finish), and the encoding
                    out = engine.finish(p, smoother)
                    write(Frame(out, f.index, f.pts, f.time))
                    stats.frames += 1
                    if progress is not None:
                        progress.update()
                next_batch += 1
        stages.stop()

    with signals.protected():  # a signal now would leave running workers nobody waits for
        reader, writer = stages.thread(read, "stylecam-reader"), stages.thread(write_all, "stylecam-writer")
        inference = [stages.thread(infer, inference_thread_name(w)) for w in range(workers)]
    try:
        while not stages.stopped.wait(0.2):
            pass
    except KeyboardInterrupt as exc:  # Ctrl+C, or TERM/HUP as stylecam.signals.Terminated
        stages.stop(exc)
    stages.wait_for([reader, writer], inference, cancel)
    stats.seconds = time.perf_counter() - started
    stats.inference_seconds = busy.seconds
    if progress is not None:
        progress.close()
    if stages.error is not None:
        raise stages.error
    return stats


class _BusyClock:
    """Wall time during which at least one inference call runs (`with clock:` around each)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.since = 0.0
        self.seconds = 0.0

    def __enter__(self) -> None:
        with self.lock:
            if self.running == 0:
                self.since = time.perf_counter()
            self.running += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1
            if self.running == 0:
                self.seconds += time.perf_counter() - self.since


def stylize_frames(engine: Stylizer, images: list[np.ndarray]) -> list[np.ndarray]:
    """`engine.stylize_batch(images)` on a worker thread, so that a signal ends the job
    within a moment even while one inference call runs for many seconds (a large image,
    a full net on a CPU): the call is cancelled and, if it has not ended after
    signals.GRACE seconds, left behind (see `signals.interruptible`)."""
    cancel = Cancel()
    return signals.interruptible(lambda: engine.stylize_batch(images, cancel), INFERENCE_THREAD, cancel.cancel)

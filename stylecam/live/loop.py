"""The live loop: a capture thread, inference workers with newest-frame-wins, and the
output stage, feeding every sink.

Policy: the capture thread keeps only the newest frame in a one-slot mailbox (older ones
are dropped and counted), so when inference is slower than the source, latency stays at
about one inference plus one frame interval instead of growing. Each inference worker (two
on a CPU, painting side by side while the net is the slower stage; see `_Painted`) paints
the newest frame (at the engine's work size; an engine built from `EngineOptions` on a CPU
gives each worker's call its share of the cores) and hands it over in a slot of its own; the
output stage, on the thread that runs the loop, takes them in capture order, smooths each
and brings it back to the frame's size, and writes it to the sinks while the next frames are
painted (a frame that a later one overtook is dropped and counted with the stale ones). A
source that fails is reopened with backoff; the loop resumes when it returns. The loop
owns the engine and the smoother, so switching styles (a window hotkey) happens here,
between two frames: within a multi-style net the style weights fade from the old style to
the new one. Between two styles that a multi-style net holds beside their own nets (the
bundled blend net), the fade runs in that net while the new style's own net loads on a
thread, and the loop moves to it when both are done. Otherwise it cuts.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .. import defaults, signals, styles
from ..engine import Cancel, Cancelled, Painted, Stylizer, WorkSize
from ..errors import StylecamError
from ..pipeline import inference_thread_name, worker_threads
from ..temporal import make_smoother
from .governor import WorkSizeGovernor
from .sinks import Sink
from .sources import LiveFrame, LiveSource, SourceLost


@dataclass(frozen=True)
class EngineOptions:
    """How every engine of a session is built; a style switch keeps all of it."""

    device: str = "auto"
    quality: Literal["auto", "best", "fast"] = "auto"
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    threads: int | None = None
    preserve_color: bool = False
    max_megapixels: float | None = None
    work_size: WorkSize = "auto"

    @classmethod
    def like(cls, engine: Stylizer) -> EngineOptions:
        """The options an engine made elsewhere still tells (not its threads or precision)."""
        return cls(device=engine.device_requested, quality=engine.quality_requested,
                   preserve_color=engine.preserve_color, max_megapixels=engine.max_megapixels,
                   work_size=engine.work_size_requested)

    def build(self, style: str | os.PathLike[str] | Mapping[str, float], strength: float = 1.0) -> Stylizer:
        """The engine; on a CPU, without `threads`, each inference worker's call gets its share
        of the cores (`pipeline.worker_threads`)."""
        return Stylizer(style, device=self.device, strength=strength, preserve_color=self.preserve_color,
                        threads=worker_threads(self.device, self.threads), precision=self.precision,
                        quality=self.quality, max_megapixels=self.max_megapixels, work_size=self.work_size)


class _Build:
    """An engine built on a thread of its own (loading a net takes a moment; frames go on)."""

    def __init__(self, build: Callable[[], Stylizer]):
        self.engine: Stylizer | None = None
        self.error: str = ""
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(build,), name="stylecam-engine-load", daemon=True).start()

    def _run(self, build: Callable[[], Stylizer]) -> None:
        try:
            self.engine = build()
        except Exception as exc:  # told by the loop, which then keeps the engine it has
            self.error = str(exc)
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()


@dataclass
class WorkSizeChange:
    """The session's net started painting at `size` px instead of `before`, `seconds` after
    the session began, when `shown` frames had been shown and `painted` painted."""

    seconds: float
    before: int
    size: int
    shown: int
    painted: int


@dataclass
class LiveStats:
    captured: int = 0
    shown: int = 0
    dropped: int = 0  # captured frames replaced by a newer one before inference took them or showed them
    reconnects: int = 0
    paused: int = 0  # frames that arrived while paused (the frozen picture was sent instead)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # capture -> all sinks written, s
    inference: list[float] = field(default_factory=list)  # s per frame
    inference_cpu: list[float] = field(default_factory=list)  # CPU s per frame, the net's threads together
    in_flight: int = 0  # captured - shown - dropped at the end: frames still in the mailbox or in inference
    workers: int = 1  # inference workers painting frames side by side
    work_size_changes: list[WorkSizeChange] = field(default_factory=list)
    # the start-up choice of the work size (`stylecam.live.governor`): what it measured at the
    # size it started at, and the size it chose
    work_size_choice: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The session's figures; where the work size changed, also those of the frames shown
        at the last size (`settled`), the session as it runs from then on."""
        out: dict[str, Any] = {
            "captured": self.captured, "shown": self.shown, "dropped": self.dropped, "reconnects": self.reconnects,
            "paused": self.paused, "seconds": round(self.seconds, 3),
            **_rates(self.shown, self.seconds, self.latencies, self.inference),
            "in_flight": self.in_flight, "workers": self.workers}
        if self.work_size_choice is not None:
            out["work_size_choice"] = self.work_size_choice
        if self.work_size_changes:
            last = self.work_size_changes[-1]
            out["work_size_changes"] = [{"seconds": round(c.seconds, 3), "from": c.before, "to": c.size}
                                        for c in self.work_size_changes]
            seconds = self.seconds - last.seconds
            out["settled"] = {"seconds": round(seconds, 3), "shown": self.shown - last.shown,
                              **_rates(self.shown - last.shown, seconds, self.latencies[last.shown:],
                                       self.inference[last.painted:])}
        return out


def _rates(shown: int, seconds: float, latencies: list[float], inference: list[float]) -> dict[str, float]:
    lat = np.array(latencies or [0.0]) * 1000
    inf = np.array(inference or [0.0]) * 1000
    return {"fps": round(shown / seconds, 2) if seconds > 0 else 0.0,
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            "inference_ms_mean": round(float(inf.mean()), 1)}


def _default_governor(work_size: int) -> WorkSizeGovernor:
    """A session at the default work size: it starts at the governor's floor and chooses its
    size, up to the default, after the first second (`stylecam.live.governor`)."""
    floor = min(work_size, defaults.LIVE_MIN_WORK_SIZE)
    return WorkSizeGovernor(floor, choose_up_to=work_size if work_size > floor else None)


class _Mailbox:
    """One slot: put replaces (and counts) an unread frame; get waits for a new one."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.item: LiveFrame | None = None
        self.dropped = 0

    def put(self, item: LiveFrame) -> None:
        with self.cond:
            if self.item is not None:
                self.dropped += 1
            self.item = item
            self.cond.notify()

    def get(self, timeout: float) -> LiveFrame | None:
        with self.cond:
            if self.item is None:
                self.cond.wait(timeout)
            item, self.item = self.item, None
            return item


class _Painted:
    """Painted frames handed from the inference workers to the output stage, one slot per
    worker, and the rule for when a worker may take the newest frame: when no painted frame
    waits for the output stage (it would only grow staler while a newer one is painted), and,
    while another worker paints, only when painting a frame takes longer than the output
    stage's work on one. So the workers paint side by side while the net is the slow stage,
    and one at a time while the output stage is. The output stage takes the earliest-captured
    frame that is ready."""

    def __init__(self, workers: int) -> None:
        self.cond = threading.Condition()
        self.items: list[Any] = [None] * workers
        self.painting = 0  # workers that took a frame and have not handed it over
        self.seconds = {"paint": 0.0, "output": 0.0}  # running means of each stage's time per frame

    def claim(self, timeout: float) -> bool:
        """Wait (up to `timeout` s) until this worker may take a frame; True = it may (then
        `put` or `release` follows)."""
        with self.cond:
            ok = self.cond.wait_for(lambda: all(i is None for i in self.items) and (
                self.painting == 0 or self.seconds["output"] < self.seconds["paint"]), timeout)
            if ok:
                self.painting += 1
            return ok

    def timed(self, stage: str, seconds: float) -> None:
        """One frame's time in a stage ("paint" or "output")."""
        with self.cond:
            mean = self.seconds[stage]
            self.seconds[stage] = seconds if mean == 0 else 0.8 * mean + 0.2 * seconds

    def release(self) -> None:
        """A claim that found no frame to paint."""
        with self.cond:
            self.painting -= 1
            self.cond.notify_all()

    def put(self, worker: int, item: Any) -> None:
        with self.cond:
            self.items[worker] = item
            self.painting -= 1
            self.cond.notify_all()

    def get(self, timeout: float) -> Any:
        """The ready item of the earliest frame, or None after `timeout` seconds without one."""
        with self.cond:
            self.cond.wait_for(lambda: any(i is not None for i in self.items), timeout)
            ready = [w for w, i in enumerate(self.items) if i is not None]
            if not ready:
                return None
            worker = min(ready, key=lambda w: _frame_of(self.items[w]).index)
            item, self.items[worker] = self.items[worker], None
            self.cond.notify_all()
            return item


@dataclass
class _PaintedFrame:
    """A frame the inference thread painted, for the output stage."""

    engine: Stylizer  # the engine that painted it (a style switch may replace the loop's since)
    painted: Painted
    frame: LiveFrame


def _frame_of(item: _PaintedFrame | LiveFrame) -> LiveFrame:
    return item.frame if isinstance(item, _PaintedFrame) else item


class LiveLoop:
    """Capture thread + inference workers + output stage (on the thread that calls `run`):
    each output goes to every sink in turn; `stop()` ends the loop from any thread
    (hotkey, signal, duration).

    `smooth` is a temporal smoothing mode, or None for each style's own default (a net
    trained to be steady needs none, others get flow), chosen again at every switch.
    Style switches build the new engine with `engine_options` (default: what the given
    engine tells of itself), or fade over `fade_seconds` where the running net holds the
    next style (0 = always cut).

    `workers` inference threads paint frames side by side (default:
    `defaults.inference_workers` for the engine's device, two on a CPU).

    `adapt_work_size` lets the session paint smaller while its output falls behind the
    source (`stylecam.live.governor`); by default it does where the work size is the
    device's default and not the frame's own size (a CPU without --work-size). A
    `WorkSizeGovernor` given here is used as it is (its `size` is where the session starts).
    """

    def __init__(self, source: LiveSource, engine: Stylizer, sinks: Iterable[Sink] = (), *,
                 smooth: str | None = "none", smooth_strength: float | None = None,
                 engine_options: EngineOptions | None = None, warn: Callable[[str], None] | None = None,
                 retry_delays: tuple[float, ...] = defaults.RETRY_DELAYS, give_up_after: float = 0.0,
                 fade_seconds: float = defaults.FADE_SECONDS, workers: int | None = None,
                 adapt_work_size: bool | WorkSizeGovernor | None = None):
        self.source, self.engine, self.sinks = source, engine, list(sinks)
        self.engine_options = engine_options or EngineOptions.like(engine)
        self.smooth, self.smooth_strength = smooth, smooth_strength
        self.smoother = make_smoother(smooth or engine.default_smoothing, smooth_strength)
        self.warn = warn or (lambda m: print(f"stylecam: {m}", file=sys.stderr))
        self.retry_delays, self.give_up_after = retry_delays, give_up_after
        self.stats = LiveStats()
        self.paused = False
        self._stop = threading.Event()
        self._mailbox = _Mailbox()
        # one painted frame waits for the output stage at most: when the output is the slower
        # stage, inference waits and the mailbox drops stale frames, so latency stays bounded
        self.workers = workers or defaults.inference_workers(engine.device)
        self._painted = _Painted(self.workers)
        self.stats.workers = self.workers
        self._overtaken = 0  # painted frames a later frame, painted sooner, had already replaced
        self._next_index = 0  # the output stage shows frames in capture order
        self._last: np.ndarray | None = None  # the last picture written (sent again while paused)
        self._error: BaseException | None = None
        self._lost_since: float | None = None
        self._capture_ended = threading.Event()
        self._workers_ended = [threading.Event() for _ in range(self.workers)]
        # the style controls (output stage) and the inference thread's choice of engine and
        # style weights for a frame take turns
        self._controls = threading.RLock()
        self.fade_seconds = fade_seconds
        self._fade: tuple[dict[str, float], str, float] | None = None  # from mix, to style, start time
        self._own: _Build | None = None  # the faded-to style's own engine, loading while a blend net fades
        if adapt_work_size is None:
            adapt_work_size = self.engine_options.work_size == "auto"
        self._governor = adapt_work_size if isinstance(adapt_work_size, WorkSizeGovernor) else \
            _default_governor(engine.work_size) if adapt_work_size and engine.work_size else None
        # the intra-op threads of an inference call, for its CPU time: the calling thread's,
        # times the threads that share the call's work
        self._call_threads = worker_threads(engine.device, self.engine_options.threads) or 1
        self._told_behind = False
        self._started = 0.0  # monotonic time the running session began

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    # The controls below run on the loop's thread (a sink's write calls them, as the window's
    # hotkeys do) while the inference thread paints; the inference thread takes the engine and
    # the style weights for a frame once, before painting it, so the engine never changes
    # mid-frame, and the frame is finished by the engine that painted it.

    @property
    def style(self) -> str:
        """The style running, or being faded to."""
        return self._fade[1] if self._fade is not None else self.engine.name

    def switch_style(self, name: str) -> None:
        """Run style `name` from the next frame on: faded in within the running multi-style
        net or within a blend net that holds both styles (then on in `name`'s own net), else
        a new engine built like the current one, at the current strength."""
        with self._controls:
            if self.fade_seconds > 0 and self.engine.can_mix([name]):
                self._fade = (dict(self.engine.mix), name, time.monotonic())
                if self._own is not None:  # fading on in a blend net: the new style's own net loads instead
                    self._own = _Build(lambda: self.engine_options.build(name))
                return
            self._fade, self._own = None, None
            bridge = self._blend_net_for(name) if self.fade_seconds > 0 else None
            if bridge is not None:
                self.engine = bridge
                self._fade = (dict(bridge.mix), name, time.monotonic())
                self._own = _Build(lambda: self.engine_options.build(name))
                return
            self.engine = self.engine_options.build(name, strength=self.engine.strength)
        if self.smooth is None:
            self.smoother = make_smoother(self.engine.default_smoothing, self.smooth_strength)
        else:
            self.smoother.reset()  # do not blend the old style into the new one

    def _blend_net_for(self, name: str) -> Stylizer | None:
        """An engine on a multi-style net that holds the running style(s) and `name`, at the
        running mix; None where no net holds them all (or a style is given as a file)."""
        current = [n for n, w in self.engine.mix.items() if w > 0]
        if name in current or any(styles.is_model_path(n) for n in [*current, name]):
            return None
        if styles.net_holding([*current, name]) is None:
            return None
        try:
            return self.engine_options.build({**self.engine.mix, name: 0.0}, strength=self.engine.strength)
        except StylecamError:
            return None  # the blend net cannot run here: cut instead

    def _advance_fade(self, now: float) -> None:
        """Set the engine's style weights for this moment of a fade (linear in time); once
        a fade in a blend net is over and the style's own engine has loaded, move to it."""
        if self._fade is None:
            if self._own is not None and self._own.done:
                own, self._own = self._own, None
                if own.engine is not None:
                    own.engine.strength = self.engine.strength
                    self.engine = own.engine
                else:
                    self.warn(f"{self.engine.name}: its own net did not load ({own.error}); staying in "
                              f"{self.engine.model_path.name}")
            return
        start_mix, target, started = self._fade
        t = min(1.0, (now - started) / self.fade_seconds)
        mix = {k: (1 - t) * w for k, w in start_mix.items()}
        mix[target] = mix.get(target, 0.0) + t
        self.engine.set_mix(mix if t < 1 else {target: 1.0})
        if t >= 1:
            self._fade = None

    def adjust_strength(self, step: float) -> None:
        self.engine.strength = min(1.0, max(0.0, round(self.engine.strength + step, 2)))

    def toggle_pause(self) -> None:
        self.paused = not self.paused

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _capture(self) -> None:
        index = 0
        attempt = 0
        try:
            while not self._stop.is_set():
                try:
                    image = self.source.read()
                except SourceLost as exc:
                    self._lost_since = self._lost_since or time.monotonic()
                    self.warn(f"{exc}; reconnecting")
                    self.source.close()
                    while not self._stop.is_set():
                        delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
                        attempt += 1
                        if self.give_up_after and time.monotonic() - self._lost_since > self.give_up_after:
                            raise StylecamError(f"{self.source.name} did not come back within "
                                                f"{self.give_up_after:g} s") from None
                        if self._stop.wait(delay):
                            return
                        try:
                            self.source.open()
                        except SourceLost:
                            continue
                        self.stats.reconnects += 1
                        self.warn(f"{self.source.name} is back")
                        self._lost_since, attempt = None, 0
                        break
                    continue
                self.stats.captured += 1
                self._mailbox.put(LiveFrame(image, time.monotonic(), index))
                index += 1
        except BaseException as exc:
            self._error = exc
            self._stop.set()
        finally:
            self.source.close()
            self._capture_ended.set()

    def _infer(self, worker: int, cancel: Cancel) -> None:
        """An inference worker: the newest frame, painted at the work size, handed to the
        output stage; while paused, the frame itself (the output stage sends the frozen
        picture again)."""
        try:
            while not self._stop.is_set():
                if not self._painted.claim(timeout=0.1):  # see _Painted for when a worker may paint
                    continue
                frame = self._mailbox.get(timeout=0.1)
                if frame is None:
                    self._painted.release()
                    continue
                item: _PaintedFrame | LiveFrame = frame
                if not (self.paused and self._last is not None):
                    t0, cpu0 = time.monotonic(), time.thread_time()
                    with self._controls:
                        self._advance_fade(t0)
                        engine = self.engine
                        self._fit_work_size(engine)
                    item = _PaintedFrame(engine, engine.paint_batch([frame.image], cancel)[0], frame)
                    self.stats.inference_cpu.append((time.thread_time() - cpu0) * self._call_threads)
                    self.stats.inference.append(time.monotonic() - t0)
                    self._painted.timed("paint", self.stats.inference[-1])
                self._painted.put(worker, item)  # the slot is free: only this worker fills it
        except Cancelled:
            pass  # the loop is ending
        except BaseException as exc:
            self._error = self._error or exc
            self._stop.set()
        finally:
            self._workers_ended[worker].set()

    def _output(self, item: _PaintedFrame | LiveFrame) -> None:
        """The output stage: the painted frame at its own size, smoothed, to every sink."""
        if isinstance(item, LiveFrame):  # paused: the frozen picture; sinks and hotkeys stay alive
            if self._last is not None:
                self._write(self._last, item)
                self.stats.paused += 1
            return
        frame = item.frame
        if frame.index < self._next_index:  # painted after a later frame: showing it would step back
            self._overtaken += 1
            return
        self._next_index = frame.index + 1
        started = time.monotonic()
        out = item.engine.finish(item.painted, self.smoother)
        self._write(out, frame)
        self._painted.timed("output", time.monotonic() - started)
        self._last = out
        self.stats.latencies.append(time.monotonic() - frame.captured)
        self.stats.shown += 1
        if self._governor is not None:
            self._govern(time.monotonic())

    def _write(self, image: np.ndarray, frame: LiveFrame) -> None:
        """`image` to every sink, whole: a Ctrl+C (or TERM, HUP) during the writes takes effect
        after them, so a recording never ends on a frame its encoder was only half given."""
        with signals.protected():
            for sink in self.sinks:
                sink.write(image, frame)

    def _fit_work_size(self, engine: Stylizer) -> None:
        """Paint at the governor's size with any engine this loop runs at the default work
        size (a style switch builds its engine at the default again)."""
        if self._governor is not None and engine.work_size_requested == "auto" and engine.work_size:
            engine.work_size = self._governor.size

    def _govern(self, now: float) -> None:
        """Hand the governor this frame's counts; paint at the size it asks for from the next
        frame on, and say so on stderr where it is smaller than the default (and once more if
        even the smallest falls behind)."""
        assert self._governor is not None
        governor = self._governor
        before = governor.size
        choosing = governor.choose_up_to
        size = governor.observe(now, self.stats.captured, self.stats.shown, self.stats.paused, self.stats.latencies,
                                time.process_time(), self.stats.inference_cpu)

        def why() -> str:
            delivered, shown = governor.last_rates
            return (f"showing {shown:.1f} of the source's {delivered:.1f} frames/s at latency p95 "
                    f"{1000 * governor.last_latency:.0f} ms")

        if size is not None:
            with self._controls:
                self._fit_work_size(self.engine)
            self.stats.work_size_changes.append(WorkSizeChange(now - self._started, before, size, self.stats.shown,
                                                               len(self.stats.inference)))
        if choosing is not None and governor.probed is not None:  # the start-up choice, made just now
            share, net_cpu = governor.probed
            self.stats.work_size_choice = {"seconds": round(now - self._started, 3), "started_at": before,
                                           "cpu_share": round(share, 3), "net_cpu_ms": round(1000 * net_cpu, 1),
                                           "chose": governor.size, "up_to": choosing}
            if governor.size < choosing:
                self.warn(f"the net paints at {governor.size} px, the largest size at which this CPU keeps up with "
                          f"the source (up to {choosing} px on a faster one; --work-size N keeps a size of your own)")
        elif size is not None:
            self.warn(f"{why()} with the net painting at {before} px; it paints at {size} px from now on "
                      "(--work-size N keeps a size of your own)")
        elif governor.behind and governor.size <= governor.floor and not self._told_behind:
            self._told_behind = True
            self.warn(f"{why()} even with the net painting at {governor.size} px (a smaller --cam-size or "
                      "--cam-fps helps)")

    @property
    def work_size(self) -> int | None:
        """The long side the net paints at now (None: every frame at its own size)."""
        return self.engine.work_size

    def run(self, duration: float = 0.0, opened: bool = False) -> LiveStats:
        """Open the source (StylecamError if it is not there; `opened` = the caller did) and
        run until stop() or `duration` seconds."""
        if not opened:
            try:
                self.source.open()
            except SourceLost as exc:
                raise StylecamError(str(exc)) from None
        started = self._started = time.monotonic()
        cancel = Cancel()
        self._capture_ended.clear()
        self._next_index = 0
        for ended in self._workers_ended:
            ended.clear()
        interrupted = False
        try:
            # in the try: a signal right after a start must still stop the threads
            with signals.protected():  # a signal now would leave a thread nobody waits for
                threading.Thread(target=self._capture, name="stylecam-capture", daemon=True).start()
                for worker in range(self.workers):
                    threading.Thread(target=self._infer, args=(worker, cancel), name=inference_thread_name(worker),
                                     daemon=True).start()
            while not self._stop.is_set():
                if duration and time.monotonic() - started >= duration:
                    break
                item = self._painted.get(timeout=0.1)
                if item is not None:
                    self._output(item)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self.stats.seconds = time.monotonic() - started
            self._stop.set()
            # An inference call still running ends at the net's next layer. Not join(): a join
            # that a signal interrupts marks the thread as ended while it still runs (Python
            # 3.11). After a signal the call gets signals.GRACE seconds and is then left behind
            # (one layer of a large frame can take seconds; the command line then ends the
            # process without the interpreter's shutdown, see stylecam.__main__).
            cancel.cancel()
            deadline = time.monotonic() + signals.GRACE if interrupted else None
            while not all(ended.wait(0.05) for ended in self._workers_ended):
                if deadline is not None and time.monotonic() > deadline:
                    break
            # the capture thread closes the source itself; a read blocked on a silent network
            # source ends at its timeout, and quitting should not wait for that
            self._capture_ended.wait(timeout=0.3)
            self.stats.dropped = self._mailbox.dropped + self._overtaken
            self.stats.in_flight = self.stats.captured - self.stats.shown - self.stats.dropped - self.stats.paused
        if self._error is not None:
            raise self._error
        return self.stats

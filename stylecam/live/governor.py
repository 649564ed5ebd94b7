"""A live session's work size: chosen after the first second from the CPU left, lowered
while the output falls behind the source.

The default work size is chosen for a typical 2-core CPU. On a slower one (no VNNI int8
instructions, a laptop on battery, another program busy) a 720p webcam at 448 px can
outrun the net: frames are dropped and latency grows with the queue. The governor watches
the frames the session shows against those the source delivers, over `window` seconds:
when fewer than `keep_up` of them came through, or their latency p95 (capture to sinks)
passed `max_latency` (the queue behind a net that only just keeps up), in `patience`
windows in a row, the net paints at one `step` smaller, down to `floor`. Past the start-up
choice below it never raises the size: a size that fell behind for that long would do so again
at the next busy moment, and strokes that change size back and forth are worse to watch
than slightly bolder ones.

Measured on a 2-core AMD EPYC without VNNI, 1280x720 at 30 fps over UDP, mosaic, fixed
sizes: at 448, 384 and 352 px the session showed 21-25 fps at latency p95 140-175 ms (both
inference workers painting all the time and slowing each other); at 320 px 29.4 fps at p95
98 ms. On a CPU where 448 keeps up, it is never lowered.

Stepping down takes seconds per step, and every frame of those seconds comes late. So a
session with a `choose_up_to` size starts at the floor, the size easiest to keep up at, and after
its first second (`probe`) moves once to the largest size on the step grid that it predicts
to keep up: the process's share of the cores measured at the floor, plus the net's extra
cost at the larger size (its CPU time per frame at the floor, measured on the inference
threads, times the growth in pixels painted), must stay within `cpu_budget`. CPU use is the
signal because a session that falls behind uses every core whatever it is asked, while one
that keeps up shows how much room is left. The prediction errs on the safe side: part of a
call (the downscale of the frame) does not grow with the work size. On the same AMD EPYC at
30 fps: 1280x720 measured 64 % of the cores and 17.7 ms of net per frame at 256 px,
predicting 79 % at 320 px (a session fixed at 320 px: p95 102 ms), so it stays at 256 px
(p95 50-65 ms); 640x360 measured 50 % and 20.3 ms, predicting 67 % at 320 px and 88 % at
384, so it paints at 320 px (p95 54 ms). From there on the session is governed as above.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import defaults


@dataclass
class WorkSizeGovernor:
    """Decides the work size from the frame counts (and, for the start-up choice, the CPU
    times) the live loop reports after each frame it shows (`observe`); the loop applies
    the size it returns."""

    size: int  # px, the long side the net paints at now
    floor: int = defaults.LIVE_MIN_WORK_SIZE
    step: int = defaults.LIVE_WORK_SIZE_STEP
    keep_up: float = defaults.LIVE_KEEP_UP
    max_latency: float = defaults.LIVE_MAX_LATENCY
    window: float = defaults.LIVE_ADAPT_SECONDS
    patience: int = 2  # windows in a row behind before a step: one busy moment is no reason
    settle: float = 0.5  # s after a start or a change before counting: new input shapes warm up
    min_frames: int = 10  # a window in which the source delivered fewer says nothing
    # start-up choice: None = start at `size` and only step down
    choose_up_to: int | None = None  # px: the largest size the start-up choice may pick
    probe: float = 1.0  # s at the start size (after `settle`) that the choice measures
    cpu_budget: float = defaults.LIVE_CPU_BUDGET  # share of the cores a chosen size may use
    cores: int = field(default_factory=defaults.cpu_cores)
    # what the last window judged showed
    last_rates: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # frames/s delivered and shown
    last_latency: float = field(default=0.0, init=False)  # s, latency p95 of the frames shown
    behind: bool = field(default=False, init=False)  # too few frames shown, or too late
    # what the start-up choice measured at the start size: the process's share of the cores,
    # and the net's CPU seconds per frame
    probed: tuple[float, float] | None = field(default=None, init=False)
    _behind_windows: int = field(default=0, init=False, repr=False)
    _since: float | None = field(default=None, init=False, repr=False)  # first report, or the last change
    # time, captured, shown, paused, process CPU seconds and frames painted at the window's start
    _start: tuple[float, int, int, int, float, int] | None = field(default=None, init=False, repr=False)

    def observe(self, now: float, captured: int, shown: int, paused: int = 0,
                latencies: Sequence[float] = (), cpu_seconds: float = 0.0, net_cpu: Sequence[float] = ()) -> int | None:
        """The counts so far (frames captured, shown, and sent frozen while paused), the
        latencies of the frames shown (capture to sinks, s, in the order shown), the process's
        CPU time (s) and the net's CPU time of each frame painted (s, in the order painted);
        returns the new size when the net should paint at another size from now on, else None."""
        if self._since is None:
            self._since = now
        if now - self._since < self.settle:
            return None
        if self._start is None or paused != self._start[3]:  # a pause says nothing of the net's speed
            if self._start is not None:
                self._behind_windows = 0
            self._start = (now, captured, shown, paused, cpu_seconds, len(net_cpu))
            return None
        t0, captured0, shown0, _, cpu0, painted0 = self._start
        elapsed = now - t0
        if self.choose_up_to is not None:
            if elapsed < self.probe or captured - captured0 < self.min_frames or len(net_cpu) == painted0:
                return None  # not enough to judge by yet (a slow source takes longer)
            return self._choose(elapsed, (cpu_seconds - cpu0) / elapsed, net_cpu[painted0:], now)
        if elapsed < self.window:
            return None
        delivered, came_through = captured - captured0, shown - shown0
        self._start = (now, captured, shown, paused, cpu_seconds, len(net_cpu))
        self.last_rates = (delivered / elapsed, came_through / elapsed)
        recent = latencies[shown0:shown]
        self.last_latency = float(np.percentile(recent, 95)) if len(recent) else 0.0
        self.behind = delivered >= self.min_frames and (came_through < self.keep_up * delivered
                                                        or self.last_latency > self.max_latency)
        self._behind_windows = self._behind_windows + 1 if self.behind else 0
        if self._behind_windows < self.patience or self.size <= self.floor:
            return None
        return self._change(max(self.floor, self.size - self.step), now)

    def _choose(self, elapsed: float, cpu_rate: float, net_cpu: Sequence[float], now: float) -> int | None:
        """The start-up choice, once: the largest size on the grid from `choose_up_to` down in
        `step`s whose predicted share of the cores fits the budget, else the start size."""
        assert self.choose_up_to is not None
        largest, self.choose_up_to = self.choose_up_to, None
        share = cpu_rate / self.cores
        per_frame = float(np.mean(net_cpu))
        painted_per_second = len(net_cpu) / elapsed
        self.probed = (share, per_frame)
        start = self.size
        fits = (size for size in range(largest, start, -self.step)
                if share + painted_per_second * per_frame * ((size / start) ** 2 - 1) / self.cores <= self.cpu_budget)
        chosen = self._change(next(fits, start), now)  # governed from now on, after the settle time
        return chosen if chosen != start else None

    def _change(self, size: int, now: float) -> int:
        self.size = size
        self._since, self._start, self._behind_windows = now, None, 0
        return size

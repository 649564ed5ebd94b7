"""A live session's work size, lowered while the output falls behind the source.

The default work size is chosen for a typical 2-core CPU. On a slower one (no VNNI int8
instructions, a laptop on battery, another program busy) a 720p webcam at 448 px can
outrun the net: frames are dropped and latency grows with the queue. The governor watches
the frames the session shows against those the source delivers, over `window` seconds:
when fewer than `keep_up` of them came through, or their latency p95 (capture to sinks)
passed `max_latency` (the queue behind a net that only just keeps up), in `patience`
windows in a row, the net paints at one `step` smaller, down to `floor`. It never raises
the size again within a session: a size that fell behind for that long would do so again
at the next busy moment, and strokes that change size back and forth are worse to watch
than slightly bolder ones.

Measured on a 2-core AMD EPYC without VNNI, 1280x720 at 30 fps over UDP, mosaic, fixed
sizes: at 448, 384 and 352 px the session showed 21-25 fps at latency p95 140-175 ms (both
inference workers painting all the time and slowing each other); at 320 px 29.4 fps at p95
98 ms. On a CPU where 448 keeps up, nothing changes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import defaults


@dataclass
class WorkSizeGovernor:
    """Decides the work size from the frame counts the live loop reports after each frame
    it shows (`observe`); the loop applies the size it returns."""

    size: int  # px, the long side the net paints at now
    floor: int = defaults.LIVE_MIN_WORK_SIZE
    step: int = defaults.LIVE_WORK_SIZE_STEP
    keep_up: float = defaults.LIVE_KEEP_UP
    max_latency: float = defaults.LIVE_MAX_LATENCY
    window: float = defaults.LIVE_ADAPT_SECONDS
    patience: int = 2  # windows in a row behind before a step: one busy moment is no reason
    settle: float = 0.5  # s after a start or a change before counting: new input shapes warm up
    min_frames: int = 10  # a window in which the source delivered fewer says nothing
    # what the last window judged showed
    last_rates: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # frames/s delivered and shown
    last_latency: float = field(default=0.0, init=False)  # s, latency p95 of the frames shown
    behind: bool = field(default=False, init=False)  # too few frames shown, or too late
    _behind_windows: int = field(default=0, init=False, repr=False)
    _since: float | None = field(default=None, init=False, repr=False)  # first report, or the last change
    # time, captured, shown, paused at the window's start
    _start: tuple[float, int, int, int] | None = field(default=None, init=False, repr=False)

    def observe(self, now: float, captured: int, shown: int, paused: int = 0,
                latencies: Sequence[float] = ()) -> int | None:
        """The counts so far (frames captured, shown, and sent frozen while paused) and the
        latencies of the frames shown (capture to sinks, s, in the order shown); returns the
        new size when the net should paint smaller from now on, else None."""
        if self._since is None:
            self._since = now
        if now - self._since < self.settle:
            return None
        if self._start is None or paused != self._start[3]:  # a pause says nothing of the net's speed
            if self._start is not None:
                self._behind_windows = 0
            self._start = (now, captured, shown, paused)
            return None
        t0, captured0, shown0, _ = self._start
        elapsed = now - t0
        if elapsed < self.window:
            return None
        delivered, came_through = captured - captured0, shown - shown0
        self._start = (now, captured, shown, paused)
        self.last_rates = (delivered / elapsed, came_through / elapsed)
        recent = latencies[shown0:shown]
        self.last_latency = float(np.percentile(recent, 95)) if len(recent) else 0.0
        self.behind = delivered >= self.min_frames and (came_through < self.keep_up * delivered
                                                        or self.last_latency > self.max_latency)
        self._behind_windows = self._behind_windows + 1 if self.behind else 0
        if self._behind_windows < self.patience or self.size <= self.floor:
            return None
        self.size = max(self.floor, self.size - self.step)
        self._since, self._start, self._behind_windows = now, None, 0
        return self.size

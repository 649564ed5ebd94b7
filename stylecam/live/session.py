"""A live session assembled in one place: options in, source, engine, loop and sinks built
and closed here, statistics out."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import defaults, styles
from ..engine import Stylizer
from ..errors import StylecamError
from ..io.paths import check_output, kind_of
from .loop import EngineOptions, LiveLoop, LiveStats
from .sinks import RecordSink, StreamSink, VirtualCamSink
from .sources import LIVE_PREFIXES, CameraSource, SourceLost, StreamSource, check_url, probe_cameras
from .window import WindowSink

Warn = Callable[[str], None]
RECORD_SUFFIXES = (".mp4", ".mkv", ".mov")


@dataclass
class LiveOptions:
    """What a live session runs: the style and its engine, one source, smoothing, the sinks."""

    style: str = defaults.STYLE
    strength: float = 1.0
    engine: EngineOptions = field(default_factory=EngineOptions)
    # the source: camera `webcam`, or `input` (a URL, device or file)
    webcam: int | None = None
    input: str | None = None
    paced: bool = False  # play a file `input` at its frame rate, like a live source
    cam_size: tuple[int, int] | None = None
    cam_fps: int | None = None
    mirror: bool = False
    smooth: str | None = None  # None: each style's own default
    smooth_strength: float | None = None
    # the sinks
    window: bool = True
    virtual_cam: bool = False
    stream: str | None = None
    output: Path | None = None
    overwrite: bool = False
    duration: float = 0.0  # s; 0 = until stopped (q, Ctrl+C, TERM, HUP)


@dataclass
class LiveResult:
    stats: LiveStats
    style: str  # the style the session started with
    device: str
    quality: str
    source: str
    ended_by: KeyboardInterrupt | None = None  # the Ctrl+C, TERM or HUP that ended the session
    work_size: int | None = None  # the long side the net painted at last (None: every frame at its own size)

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style, "device": self.device, "quality": self.quality, "source": self.source,
                "work_size": self.work_size or "full", "live": self.stats.summary()}


def _print_warning(message: str) -> None:
    print(f"stylecam: warning: {message}", file=sys.stderr)


def run(options: LiveOptions, warn: Warn = _print_warning) -> LiveResult:
    """Run a live session until `duration`, a quit hotkey or Ctrl+C/TERM/HUP (which end it
    normally: the recording is finalised and `ended_by` says which). Bad options, a missing
    source or sink raise StylecamError, checked before the model loads where possible."""
    if options.stream:
        check_url(options.stream)
    source = _make_source(options)
    if options.output is not None:
        if options.output.suffix.lower() not in RECORD_SUFFIXES:
            raise StylecamError("live recording (-o) needs a .mp4, .mkv or .mov file")
        inputs = [Path(options.input)] if options.input and Path(options.input).is_file() else []
        check_output(options.output, inputs, options.overwrite)
    engine = _start_engine(options, warn)
    width, height = _open(source, options)
    fps = float(options.cam_fps or defaults.LIVE_FPS)
    loop: LiveLoop | None = None
    ended_by: KeyboardInterrupt | None = None
    try:
        loop = LiveLoop(source, engine, smooth=options.smooth, smooth_strength=options.smooth_strength,
                        engine_options=options.engine, warn=warn)
        _add_sinks(loop, options, (width, height), fps, warn)
        try:
            stats = loop.run(duration=options.duration, opened=True)
        except KeyboardInterrupt as exc:  # the normal way to end a live session (TERM and HUP too)
            stats, ended_by = loop.stats, exc
    finally:
        if loop is None or not loop.stopped:  # the loop never ran: the source is still ours to close
            source.close()
        for sink in loop.sinks if loop is not None else []:
            sink.close()
    return LiveResult(stats, engine.name, engine.device, engine.quality_used, source.name, ended_by, loop.work_size)


def _make_source(options: LiveOptions) -> CameraSource | StreamSource:
    if options.webcam is not None:
        if options.input:
            raise StylecamError("give either --webcam or an input, not both")
        return CameraSource(options.webcam, options.cam_size, options.cam_fps, options.mirror)
    if options.input:
        live_url = options.input.startswith(LIVE_PREFIXES)
        if not live_url and kind_of(Path(options.input)) == "folder":  # also refuses a named pipe
            raise StylecamError(f"--live needs a video file, not a folder: {options.input}")
        return StreamSource(options.input, paced=options.paced and not live_url)
    raise StylecamError("no live source; use --webcam [INDEX] or a stream URL")


def _start_engine(options: LiveOptions, warn: Warn) -> Stylizer:
    engine = options.engine.build(options.style, options.strength)
    for notice in engine.notices:
        warn(notice)
    return engine


def _open(source: CameraSource | StreamSource, options: LiveOptions) -> tuple[int, int]:
    """Open the source and read one frame, to learn the size the sinks are opened with;
    the source stays open for the loop."""
    try:
        first = _first_frame(source)
    except SourceLost as exc:
        source.close()
        if isinstance(source, CameraSource):
            found = probe_cameras()
            raise StylecamError(f"camera {options.webcam} not found (tried index {options.webcam}, then probed 0-3: "
                                f"{'cameras at ' + ', '.join(map(str, found)) if found else 'none opens'})") from None
        raise StylecamError(str(exc)) from None
    height, width = first.shape[:2]
    return width, height


def _first_frame(source: CameraSource | StreamSource) -> Any:
    """Open the source and read a frame on a helper thread: FFmpeg waits for a silent
    stream up to its timeout in C code, where the main thread would take a Ctrl+C only
    afterwards. Here the main thread waits, so a signal ends the wait at once."""
    done: dict[str, Any] = {}
    finished, interrupted = threading.Event(), threading.Event()

    def work() -> None:
        try:
            source.open()
            done["frame"] = source.read()
        except BaseException as exc:
            done["error"] = exc
        finished.set()
        if interrupted.is_set():  # nobody is waiting for the source any more
            source.close()

    # an Event, not join(): a join that a signal interrupts marks the thread as ended
    # while it still runs (Python 3.11), and the exit then does not know it is there
    threading.Thread(target=work, name="stylecam-open", daemon=True).start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        interrupted.set()
        if finished.is_set():
            source.close()
        raise
    if "error" in done:
        raise done["error"]
    return done["frame"]


def _add_sinks(loop: LiveLoop, options: LiveOptions, size: tuple[int, int], fps: float, warn: Warn) -> None:
    if options.window:
        loop.add_sink(WindowSink(loop, [s.name for s in styles.list_styles()]))
    if options.virtual_cam:
        cam = VirtualCamSink(size, fps)
        loop.add_sink(cam)
        warn(f"virtual camera: {cam.device}")
    if options.stream:
        loop.add_sink(StreamSink(options.stream, size, fps))
    if options.output is not None:
        loop.add_sink(RecordSink(options.output, size, options.overwrite))
    if not loop.sinks:
        raise StylecamError("live mode needs an output: a window (without --no-window), --virtual-cam, "
                            "--stream URL or -o FILE")

"""Live mode: a camera or network source, newest-frame-wins inference, any set of sinks.

Policy: a capture thread keeps only the newest frame in a one-slot mailbox (older ones are
dropped and counted), so when inference is slower than the source, latency stays at about
one inference plus one frame interval instead of growing. A source that fails is reopened
with backoff; the loop resumes when it returns.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import defaults
from .engine import Stylizer
from .errors import StylecamError
from .temporal import Smoother


class SourceLost(Exception):
    """The live source stopped delivering frames (unplugged camera, dead stream)."""


@dataclass
class LiveFrame:
    image: np.ndarray  # uint8 HxWx3 RGB
    captured: float  # time.monotonic() when it arrived
    index: int


class LiveSource(Protocol):
    name: str

    def open(self) -> None: ...  # raises StylecamError (at start) or SourceLost (on reconnect)

    def read(self) -> np.ndarray: ...  # blocks for the next frame; raises SourceLost

    def close(self) -> None: ...


# --- sources ---------------------------------------------------------------------------


class CameraSource:
    """OpenCV camera by index (or device path)."""

    def __init__(self, index: int | str = 0, size: tuple[int, int] | None = None, fps: float | None = None,
                 mirror: bool = False):
        self.index, self.size, self.fps, self.mirror = index, size, fps, mirror
        self.name = f"camera {index}"
        self.cap: Any = None

    def open(self) -> None:
        import cv2

        self.cap = cv2.VideoCapture(self.index)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceLost(f"cannot open {self.name}")
        if self.size:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.fps:
            self.cap.set(cv2.CAP_PROP_FPS, self.fps)
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a backlog

    def read(self) -> np.ndarray:
        import cv2

        ok, bgr = self.cap.read() if self.cap is not None else (False, None)
        if not ok or bgr is None:
            raise SourceLost(f"{self.name} stopped delivering frames")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(rgb[:, ::-1]) if self.mirror else rgb

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def probe_cameras(max_index: int = 4) -> list[int]:
    """Indices that open (used in the error message when the requested one does not)."""
    import cv2

    found = []
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(i)
        cap.release()
    return found


_NEEDS_PORT = ("udp", "rtp", "srt", "tcp")  # no default port for these


def check_url(url: str) -> None:
    """A network URL's port must be a number in 1..65535 (FFmpeg would take 99999 and
    fail later, or quietly use another port); udp/rtp/srt/tcp need one."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in _NEEDS_PORT + ("rtsp", "rtmp", "http", "https"):
        return  # a device path or file
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None and parts.scheme in _NEEDS_PORT:
        raise StylecamError(f"{url} needs a port, like {parts.scheme}://127.0.0.1:9999")
    if port is not None and not 1 <= port <= 65535:
        raise StylecamError(f"invalid port in {url}: must be a number from 1 to 65535")


class StreamSource:
    """A live URL or device read with PyAV (udp://, rtsp://, srt://, /dev/video0, ...).
    `paced=True` plays a file at its frame rate (a live-source simulator)."""

    def __init__(self, url: str, paced: bool = False, timeout: float = 5.0):
        check_url(url)
        self.url, self.paced, self.timeout = url, paced, timeout
        self.name = url
        self.container: Any = None
        self._frames: Any = None
        self._t0: float | None = None
        self._pts0: float | None = None

    def open(self) -> None:
        import av

        # small probe: a live stream should start in well under a second, not after 5 s of analysis
        options = {"fflags": "nobuffer", "flags": "low_delay", "probesize": "262144",
                   "analyzeduration": "1000000"} if not self.paced else {}
        if self.url.startswith("rtsp://"):
            options["rtsp_transport"] = "tcp"
        try:
            self.container = av.open(self.url, options=options, timeout=(self.timeout, self.timeout))
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceLost(f"cannot open {self.url}: {getattr(exc, 'strerror', None) or exc}") from None
        if not self.container.streams.video:
            self.container.close()
            raise StylecamError(f"no video stream in {self.url}")
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self.container.decode(stream)
        self._t0 = self._pts0 = None

    def read(self) -> np.ndarray:
        import av

        try:
            frame = next(self._frames)
        except StopIteration:
            raise SourceLost(f"{self.url} ended") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceLost(f"{self.url}: {getattr(exc, 'strerror', None) or exc}") from None
        if self.paced and frame.time is not None:  # wait until the frame is "due"
            now = time.monotonic()
            if self._t0 is None:
                self._t0, self._pts0 = now, frame.time
            delay = self._t0 + (frame.time - self._pts0) - now
            if delay > 0:
                time.sleep(delay)
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


# --- sinks -----------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, image: np.ndarray, frame: LiveFrame) -> None: ...

    def close(self) -> None: ...


class StreamSink:
    """MPEG-TS over UDP (or SRT when the PyAV build has it): OBS's Media Source reads it."""

    def __init__(self, url: str, size: tuple[int, int], fps: float, bitrate: int = defaults.STREAM_BITRATE):
        import av

        if not url.startswith(("udp://", "srt://", "tcp://")):
            raise StylecamError(f"--stream needs a udp://, srt:// or tcp:// URL, got {url!r}")
        check_url(url)
        if url.startswith("srt://") and "srt" not in av.protocols_available:  # type: ignore[attr-defined]
            raise StylecamError("this PyAV/FFmpeg build has no SRT support; use udp://HOST:PORT")
        target = url if "pkt_size" in url or not url.startswith("udp://") else \
            url + ("&" if "?" in url else "?") + "pkt_size=1316"
        try:
            self.out = av.open(target, "w", format="mpegts")
        except av.error.FFmpegError as exc:
            raise StylecamError(f"cannot open stream {url}: {exc.strerror or exc}") from None
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        self.stream = self.out.add_stream("libx264", rate=rate)
        w, h = size
        self.stream.width, self.stream.height = w - w % 2, h - h % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.bit_rate = bitrate
        self.stream.options = {"preset": defaults.STREAM_PRESET, "tune": "zerolatency",
                               "g": str(max(1, round(float(rate))))}
        self.stream.codec_context.time_base = Fraction(1, 1000)
        self.t0: float | None = None
        self.last_pts = -1
        self.last_key = -10_000

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        import av

        h, w = self.stream.height, self.stream.width
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")
        if self.t0 is None:
            self.t0 = frame.captured
        pts = max(self.last_pts + 1, round((frame.captured - self.t0) * 1000))  # ms, from capture time
        vf.pts, vf.time_base = pts, Fraction(1, 1000)
        if pts - self.last_key >= 1000:  # a keyframe every second of wall time, so a viewer
            from av.video.frame import PictureType  # that joins late (OBS) starts within 1 s,
            vf.pict_type = PictureType.I  # however slowly the frames come
            self.last_key = pts
        self.last_pts = pts
        self.out.mux(self.stream.encode(vf))

    def close(self) -> None:
        try:
            self.out.mux(self.stream.encode())
        finally:
            self.out.close()


class VirtualCamSink:
    """pyvirtualcam: OBS Virtual Camera (Windows/macOS) or v4l2loopback (Linux)."""

    HINT = ("Linux: sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 "
            "exclusive_caps=1 card_label=stylecam; Windows/macOS: install OBS Studio and start its "
            "Virtual Camera once")

    def __init__(self, size: tuple[int, int], fps: float):
        try:
            import pyvirtualcam
        except ImportError:
            raise StylecamError("--virtual-cam needs pyvirtualcam: pip install 'stylecam[virtualcam]'") from None
        try:
            self.cam = pyvirtualcam.Camera(width=size[0], height=size[1], fps=max(1.0, fps))
        except Exception as exc:  # pyvirtualcam raises RuntimeError when no backend exists
            raise StylecamError(f"no virtual camera backend ({str(exc).strip().splitlines()[0]}); "
                                f"{self.HINT}") from None
        self.device = self.cam.device

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        self.cam.send(np.ascontiguousarray(image))

    def close(self) -> None:
        self.cam.close()


class RecordSink:
    """Recording to a file: H.264 with timestamps from capture time (live sources are VFR)."""

    def __init__(self, path: Path, size: tuple[int, int], overwrite: bool):
        from .io.encode import VideoSink
        from .io.frames import VideoInfo
        from .io.paths import check_output

        check_output(path, [], overwrite)
        info = VideoInfo(width=size[0], height=size[1], rate=None, time_base=Fraction(1, 1000), frame_count=0)
        self.sink = VideoSink(path, info, overwrite=overwrite)
        self.t0: float | None = None
        self.last = -1

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        from .io.frames import Frame

        if self.t0 is None:
            self.t0 = frame.captured
        pts = max(self.last + 1, round((frame.captured - self.t0) * 1000))
        self.last = pts
        self.sink.write(Frame(image, frame.index, pts, pts / 1000))

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


class _OpenCVDisplay:
    """OpenCV highgui window (needs opencv-python, not the headless build)."""

    def __init__(self, title: str):
        import cv2

        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)  # cv2.error without GUI support

    def show(self, rgb: np.ndarray) -> str | None:
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return "close"
        return {27: "esc"}.get(key) or (chr(key) if key != 255 else None)

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)


class _TkDisplay:
    """Tk window (standard library + Pillow), used when OpenCV has no GUI support."""

    def __init__(self, title: str):
        import tkinter

        self.root = tkinter.Tk()  # tkinter.TclError without a display
        self.root.title(title)
        self.label = tkinter.Label(self.root)
        self.label.pack()
        self.keys: list[str] = []
        self.closed = False
        self.root.bind("<Key>", lambda e: self.keys.append("esc" if e.keysym == "Escape" else e.char))
        self.root.protocol("WM_DELETE_WINDOW", self._on_close)

    def _on_close(self) -> None:
        self.closed = True

    def show(self, rgb: np.ndarray) -> str | None:
        from PIL import Image, ImageTk

        if self.closed:
            return "close"
        photo = ImageTk.PhotoImage(Image.fromarray(rgb))
        self.label.configure(image=photo)
        self.label.image = photo  # type: ignore[attr-defined]  # keep a reference, or Tk shows nothing
        self.root.update()
        return self.keys.pop(0) if self.keys else ("close" if self.closed else None)

    def close(self) -> None:
        try:
            self.root.destroy()
        except Exception:
            pass


def open_display(title: str) -> _OpenCVDisplay | _TkDisplay:
    import cv2

    try:
        return _OpenCVDisplay(title)
    except cv2.error:
        pass
    try:
        return _TkDisplay(title)
    except Exception as exc:  # no tkinter, or no display (tkinter.TclError)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise StylecamError(f"cannot open a preview window ({reason}); use --no-window with --virtual-cam, "
                        "--stream or -o, or install opencv-python for OpenCV's window")


class WindowSink:
    """Preview window with an FPS/latency overlay and hotkeys:
    n/p next/previous style, +/- strength, space pause, s snapshot, q/Esc quit."""

    TITLE = "stylecam"

    def __init__(self, loop: "LiveLoop", styles: list[str], snapshot_dir: Path = Path("."),
                 display: Any = None):
        self.display = display or open_display(self.TITLE)
        self.loop, self.styles, self.snapshot_dir = loop, styles, snapshot_dir
        self.times: list[float] = []

    def _switch(self, step: int) -> None:
        if not self.styles:
            return
        current = self.loop.engine.name
        i = self.styles.index(current) if current in self.styles else -1
        name = self.styles[(i + step) % len(self.styles)]
        old = self.loop.engine
        self.loop.engine = Stylizer(name, device=old.device_requested, strength=old.strength,
                                    preserve_color=old.preserve_color, quality=old.quality_requested)
        if self.loop.smoother_for is not None:
            self.loop.smoother = self.loop.smoother_for(self.loop.engine)
        elif self.loop.smoother is not None:
            self.loop.smoother.reset()  # do not blend the old style into the new one

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        import cv2

        now = time.monotonic()
        self.times = [t for t in self.times if now - t < 1.0] + [now]
        shown = image.copy()
        text = (f"{self.loop.engine.name}  {len(self.times)} fps  latency {1000 * (now - frame.captured):.0f} ms"
                f"  strength {self.loop.engine.strength:.1f}" + ("  PAUSED" if self.loop.paused else ""))
        cv2.putText(shown, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(shown, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        self.handle_key(self.display.show(shown), image)

    def handle_key(self, key: str | None, image: np.ndarray) -> None:
        if key is None:
            return
        engine = self.loop.engine
        if key in ("q", "esc", "close"):
            self.loop.stop()
        elif key == "n":
            self._switch(1)
        elif key == "p":
            self._switch(-1)
        elif key in ("+", "="):
            engine.strength = min(1.0, round(engine.strength + 0.1, 2))
        elif key == "-":
            engine.strength = max(0.0, round(engine.strength - 0.1, 2))
        elif key == " ":
            self.loop.paused = not self.loop.paused
        elif key == "s":
            from .errors import StylecamError
            from .io.images import write_image

            path = self.snapshot_dir / time.strftime("stylecam_%Y%m%d_%H%M%S.png")
            try:  # never replaces a file (a second snapshot in the same second is refused)
                write_image(path, image)
                self.loop.warn(f"snapshot {path}")
            except (StylecamError, OSError) as exc:
                self.loop.warn(f"snapshot not saved: {exc}")

    def close(self) -> None:
        self.display.close()


# --- the loop --------------------------------------------------------------------------


@dataclass
class LiveStats:
    captured: int = 0
    shown: int = 0
    dropped: int = 0  # captured frames replaced by a newer one before inference took them
    reconnects: int = 0
    paused: int = 0  # frames that arrived while paused (the frozen picture was sent instead)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # capture -> all sinks written, s
    inference: list[float] = field(default_factory=list)  # s per frame
    in_flight: int = 0  # captured - shown - dropped at the end: frames still in the mailbox or in inference

    def summary(self) -> dict[str, Any]:
        lat = np.array(self.latencies or [0.0]) * 1000
        inf = np.array(self.inference or [0.0]) * 1000
        return {"captured": self.captured, "shown": self.shown, "dropped": self.dropped,
                "reconnects": self.reconnects, "paused": self.paused, "seconds": round(self.seconds, 3),
                "fps": round(self.shown / self.seconds, 2) if self.seconds else 0.0,
                "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
                "inference_ms_mean": round(float(inf.mean()), 1), "in_flight": self.in_flight}


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


class LiveLoop:
    """Capture thread + inference loop. `on_frame(image, frame)` hands each output to the
    sinks; `stop()` ends the loop from any thread (hotkey, signal, duration)."""

    def __init__(self, source: LiveSource, engine: Stylizer, sinks: Iterable[Sink],
                 smoother: Smoother | None = None, warn: Callable[[str], None] | None = None,
                 retry_delays: tuple[float, ...] = defaults.RETRY_DELAYS, give_up_after: float = 0.0):
        self.source, self.engine, self.sinks, self.smoother = source, engine, list(sinks), smoother
        self.warn = warn or (lambda m: print(f"stylecam: {m}", file=sys.stderr))
        self.retry_delays, self.give_up_after = retry_delays, give_up_after
        self.stats = LiveStats()
        self.paused = False
        # set when the user left --smooth to the style: a style switch then picks the new
        # net's own default (a temporally trained net needs none, others get flow)
        self.smoother_for: Callable[[Stylizer], Smoother] | None = None
        self._stop = threading.Event()
        self._mailbox = _Mailbox()
        self._error: BaseException | None = None
        self._lost_since: float | None = None

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

    def run(self, duration: float = 0.0, opened: bool = False) -> LiveStats:
        """Open the source (StylecamError if it is not there; `opened` = the caller did) and
        run until stop() or `duration` seconds."""
        if not opened:
            try:
                self.source.open()
            except SourceLost as exc:
                raise StylecamError(str(exc)) from None
        started = time.monotonic()
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        capture.start()
        last: np.ndarray | None = None
        try:
            while not self._stop.is_set():
                if duration and time.monotonic() - started >= duration:
                    break
                frame = self._mailbox.get(timeout=0.1)
                if frame is None:
                    continue
                if self.paused and last is not None:  # frozen picture; sinks and hotkeys stay alive
                    for sink in self.sinks:
                        sink.write(last, frame)
                    self.stats.paused += 1
                    continue
                t0 = time.monotonic()
                out = self.engine.stylize(frame.image)
                self.stats.inference.append(time.monotonic() - t0)
                if self.smoother is not None:
                    out = self.smoother(frame.image, out)
                for sink in self.sinks:
                    sink.write(out, frame)
                last = out
                self.stats.latencies.append(time.monotonic() - frame.captured)
                self.stats.shown += 1
        finally:
            self.stats.seconds = time.monotonic() - started
            self._stop.set()
            # the capture thread closes the source itself; a read blocked on a silent network
            # source ends at its timeout, and quitting should not wait for that
            capture.join(timeout=0.3)
            self.stats.dropped = self._mailbox.dropped
            self.stats.in_flight = self.stats.captured - self.stats.shown - self.stats.dropped - self.stats.paused
        if self._error is not None:
            raise self._error
        return self.stats

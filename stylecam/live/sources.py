"""Live sources: a camera (OpenCV) or a URL/device/paced file (PyAV), read one frame at a time.

A source that fails raises SourceLost; the loop closes it and reopens it with backoff.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import StylecamError, first_line

# inputs that are live by their name; anything else is a file (live only with --live)
LIVE_PREFIXES = ("udp://", "rtp://", "rtsp://", "rtmp://", "srt://", "tcp://", "http://", "https://", "/dev/video")


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
    host = parts.hostname
    if host:  # FFmpeg would only say "Input/output error" at the first packet
        import socket

        try:
            socket.getaddrinfo(host, port)
        except (socket.gaierror, UnicodeError):
            raise StylecamError(f"cannot resolve the host {host!r} of {url}") from None


class StreamSource:
    """A live URL or device read with PyAV (udp://, rtsp://, srt://, /dev/video0, ...).
    `paced=True` plays a file at its frame rate (a live-source simulator)."""

    def __init__(self, url: str, paced: bool = False, timeout: float = 5.0):
        check_url(url)
        self.url, self.paced, self.timeout = url, paced, timeout
        self.name = url
        self.container: Any = None
        self._packets: Any = None
        self._decoded: deque[Any] = deque()  # frames decoded and not yet read
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
            raise SourceLost(f"cannot open {self.url}: {self._reason(exc)}") from None
        if not self.container.streams.video:
            self.container.close()
            raise StylecamError(f"no video stream in {self.url}")
        stream = self.container.streams.video[0]
        # slice threads: frame threads (FFmpeg's choice for H.264) hold one decoded frame back
        # per extra thread, two frames (~70 ms at 30 fps) of latency on a 2-core CPU
        stream.thread_type = "SLICE"
        self._packets = self.container.demux(stream)
        self._decoded.clear()
        self._t0 = self._pts0 = None

    def _next_frame(self) -> Any:
        """The next decoded frame. Packets the decoder cannot decode are skipped: a stream
        joined between two keyframes (the decoder has nothing to refer to until the next one,
        up to a GOP later) or a lost UDP datagram; the source is lost when nothing decodes
        for `timeout` seconds."""
        import av

        failing_since: float | None = None
        while not self._decoded:
            try:
                packet = next(self._packets)
            except StopIteration:
                raise SourceLost(f"{self.url} ended") from None
            except (av.error.FFmpegError, OSError) as exc:
                raise SourceLost(f"{self.url}: {self._reason(exc)}") from None
            try:
                self._decoded.extend(packet.decode())  # the demuxer's last, empty packet drains the decoder
            except av.error.InvalidDataError as exc:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > self.timeout:
                    raise SourceLost(f"{self.url}: nothing decodable for {self.timeout:g} s "
                                     f"({self._reason(exc)})") from None
        return self._decoded.popleft()

    def read(self) -> np.ndarray:
        frame = self._next_frame()
        if self.paced and frame.time is not None:  # wait until the frame is "due"
            now = time.monotonic()
            if self._t0 is None:
                self._t0, self._pts0 = now, frame.time
            delay = self._t0 + (frame.time - self._pts0) - now
            if delay > 0:
                time.sleep(delay)
        return frame.to_ndarray(format="rgb24")

    def _reason(self, exc: BaseException) -> str:
        import av

        if isinstance(exc, av.error.ExitError):  # our timeout; FFmpeg calls it "Immediate exit requested"
            return f"it sent nothing for {self.timeout:g} s"
        return getattr(exc, "strerror", None) or first_line(exc)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

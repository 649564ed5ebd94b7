"""Live sinks: network stream, virtual camera and recording. Each only writes what it is given."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import defaults
from ..errors import StylecamError, first_line
from ..io.encode import VideoSink
from ..io.frames import Frame, VideoInfo
from ..io.paths import check_output
from ..io.yuv import video_frame
from .sources import LiveFrame, check_url


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
        self.url = url
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
        h, w = self.stream.height, self.stream.width
        vf = video_frame(image[:h, :w], "yuv420p")
        if self.t0 is None:
            self.t0 = frame.captured
        pts = max(self.last_pts + 1, round((frame.captured - self.t0) * 1000))  # ms, from capture time
        vf.pts, vf.time_base = pts, Fraction(1, 1000)
        if pts - self.last_key >= 1000:  # a keyframe every second of wall time, so a viewer
            from av.video.frame import PictureType  # that joins late (OBS) starts within 1 s,
            vf.pict_type = PictureType.I  # however slowly the frames come
            self.last_key = pts
        self.last_pts = pts
        try:
            self.out.mux(self.stream.encode(vf))
        except OSError as exc:  # FFmpeg opens the URL at the first packet: refused, unreachable
            raise StylecamError(f"cannot send the stream to {self.url}: {exc.strerror or first_line(exc)}") from None

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
            raise StylecamError(f"no virtual camera backend ({first_line(exc)}); "
                                f"{self.HINT}") from None
        self.device = self.cam.device

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        self.cam.send(np.ascontiguousarray(image))

    def close(self) -> None:
        self.cam.close()


class RecordSink:
    """Recording to a file: H.264 with timestamps from capture time (live sources are VFR)."""

    def __init__(self, path: Path, size: tuple[int, int], overwrite: bool):
        check_output(path, [], overwrite)
        info = VideoInfo(width=size[0], height=size[1], rate=None, time_base=Fraction(1, 1000), frame_count=0)
        self.sink = VideoSink(path, info, overwrite=overwrite)
        self.t0: float | None = None
        self.last = -1

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        if self.t0 is None:
            self.t0 = frame.captured
        pts = max(self.last + 1, round((frame.captured - self.t0) * 1000))
        self.last = pts
        self.sink.write(Frame(image, frame.index, pts, pts / 1000))

    def close(self) -> None:
        if self.sink.frames == 0:  # not one frame was encoded (the session failed or ended at once): no empty file
            self.sink.abort()
        else:
            self.sink.close()

    def abort(self) -> None:
        self.sink.abort()

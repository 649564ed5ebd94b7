"""Sources and sinks: still images, video files (PyAV, OpenCV fallback), atomic outputs.

A source yields `Frame`s (uint8 HxWx3 RGB + timestamp) and describes what a sink needs to
mirror: size, rate, time base, rotation, audio. Sinks write to a temp file beside the
target and rename it into place only when complete, so a failure or Ctrl+C never leaves
a half-written file at the target.
"""
from __future__ import annotations

import heapq
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults
from .atomic import AtomicOutput
from .errors import StylecamError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".flv", ".wmv", ".3gp", ".ogv", ".gif"}
VIDEO_OUTPUT_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv"}
IMAGE_OUTPUT_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class Frame:
    image: np.ndarray  # uint8 HxWx3 RGB
    index: int
    pts: int | None = None  # in the source's time base
    time: float | None = None  # seconds


@dataclass
class AudioInfo:
    codec: str
    channels: int
    sample_rate: int


@dataclass
class VideoInfo:
    width: int
    height: int
    rate: Fraction | None  # nominal/average frame rate
    time_base: Fraction
    frame_count: int  # from the header; 0 = unknown
    rotation: int = 0  # display rotation, degrees counter-clockwise
    audio: AudioInfo | None = None
    start_time: float = 0.0  # seconds; the container's first timestamp
    duration: float = 0.0  # seconds, from the header; 0 = unknown

    def expected_frames(self) -> int:
        """Frame count from the header, else estimated from duration x rate; 0 = unknown."""
        if self.frame_count:
            return self.frame_count
        if self.duration and self.rate:
            return round(self.duration * float(self.rate))
        return 0


@dataclass
class DecodeReport:
    frames: int = 0
    errors: int = 0
    stopped_early: bool = False
    last_time: float | None = None  # timestamp of the last decoded frame, seconds


# --- classification ----------------------------------------------------------------------


def kind_of(path: Path) -> str:
    """'image' or 'video', judged from the name and, failing that, from the content."""
    if not path.exists():
        raise StylecamError(f"input not found: {path}")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    from PIL import Image
    try:
        with Image.open(path):
            return "image"
    except Exception:
        pass
    try:
        import av
        with av.open(str(path)) as c:
            if c.streams.video:
                return "video"
    except Exception:
        pass
    raise StylecamError(f"not an image or video: {path}")


# --- still images ------------------------------------------------------------------------


@dataclass
class StillImage:
    rgb: np.ndarray
    alpha: np.ndarray | None  # kept and re-attached on output
    icc_profile: bytes | None
    grayscale: bool


def read_image(path: Path, check_size: Callable[[int, int], None] | None = None) -> StillImage:
    """Decode an image upright (EXIF orientation applied), as RGB plus optional alpha.

    `check_size(width, height)` runs on the header's size, before the pixels are decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size limit below says it in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(path)
        with img:
            if check_size is not None:
                check_size(*img.size)
            img = ImageOps.exif_transpose(img)
            img.load()
    except FileNotFoundError:
        raise StylecamError(f"input not found: {path}") from None
    except Image.DecompressionBombError as exc:  # Pillow's guard against a tiny file claiming a huge image
        raise StylecamError(f"cannot read image {path}: {_first_sentence(exc)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise StylecamError(f"cannot read image {path}: {exc}") from None
    icc = img.info.get("icc_profile")
    alpha = None
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3].copy()
        rgb = np.asarray(rgba.convert("RGB"))
    elif mode == "CMYK":
        rgb = np.asarray(img.convert("RGB"))
        icc = None  # the profile describes CMYK, not the RGB we write
    elif mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        gray = np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"))
    return StillImage(np.ascontiguousarray(rgb), alpha, icc, grayscale=mode in ("L", "LA", "1", "I;16", "I"))


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(", could be")[0]


def write_image(path: Path, rgb: np.ndarray, like: StillImage | None = None, quality: int = defaults.JPEG_QUALITY,
                overwrite: bool = False) -> None:
    """Write atomically. Alpha comes back where the format can hold it; JPEG gets none."""
    from PIL import Image

    img = Image.fromarray(rgb, "RGB")
    suffix = path.suffix.lower()
    if like is not None and like.alpha is not None and suffix in (".png", ".webp", ".tif", ".tiff"):
        img.putalpha(Image.fromarray(like.alpha, "L"))
    options: dict[str, Any] = {}
    if suffix in (".jpg", ".jpeg", ".webp"):
        options["quality"] = quality
    if like is not None and like.icc_profile:
        options["icc_profile"] = like.icc_profile
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise StylecamError(f"unsupported image output format {suffix!r}")
    with AtomicOutput(path, overwrite) as tmp:
        img.save(tmp, format=fmt, **options)


# --- outputs -----------------------------------------------------------------------------


def check_output(target: Path, inputs: list[Path], overwrite: bool) -> None:
    """Fail before any work: same as an input, exists without -y, or not writable."""
    resolved = target.resolve()
    for src in inputs:
        if src.exists() and resolved == src.resolve():
            raise StylecamError(f"output {target} is the input file; choose another output path")
    if target.exists() and target.is_dir():
        raise StylecamError(f"output {target} is a folder")
    if target.exists() and not overwrite:
        raise StylecamError(f"output {target} exists; use -y/--overwrite to replace it")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise StylecamError(f"output folder does not exist: {parent}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylecam-write-test.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StylecamError(f"cannot write to {parent}: {exc.strerror or exc}") from None


# --- video sources -----------------------------------------------------------------------


class TimestampOrder:
    """Assigns ascending timestamps to frames in decoder output order.

    Some files carry B-frame timestamps that are not in display order (the decoder outputs
    frames in the right order, with scrambled pts). A small heap restores ascending order;
    missing or repeated timestamps are filled in from the frame duration.
    """

    def __init__(self, step: int, window: int = 16):
        self.step = max(1, step)
        self.window = window
        self.heap: list[int] = []
        self.last: int | None = None

    def push(self, pts: int | None) -> list[int]:
        if pts is None:
            pts = (max(self.heap) if self.heap else (self.last if self.last is not None else -self.step)) + self.step
        heapq.heappush(self.heap, pts)
        return [self._pop()] if len(self.heap) > self.window else []

    def flush(self) -> list[int]:
        return [self._pop() for _ in range(len(self.heap))]

    def _pop(self) -> int:
        pts = heapq.heappop(self.heap)
        if self.last is not None and pts <= self.last:
            pts = self.last + 1  # keep strictly increasing for the muxer
        self.last = pts
        return pts


class VideoSource:
    """Decodes a video file with PyAV; frames come in display order with fixed-up pts."""

    def __init__(self, path: Path):
        import av

        self.path = path
        self.report = DecodeReport()
        try:
            self.container = av.open(str(path), metadata_errors="ignore")
        except FileNotFoundError:
            raise StylecamError(f"input not found: {path}") from None
        except av.error.FFmpegError as exc:
            raise StylecamError(f"cannot open video {path}: {exc.strerror or exc}") from None
        if not self.container.streams.video:
            self.container.close()
            raise StylecamError(f"no video stream in {path}")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        cc = self.stream.codec_context
        audio = None
        if self.container.streams.audio:
            a = self.container.streams.audio[0]
            if a.codec_context is not None:
                audio = AudioInfo(a.codec_context.name, a.codec_context.channels, a.codec_context.sample_rate)
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.info = VideoInfo(
            width=cc.width, height=cc.height, rate=Fraction(rate) if rate else None,
            time_base=Fraction(self.stream.time_base or Fraction(1, 90000)), frame_count=self.stream.frames or 0,
            audio=audio,
            start_time=(self.container.start_time or 0) / 1_000_000,
            duration=_duration(self.stream, self.container),
        )
        self._first: Any = None

    def _frame_step(self) -> int:
        if self.info.rate:
            return max(1, round(1 / (self.info.rate * self.info.time_base)))
        return 1

    def _decoded(self) -> Iterator[Any]:
        """Decoded av.VideoFrames; damaged packets are skipped, a broken tail ends the stream."""
        import av

        try:
            for packet in self.container.demux(self.stream):
                # the demuxer ends with an empty packet, which drains the decoder
                try:
                    yield from packet.decode()
                except av.error.InvalidDataError:
                    self.report.errors += 1
            return
        except av.error.FFmpegError:
            self.report.stopped_early = True
        try:
            yield from self.stream.decode(None)  # demuxing broke off: drain what the decoder holds
        except av.error.FFmpegError:
            pass

    def peek_rotation(self) -> int:
        """Decode the first frame to learn the display rotation; it is kept for iteration."""
        if self._first is None:
            self._iter = self._decoded()
            self._first = next(self._iter, False)
            if self._first is not False:
                self.info.rotation = int(getattr(self._first, "rotation", 0) or 0) % 360
        return self.info.rotation

    def __iter__(self) -> Iterator[Frame]:
        self.peek_rotation()
        order = TimestampOrder(self._frame_step())
        pending: list[np.ndarray] = []
        index = 0
        frames = ([self._first] if self._first is not False else [])
        tb = self.info.time_base

        def stream() -> Iterator[Any]:
            yield from frames
            yield from self._iter

        for vf in stream():
            if vf.width != self.info.width or vf.height != self.info.height:
                # mid-stream size changes: keep the output size constant
                vf = vf.reformat(width=self.info.width, height=self.info.height)
            pending.append(vf.to_ndarray(format="rgb24"))
            if vf.pts is not None:
                t = float(vf.pts * tb)
                self.report.last_time = t if self.report.last_time is None else max(self.report.last_time, t)
            for pts in order.push(vf.pts):
                yield Frame(pending.pop(0), index, pts, float(pts * tb))
                index += 1
        for pts in order.flush():
            yield Frame(pending.pop(0), index, pts, float(pts * tb))
            index += 1
        self.report.frames = index

    def close(self) -> None:
        self.container.close()


def _duration(stream: Any, container: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000


class OpenCVVideoSource:
    """Fallback decoder for files PyAV cannot open; no audio, timestamps from the rate."""

    def __init__(self, path: Path):
        import cv2

        self.path = path
        self.report = DecodeReport()
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise StylecamError(f"cannot open video {path}")
        fps = self.cap.get(cv2.CAP_PROP_FPS) or 0
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        w, h = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = VideoInfo(width=w, height=h, rate=rate, time_base=1 / rate,
                              frame_count=max(0, int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)))

    def peek_rotation(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        index, rate = 0, self.info.rate or Fraction(25)
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                break
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, index, float(index / rate))
            index += 1
        self.report.frames = index

    def close(self) -> None:
        self.cap.release()


def open_video(path: Path) -> VideoSource | OpenCVVideoSource:
    """PyAV first; OpenCV when PyAV cannot open the file at all."""
    try:
        return VideoSource(path)
    except StylecamError as first:
        if not path.exists():
            raise
        try:
            return OpenCVVideoSource(path)
        except StylecamError:
            raise first from None


# --- video sink --------------------------------------------------------------------------


class AudioCopier:
    """Moves the input's first audio track into the output: copied when the container
    accepts the codec, re-encoded to AAC (same channels and rate) otherwise.

    It reads the input through its own demuxer, so the video pipeline never sees audio;
    `feed_until(t)` muxes everything up to video time t to keep the file interleaved.
    """

    def __init__(self, src_path: Path, output: Any, offset: float):
        import av

        self.input = av.open(str(src_path), metadata_errors="ignore")
        self.in_stream = self.input.streams.audio[0]
        self.output = output
        self.offset = offset
        self.copy = self.in_stream.codec_context.name in output.supported_codecs
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
        else:
            cc = self.in_stream.codec_context
            self.out_stream = output.add_stream("aac", rate=cc.sample_rate)
            self.out_stream.layout = cc.layout
            self.out_stream.bit_rate = 64_000 * max(2, cc.channels)
            self.resampler = av.AudioResampler(format=self.out_stream.format, layout=cc.layout,
                                               rate=cc.sample_rate, frame_size=1024)  # AAC frames hold 1024 samples
        self.packets = self.input.demux(self.in_stream)
        self.done = False
        self.pending: Any = None

    def feed_until(self, t: float | None) -> None:
        import av

        while not self.done:
            if self.pending is None:
                try:
                    self.pending = next(self.packets)
                except (StopIteration, av.error.FFmpegError):
                    self.done = True
                    break
            packet = self.pending
            if packet.pts is not None and t is not None and float(packet.pts * packet.time_base) - self.offset > t:
                return
            self.pending = None
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's flush packet
            self._write(packet)
        if t is None:
            self._flush_encoder()

    def _write(self, packet: Any) -> None:
        import av

        shift = round(self.offset / packet.time_base)
        if self.copy:
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            if (packet.dts if packet.dts is not None else packet.pts or 0) < 0:
                return  # before the video starts
            packet.stream = self.out_stream
            self.output.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            return
        for frame in frames:
            if frame.pts is not None:
                frame.pts -= shift
                if frame.pts < 0:
                    continue
            for chunk in self.resampler.resample(frame):
                self.output.mux(self.out_stream.encode(chunk))

    def _flush_encoder(self) -> None:
        if not self.copy:
            for chunk in self.resampler.resample(None):
                self.output.mux(self.out_stream.encode(chunk))
            self.output.mux(self.out_stream.encode(None))

    def close(self) -> None:
        self.input.close()


class VideoSink:
    """H.264 file writer mirroring the source's size, timestamps, rotation and audio."""

    def __init__(self, target: Path, info: VideoInfo, audio_from: Path | None = None, crf: int = defaults.CRF,
                 preset: str = defaults.PRESET, overwrite: bool = False):
        import av

        suffix = target.suffix.lower()
        if suffix not in VIDEO_OUTPUT_SUFFIXES:
            raise StylecamError(f"unsupported video output {suffix or '(no extension)'}; "
                                f"use one of {', '.join(sorted(VIDEO_OUTPUT_SUFFIXES))}")
        self.target = target
        self.info = info
        self._atomic = AtomicOutput(target, overwrite)
        self.tmp = self._atomic.tmp
        fmt = {".mkv": "matroska", ".mov": "mov"}.get(suffix, "mp4")
        # faststart moves the index to the front so web players can start before the download ends
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self.audio: AudioCopier | None = None
        self.container: Any = None
        try:
            self.container = av.open(str(self.tmp), "w", format=fmt, options=options)
            self._add_streams(info, audio_from, crf, preset)
        except BaseException:
            self.abort()
            raise
        self.offset = round(info.start_time / info.time_base) if info.time_base else 0
        self.frames = 0
        self.last_time = 0.0

    def _add_streams(self, info: VideoInfo, audio_from: Path | None, crf: int, preset: str) -> None:
        self.stream = self.container.add_stream("libx264", rate=info.rate or Fraction(25))
        self.stream.width, self.stream.height = info.width, info.height
        # 4:2:0 needs even sides; odd sizes keep every pixel with 4:4:4 (High 4:4:4 profile)
        self.even = info.width % 2 == 0 and info.height % 2 == 0
        self.stream.pix_fmt = "yuv420p" if self.even else "yuv444p"
        self.stream.time_base = info.time_base
        self.stream.codec_context.time_base = info.time_base
        self.stream.options = {"crf": str(crf), "preset": preset}
        if info.rotation:
            self.stream.set_display_rotation(info.rotation)
        if audio_from is not None and info.audio is not None:
            try:
                self.audio = AudioCopier(audio_from, self.container, info.start_time)
            except Exception as exc:  # an unreadable audio track must not cost the video
                warnings.warn(f"audio track not kept: {exc}", stacklevel=2)

    def write(self, frame: Frame) -> None:
        import av

        vf = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
        vf.pts = (frame.pts if frame.pts is not None else self.frames) - self.offset
        vf.time_base = self.info.time_base
        self.last_time = float(vf.pts * self.info.time_base)
        for packet in self.stream.encode(vf):
            self.container.mux(packet)
        if self.audio is not None:
            self.audio.feed_until(self.last_time)
        self.frames += 1

    def close(self) -> None:
        """Flush, finish the file and move it to the target."""
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.feed_until(None)
            self.container.close()
        except BaseException:
            self.abort()
            raise
        if self.audio is not None:
            self.audio.close()
            self.audio = None
        self._atomic.commit()

    def abort(self) -> None:
        """Drop the partial file; the target is untouched."""
        try:
            if self.container is not None:
                self.container.close()
        except Exception:
            pass
        if self.audio is not None:
            self.audio.close()
        self._atomic.abort()

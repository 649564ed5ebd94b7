"""Video file sources: PyAV decode (OpenCV fallback) in display order with fixed-up timestamps."""
from __future__ import annotations

import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StylecamError
from .frames import AudioInfo, Frame, VideoInfo


@dataclass
class DecodeReport:
    frames: int = 0
    errors: int = 0
    stopped_early: bool = False
    last_time: float | None = None  # timestamp of the last decoded frame, seconds


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


def cut_before_index(path: Path) -> bool:
    """An MP4/MOV (ISO media) file with no index (moov atom): a recording cut off before
    its end, where the index is written last. Without it the frames cannot be found."""
    boxes: list[bytes] = []
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            at = 0
            while at + 8 <= end and len(boxes) < 1000:
                f.seek(at)
                head = f.read(16)
                size, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if size == 1 and len(head) == 16:
                    size = int.from_bytes(head[8:16], "big")
                boxes.append(kind)
                if size < 8:  # 0: the box runs to the end of the file (never closed)
                    break
                at += size
    except OSError:
        return False
    return bool(boxes) and boxes[0] == b"ftyp" and b"moov" not in boxes and b"moof" not in boxes


def open_video(path: Path) -> VideoSource | OpenCVVideoSource:
    """PyAV first; OpenCV when PyAV cannot open the file at all."""
    try:
        return VideoSource(path)
    except StylecamError as first:
        if not path.exists():
            raise
        if cut_before_index(path):
            raise StylecamError(f"cannot read {path}: the file is cut off before its index (moov atom); "
                                "such a recording cannot be read") from None
        try:
            return OpenCVVideoSource(path)
        except StylecamError:
            raise first from None

"""H.264 file sink: written to a temp file beside the target, renamed into place when complete,
so a failure or Ctrl+C never leaves a half-written file at the target."""
from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

from .. import defaults
from ..atomic import AtomicOutput, write_error
from ..errors import StylecamError
from .audio import AudioCopier
from .frames import Frame, VideoInfo
from .paths import VIDEO_OUTPUT_SUFFIXES
from .yuv import video_frame


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
        except OSError as exc:
            self.abort()
            raise write_error(target, exc) from None
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
        vf = video_frame(frame.image, self.stream.pix_fmt)
        vf.pts = (frame.pts if frame.pts is not None else self.frames) - self.offset
        vf.time_base = self.info.time_base
        self.last_time = float(vf.pts * self.info.time_base)
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.feed_until(self.last_time)
        except OSError as exc:  # a full disk; the caller aborts, which drops the temp file
            raise write_error(self.target, exc) from None
        self.frames += 1

    def close(self) -> None:
        """Flush, finish the file and move it to the target."""
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.feed_until(None)
            self.container.close()
        except OSError as exc:  # also the faststart pass, which rewrites the whole file
            self.abort()
            raise write_error(self.target, exc) from None
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

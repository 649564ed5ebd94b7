"""Media in and out: still images, video files (PyAV, OpenCV fallback), audio, outputs.

A source yields `Frame`s (uint8 HxWx3 RGB + timestamp) and describes what a sink needs to
mirror: size, rate, time base, rotation, audio. Sinks write to a temp file beside the
target and rename it into place only when complete.
"""
from __future__ import annotations

from .audio import AudioCopier
from .decode import DecodeReport, OpenCVVideoSource, TimestampOrder, VideoSource, open_video
from .encode import VideoSink
from .frames import AudioInfo, Frame, VideoInfo
from .images import StillImage, read_image, write_image
from .paths import (IMAGE_OUTPUT_SUFFIXES, IMAGE_SUFFIXES, VIDEO_OUTPUT_SUFFIXES, VIDEO_SUFFIXES, check_output,
                    kind_of)

__all__ = ["AudioCopier", "AudioInfo", "DecodeReport", "Frame", "IMAGE_OUTPUT_SUFFIXES", "IMAGE_SUFFIXES",
           "OpenCVVideoSource", "StillImage", "TimestampOrder", "VIDEO_OUTPUT_SUFFIXES", "VIDEO_SUFFIXES",
           "VideoInfo", "VideoSink", "VideoSource", "check_output", "kind_of", "open_video", "read_image",
           "write_image"]

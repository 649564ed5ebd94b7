"""What flows from a video source to a sink: frames, and the stream description a sink mirrors."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


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

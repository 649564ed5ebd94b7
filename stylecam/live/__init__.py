"""Live mode: a camera or network source, newest-frame-wins inference, any set of sinks:
sources (`sources`), sinks (`sinks`, the preview `window`) and the capture + inference
loop (`loop`).
"""
from __future__ import annotations

from .loop import EngineOptions, LiveLoop, LiveStats
from .sinks import RecordSink, Sink, StreamSink, VirtualCamSink
from .sources import (LIVE_PREFIXES, CameraSource, LiveFrame, LiveSource, SourceLost, StreamSource, check_url,
                      probe_cameras)
from .window import WindowSink, open_display

__all__ = ["LIVE_PREFIXES", "CameraSource", "EngineOptions", "LiveFrame", "LiveLoop", "LiveSource", "LiveStats",
           "RecordSink", "Sink", "SourceLost", "StreamSink", "StreamSource", "VirtualCamSink", "WindowSink",
           "check_url", "open_display", "probe_cameras"]

"""Live mode: a camera or network source, newest-frame-wins inference, any set of sinks.

`run(LiveOptions(...))` assembles and runs a session: sources (`sources`), sinks
(`sinks`, the preview `window`), the capture + inference loop (`loop`), and the
assembly itself (`session`).
"""
from __future__ import annotations

from .governor import WorkSizeGovernor
from .loop import EngineOptions, LiveLoop, LiveStats
from .session import LiveOptions, LiveResult, run
from .sinks import RecordSink, Sink, StreamSink, VirtualCamSink
from .sources import (LIVE_PREFIXES, CameraSource, LiveFrame, LiveSource, SourceLost, StreamSource, check_url,
                      probe_cameras)
from .window import WindowSink, open_display

__all__ = ["LIVE_PREFIXES", "CameraSource", "EngineOptions", "LiveFrame", "LiveLoop", "LiveOptions", "LiveResult",
           "LiveSource", "LiveStats", "RecordSink", "Sink", "SourceLost", "StreamSink", "StreamSource",
           "VirtualCamSink", "WindowSink", "WorkSizeGovernor", "check_url", "open_display", "probe_cameras", "run"]

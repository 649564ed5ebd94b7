"""The input's audio track carried into the output file (copied, or re-encoded to AAC)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


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

"""Reads an MPEG-TS stream from udp://HOST:PORT for a while and prints what arrived as JSON.

    python tests/udp_reader.py udp://127.0.0.1:PORT SECONDS
"""
from __future__ import annotations

import json
import sys
import time

import av


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    frames, size, times = 0, None, []
    deadline = time.monotonic() + seconds
    try:
        # a short probe: with FFmpeg's default (5 s of stream, or 20 frames) a slow stream is
        # all spent in the probe before the first frame is counted
        probe = {"probesize": "65536", "analyzeduration": "200000"}
        with av.open(url, options=probe, timeout=(seconds, 3.0)) as c:
            for packet in c.demux(video=0):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:  # a datagram lost on a busy machine: go on
                    continue
                for f in decoded:
                    frames += 1
                    size = (f.width, f.height)
                    times.append(time.monotonic())
                if time.monotonic() > deadline:
                    break
    except av.error.FFmpegError:
        pass  # the sender stopped: report what arrived
    # the rate of arrival, without the last frame: MPEG-TS ends a video packet when the next
    # one starts, so the last comes out only when the stream has gone silent (the timeout)
    steady = times[:-1] if len(times) > 2 else times
    span = steady[-1] - steady[0] if len(steady) > 1 else 0.0
    print(json.dumps({"frames": frames, "size": size, "fps": (len(steady) - 1) / span if span else 0.0}))


if __name__ == "__main__":
    main()

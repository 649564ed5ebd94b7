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
        with av.open(url, timeout=(seconds, 3.0)) as c:
            for f in c.decode(video=0):
                frames += 1
                size = (f.width, f.height)
                times.append(time.monotonic())
                if time.monotonic() > deadline:
                    break
    except av.error.FFmpegError:
        pass  # the sender stopped: report what arrived
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    print(json.dumps({"frames": frames, "size": size, "fps": (len(times) - 1) / span if span else 0.0}))


if __name__ == "__main__":
    main()

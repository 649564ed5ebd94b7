"""Live-source simulator: sends a moving test pattern as MPEG-TS over UDP at real-time pace.

    python tests/udp_sender.py udp://127.0.0.1:PORT SECONDS [WIDTH HEIGHT FPS]
"""
from __future__ import annotations

import sys
import time
from fractions import Fraction

import av
import numpy as np


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    w, h, fps = (int(v) for v in sys.argv[3:6]) if len(sys.argv) >= 6 else (320, 240, 25)
    out = av.open(url + "?pkt_size=1316", "w", format="mpegts")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
    yy, xx = np.mgrid[0:h, 0:w]
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        img = np.stack([(xx * 2 + i * 6) % 256, (yy * 3 + i * 2) % 256, ((xx + yy + i * 4) // 2) % 256], -1)
        frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        out.mux(stream.encode(frame))
        i += 1
        delay = start + i / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    out.mux(stream.encode())
    out.close()
    print(i)


if __name__ == "__main__":
    main()

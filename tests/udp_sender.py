"""Live-source simulator: sends a moving test pattern as MPEG-TS over UDP at real-time pace.

    python tests/udp_sender.py udp://127.0.0.1:PORT SECONDS [WIDTH HEIGHT FPS]

Prints "ready" when it starts sending and the number of frames sent at the end.

One second of the pattern is encoded before the first packet goes out (H.264, a keyframe
at its start) and its packets are sent in a loop with running timestamps; the pattern
moves by whole periods in that second, so the loop has no seam. Sending then costs next to
no CPU, like a camera on another machine: encoding 1280x720 at 30 fps while sending would
take about half of a 2-core CPU from the process under test.
"""
from __future__ import annotations

import sys
import time
from fractions import Fraction

import av
import numpy as np


def patterns(w: int, h: int, n: int) -> list[np.ndarray]:
    """n frames of colour ramps that shift by whole multiples of 256 levels over the n."""
    yy, xx = np.mgrid[0:h, 0:w]
    ramps = np.stack([xx * 2, yy * 3, (xx + yy) // 2], -1)
    return [((ramps + np.array([1, 2, 3]) * (256 * i // n)) % 256).astype(np.uint8) for i in range(n)]


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    w, h, fps = (int(v) for v in sys.argv[3:6]) if len(sys.argv) >= 6 else (320, 240, 25)
    out = av.open(url + "?pkt_size=1316", "w", format="mpegts")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    # no scene-cut keyframes: exactly one keyframe, at the start of the loop
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps), "sc_threshold": "0"}
    time_base = Fraction(1, fps)
    packets = []  # (payload, pts, dts, keyframe) of one second, in the codec's time base
    for i, image in enumerate([*patterns(w, h, fps), None]):  # None drains the encoder
        frame = None
        if image is not None:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, time_base
        packets += [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in stream.encode(frame)]
    assert len(packets) == fps and packets[0][3], "zerolatency: one packet a frame, a keyframe first"
    print("ready", flush=True)  # encoded: sending starts now
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        payload, pts, dts, key = packets[sent % len(packets)]
        offset = (sent // len(packets)) * fps
        packet = av.Packet(payload)
        packet.pts, packet.dts, packet.time_base = pts + offset, dts + offset, time_base
        packet.is_keyframe = key
        packet.stream = stream
        out.mux(packet)
        sent += 1
        delay = start + sent / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    out.close()
    print(sent)


if __name__ == "__main__":
    main()

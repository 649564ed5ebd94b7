"""Live latency and fps at 640x360: a real MPEG-TS stream over UDP on 127.0.0.1 (sent at
real-time pace by tests/udp_sender.py in another process) through `stylecam` live mode.

    python -m benchmarks.live [--style mosaic] [--seconds 20] [--fps 30] [--write]
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys

from stylecam import styles

from .common import ROOT, command_line, write_section


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = command_line(__doc__, "benchmarks.live", shared=False)
    p.add_argument("--style", default="mosaic")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    rows = []
    runs = [("best", "none"), ("best", "flow")]
    if styles.variant_path(styles.resolve(args.style), ".fast"):
        runs += [("fast", "none"), ("fast", "flow")]
    for quality, smooth in runs:
        port = free_port()
        sender = subprocess.Popen([sys.executable, str(ROOT / "tests" / "udp_sender.py"), f"udp://127.0.0.1:{port}",
                                   str(args.seconds + 6), "640", "360", str(args.fps)], stdout=subprocess.DEVNULL)
        try:
            r = subprocess.run([sys.executable, "-m", "stylecam", f"udp://127.0.0.1:{port}", "--style", args.style,
                                "--no-window", "--stream", f"udp://127.0.0.1:{free_port()}", "--smooth", smooth,
                                "--quality", quality, "--device", "cpu", "--duration", str(args.seconds), "--json"],
                               capture_output=True, text=True)
        finally:
            sender.kill()
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return 1
        live = json.loads(r.stdout)["live"]
        rows.append(f"| {args.style} | {quality} | {smooth} | {live['fps']} | {live['inference_ms_mean']} | "
                    f"{live['latency_ms_p50']} | {live['latency_ms_p95']} | {live['captured']} | {live['dropped']} |")
        print(rows[-1], flush=True)
    table = ("| style | net | smoothing | output fps | inference ms/frame | latency p50 ms | latency p95 ms | "
             "frames captured | stale frames dropped |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    if args.write:
        write_section("live", "## Live mode (`python -m benchmarks.live`)\n\n"
                      f"640x360 MPEG-TS over UDP on 127.0.0.1 at {args.fps} fps (sender in another process), "
                      f"{args.seconds:g} s per row, output re-streamed as MPEG-TS (encode included). Latency = "
                      "frame decoded from the network -> stylized frame handed to the stream encoder.\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

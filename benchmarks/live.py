"""Live latency and fps: a real MPEG-TS stream over UDP on 127.0.0.1 (sent at real-time
pace by tests/udp_sender.py in another process, which loops one pre-encoded second so it
costs next to no CPU) through `stylecam` live mode with its defaults (on a CPU the default
work size), at each size in --sizes: 640x360 and 1280x720, a webcam's usual mode.

    python -m benchmarks.live [--style mosaic] [--sizes 640x360,1280x720] [--seconds 20] [--fps 30]
                              [--threads N] [--write]

--threads N runs the CLI with `--threads N` (onnxruntime's intra-op threads per inference
call; default: the CLI's own, the cores shared among its two inference workers), to
compare thread budgets.
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


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """"640x360,1280x720" -> [(640, 360), (1280, 720)]."""
    sizes = []
    for part in text.split(","):
        w, _, h = part.strip().partition("x")
        if not (w.isdigit() and h.isdigit()) or int(w) < 16 or int(h) < 16:
            raise ValueError(f"a size is WIDTHxHEIGHT, at least 16x16: {part!r}")
        sizes.append((int(w), int(h)))
    return sizes


def run_row(style: str, size: tuple[int, int], fps: int, seconds: float, quality: str, smooth: str,
            threads: int | None = None) -> dict:
    """One live session on a fresh stream: the CLI's --json summary."""
    port = free_port()
    sender = subprocess.Popen([sys.executable, str(ROOT / "tests" / "udp_sender.py"), f"udp://127.0.0.1:{port}",
                               str(seconds + 10), str(size[0]), str(size[1]), str(fps)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert sender.stdout is not None
        if sender.stdout.readline().strip() != "ready":  # the loop is encoded: packets flow from now on
            raise RuntimeError("the UDP sender did not start")
        r = subprocess.run([sys.executable, "-m", "stylecam", f"udp://127.0.0.1:{port}", "--style", style,
                            "--no-window", "--stream", f"udp://127.0.0.1:{free_port()}", "--smooth", smooth,
                            "--quality", quality, "--device", "cpu", "--duration", str(seconds), "--json",
                            *(["--threads", str(threads)] if threads else [])],
                           capture_output=True, text=True)
    finally:
        sender.kill()
        sender.wait()
    if r.returncode:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)


def painted_shape(size: tuple[int, int], work: int | str) -> str:
    """The WxH the net paints a frame of `size` at, for a work size as the CLI reports it."""
    if work == "full" or max(size) <= int(work):
        return f"{size[0]}x{size[1]}"
    from stylecam.upsample import work_shape

    h, w = work_shape(size[1], size[0], int(work))
    return f"{w}x{h}"


def main() -> int:
    p = command_line(__doc__, "benchmarks.live", shared=False)
    p.add_argument("--style", default="mosaic")
    p.add_argument("--sizes", default="640x360,1280x720", help="sizes the sender streams, WxH,... "
                   "(default 640x360,1280x720)")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None, help="the CLI's --threads (default: its own)")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        p.error(str(exc))
    runs = [("best", "none"), ("best", "flow")]
    if styles.variant_path(styles.resolve(args.style), ".fast"):
        runs += [("fast", "none"), ("fast", "flow")]
    rows = []
    for size in sizes:
        for quality, smooth in runs:
            try:
                result = run_row(args.style, size, args.fps, args.seconds, quality, smooth, args.threads)
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return 1
            live = result["live"]
            sizes_painted = [change["from"] for change in live.get("work_size_changes", [])] + [result["work_size"]]
            painted = " → ".join(painted_shape(size, work) for work in sizes_painted)
            settled = live.get("settled")
            at_last = f"{settled['fps']} / {settled['latency_ms_p95']} ({settled['seconds']:.0f} s)" if settled else "–"
            rows.append(f"| {size[0]}x{size[1]} | {args.style} | {quality} | {painted} | {smooth} | {live['fps']} | "
                        f"{live['inference_ms_mean']} | {live['latency_ms_p50']} | {live['latency_ms_p95']} | "
                        f"{at_last} | {live['captured']} | {live['dropped']} |")
            print(rows[-1], flush=True)
    table = ("| stream | style | net | net paints at | smoothing | output fps | inference ms/frame | latency p50 ms | "
             "latency p95 ms | at the last size: fps / p95 ms (for) | frames captured | stale frames dropped |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    if args.write:
        streams = ", ".join(f"{w}x{h}" for w, h in sizes)
        write_section("live", "## Live mode (`python -m benchmarks.live`)\n\n"
                      f"MPEG-TS over UDP on 127.0.0.1 at {args.fps} fps ({streams}; sender in another process, "
                      "looping one pre-encoded second of a moving pattern), "
                      f"{args.seconds:g} s per row, output re-streamed as MPEG-TS at the stream's size (encode "
                      "included). The CLI runs with its defaults apart from the net and smoothing"
                      + (f" and `--threads {args.threads}`" if args.threads else "") + ": on a CPU the net "
                      "paints at the default work size and its output is brought back to the stream's size by guided "
                      "upsampling, on the output thread while the inference workers (two on a CPU) paint the next "
                      "frames; it starts at 256 px and after its first second paints at the largest size up to "
                      "the default at which it predicts the CPU keeps up, and smaller again where it falls behind "
                      "the stream (`net paints at` lists each size it used; `stylecam.live.governor`); the figures "
                      "after the last change are in their own column, with how long the session ran at that size. "
                      "Inference = the net's part "
                      "(downscale and net) per frame, one call while the other worker's runs beside it. Latency = "
                      "frame decoded from the network -> stylized frame handed to the stream encoder.\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

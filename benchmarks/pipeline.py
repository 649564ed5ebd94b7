"""End-to-end CLI throughput vs inference-only throughput on the same 640x360 frames.

    python -m benchmarks.pipeline [--style mosaic] [--frames 48] [--batch 1] [--write]

The ratio shows how well decoding and encoding hide behind inference (goal >= 0.85).
The clip is the start of ../shared/clips/01_dog.mp4 scaled to 640x360 (video only).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, command_line, write_section


def make_clip(src: Path, dst: Path, frames: int, size=(640, 360)) -> None:
    """Scale the first `frames` frames of src to `size` into dst (H.264 + the audio span)."""
    import av

    decoded = []
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        for frame in inp.decode(vin):
            rgb = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
            decoded.append(rgb)
            out.mux(vout.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            if len(decoded) == frames:
                break
        out.mux(vout.encode())


def inference_only(clip: Path, style: str, batch: int, quality: str) -> int:
    """Decode the whole clip into memory, then time the engine alone; prints frames/s."""
    from stylecam import Stylizer
    from stylecam.io import open_video

    source = open_video(clip)
    frames = [f.image for f in source]
    source.close()
    engine = Stylizer(style, device="cpu", quality=quality)
    engine.stylize_batch(frames[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(frames), batch):
        engine.stylize_batch(frames[i:i + batch])
    print(len(frames) / (time.perf_counter() - t0))
    return 0


def main() -> int:
    p = command_line(__doc__, "benchmarks.pipeline")
    p.add_argument("--style", default="mosaic")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--quality", choices=("best", "fast"), default="best", help="which net of the style")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--inference-only", metavar="CLIP", help=argparse.SUPPRESS)
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    if args.inference_only:
        return inference_only(Path(args.inference_only), args.style, args.batch, args.quality)

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip640x360.mp4"
        make_clip(Path(args.shared) / "clips" / "01_dog.mp4", clip, args.frames)
        # Both measurements in fresh processes, alternating, best of --repeats each, so that
        # neither side inherits the other's threads or a warmer cache.
        infer_fps, job, wall = 0.0, None, float("inf")
        for _ in range(args.repeats):
            r = subprocess.run([sys.executable, "-m", "benchmarks.pipeline", "--inference-only", str(clip), "--style",
                                args.style, "--batch", str(args.batch), "--quality", args.quality],
                               capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            infer_fps = max(infer_fps, float(r.stdout.strip().splitlines()[-1]))
            out = Path(tmp) / "out.mp4"
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "stylecam", str(clip), "-o", str(out), "--style", args.style,
                                "--batch", str(args.batch), "--quality", args.quality, "--device", "cpu", "-q",
                                "--json",
                                "-y"],
                               capture_output=True, text=True)
            took = time.perf_counter() - t0
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            result = json.loads(r.stdout)["results"][0]
            if job is None or result["seconds"] < job["seconds"]:
                job = result
            wall = min(wall, took)
        frames = [None] * job["frames"]
    cli_fps = job["frames"] / job["seconds"]
    wall_fps = job["frames"] / wall
    ratio = cli_fps / infer_fps
    table = ("| style | net | frames | batch | inference only (fps) | CLI end to end (fps) | ratio | "
             "CLI incl. start-up (fps) |\n|---|---|---|---|---|---|---|---|\n"
             f"| {args.style} | {args.quality} | {len(frames)} | {args.batch} | {infer_fps:.2f} | {cli_fps:.2f} | "
             f"**{ratio:.2f}** | {wall_fps:.2f} |")
    print(table)
    if args.write:
        write_section("pipeline", "## Pipeline overlap (`python -m benchmarks.pipeline`)\n\n"
                      "640x360 H.264 clip (from `01_dog.mp4`), CPU. Ratio = CLI fps (decode + "
                      "inference + encode, from the CLI's own timing of the job) / inference-only fps "
                      "on the same decoded frames, each in a fresh process, best of two; the last column includes "
                      "process "
                      "start and model load. The CLI runs with its defaults (flow smoothing on the writer thread).\n\n"
                      + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

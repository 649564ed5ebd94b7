"""Train several styles at once on one lent GPU, inside one time-limited command.

Runs one `python -m training train` per style side by side (small nets leave a big GPU
mostly idle, so concurrent runs add up), each stopping at --steps or after --minutes with
a checkpoint. Then packs what must come back through the device tool's limits (at most 8
files of 16 MiB, 64 MiB in all) into --out:

    ckpt_N.tar    slim checkpoints (fp16 weights, no Adam state; ~3.4 MB per Johnson net),
                  at most 4 per tar; unpack and pass the folder as --resume-from next time
    logs.tar.gz   each run's log.csv, config.json, losses.png, last samples and stderr

    python3 training/recipes/gpu_train.py --bundle .gpu --minutes 8 --out $OUT candy mosaic
    python3 training/recipes/gpu_train.py ... -- --temporal-weight 60   # extra trainer flags

The bundle comes from training/recipes/gpu_bundle.py. Per-style loss weights follow the
CPU recipe's (models/README.md), with the painting at twice the size for twice the crop.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from training.loop import read_log, slim_checkpoint  # noqa: E402

# style -> (style weight, painting long side in px) for 256-px crops
WEIGHTS = {"mosaic": (0.25, 768)}
DEFAULT_WEIGHTS = (0.5, 512)
PER_TAR = 4


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("styles", nargs="+")
    p.add_argument("--bundle", type=Path, required=True, help="folder from gpu_bundle.py")
    p.add_argument("--out", type=Path, required=True, help="where the packed results go ($OUT on the device)")
    p.add_argument("--runs", type=Path, default=Path("/tmp/stylecam-runs"), help="run folders (scratch)")
    p.add_argument("--resume-from", type=Path, help="folder of <style>.pt slim checkpoints from an earlier call")
    p.add_argument("--minutes", type=float, default=8.0, help="time limit of each run")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--arch", default="johnson")
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=0, help="loader workers per run (0 = cores / runs)")
    args = p.parse_args(argv)

    workers = args.workers or max(1, (os.cpu_count() or 2) // len(args.styles) - 1)
    args.runs.mkdir(parents=True, exist_ok=True)
    procs = {}
    for style in args.styles:
        weight, side = WEIGHTS.get(style, DEFAULT_WEIGHTS)
        cmd = [sys.executable, "-m", "training", "train", "--style-image", str(args.bundle / "styles" / f"{style}.jpg"),
               "--data", str(args.bundle / "photos"), "--out", str(args.runs / style), "--arch", args.arch,
               "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
               "--style-weight", str(weight), "--style-size", str(side), "--vgg-weights", str(args.bundle / "vgg16.pth"),
               "--device", args.device, "--workers", str(workers), "--max-minutes", str(args.minutes),
               "--checkpoint-every", "1000", "--sample-every", "2000", "--log-every", "50", "--no-progress", *extra]
        resume = args.resume_from / f"{style}.pt" if args.resume_from else None
        if resume and resume.is_file():
            cmd += ["--resume", str(resume)]
        log = (args.runs / f"{style}.log").open("w")
        procs[style] = (subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log)
        print(f"started {style}: {' '.join(cmd[3:])}", flush=True)
    started = time.monotonic()
    failed = []
    for style, (proc, log) in procs.items():
        if proc.wait() != 0:
            failed.append(style)
        log.close()
    print(f"all runs ended after {time.monotonic() - started:.0f} s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    slims = []
    for style in args.styles:
        last = args.runs / style / "last.pt"
        if last.is_file():
            slims.append(slim_checkpoint(last, args.runs / f"{style}.pt"))
        log = args.runs / style / "log.csv"
        rows = read_log(log) if log.is_file() else []
        if rows:
            r = rows[-1]
            print(f"{style}: step {r['step']:.0f}, {r['images_per_s'] / args.batch_size:.1f} steps/s, "
                  f"content {r['content']:.3g} style {r['style']:.3g}")
        else:
            print(f"{style}: no log (see logs.tar.gz: {style}.log)")
    for n in range(0, len(slims), PER_TAR):
        with tarfile.open(args.out / f"ckpt_{n // PER_TAR}.tar", "w") as tar:
            for path in slims[n:n + PER_TAR]:
                tar.add(path, arcname=path.name)
    with tarfile.open(args.out / "logs.tar.gz", "w:gz") as tar:
        for style in args.styles:
            run = args.runs / style
            for name in ("log.csv", "config.json", "losses.png"):
                if (run / name).is_file():
                    tar.add(run / name, arcname=f"{style}/{name}")
            for sample in sorted((run / "samples").glob("*.png"))[-2:]:
                tar.add(sample, arcname=f"{style}/{sample.name}")
            tar.add(args.runs / f"{style}.log", arcname=f"{style}/train.log")
    if failed:
        print(f"failed: {', '.join(failed)} (their train.log is in logs.tar.gz)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

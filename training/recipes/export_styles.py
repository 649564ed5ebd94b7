"""Export trained runs to models/<style>.onnx with each painting's metadata.

    python training/recipes/export_styles.py RUNS_DIR [STYLE ...] [--notes TEXT] [--variant fast]

RUNS_DIR/<style>/last.pt (or RUNS_DIR/<style>.pt, a slim checkpoint unpacked from
gpu_train.py's tars) is exported for every style given (default: all ten), to
models/<style>.onnx, or models/<style>.fast.onnx with --variant fast (the net that
`--quality fast` runs).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from training.export import StyleCredits, default_parity_images, export_onnx  # noqa: E402

FNS = "jcjohnson/fast-neural-style images/styles"
PTE = "pytorch/examples fast_neural_style/images/style-images"
PAINTINGS = {
    "candy": ("Candy", "Candy", "unknown (abstract artwork)", PTE, "as in that repository"),
    "composition_vii": ("Composition VII", "Composition VII (1913)", "Wassily Kandinsky", FNS, "public domain"),
    "feathers": ("Feathers", "Feathers", "Leon Zernitsky", FNS, "as in that repository"),
    "la_muse": ("La Muse", "La Muse (1935)", "Pablo Picasso", FNS, "as in that repository"),
    "mosaic": ("Mosaic", "Mosaic", "unknown (mosaic artwork)", PTE, "as in that repository"),
    "rain_princess": ("Rain Princess", "Rain Princess", "Leonid Afremov", PTE, "as in that repository"),
    "starry_night": ("The Starry Night", "The Starry Night (1889)", "Vincent van Gogh", FNS, "public domain"),
    "the_scream": ("The Scream", "The Scream (1893)", "Edvard Munch", FNS, "public domain"),
    "udnie": ("Udnie", "Udnie (1913)", "Francis Picabia", PTE, "public domain"),
    "wave": ("The Great Wave", "The Great Wave off Kanagawa (c. 1831)", "Katsushika Hokusai", FNS, "public domain"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs")
    p.add_argument("styles", nargs="*")
    p.add_argument("--out", default=str(ROOT / "models"))
    p.add_argument("--notes", default="")
    p.add_argument("--variant", choices=("fast",), help="export as the style's fast net")
    p.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")))
    args = p.parse_args()
    for style in args.styles or sorted(PAINTINGS):
        display, painting, artist, source, terms = PAINTINGS[style]
        info = StyleCredits(name=style, display_name=display, painting=painting, artist=artist,
                            image_source=f"{source}/{style}.jpg", license=f"style image: {terms}")
        target = Path(args.out) / (f"{style}.{args.variant}.onnx" if args.variant else f"{style}.onnx")
        checkpoint = Path(args.runs) / style / "last.pt"
        if not checkpoint.is_file():
            checkpoint = Path(args.runs) / f"{style}.pt"
        errors = export_onnx(checkpoint, target, info,
                             parity_images=default_parity_images(Path(args.shared) / "photos" / "eval"),
                             notes=args.notes)
        print(f"{style}: parity max abs error {max(errors.values()):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

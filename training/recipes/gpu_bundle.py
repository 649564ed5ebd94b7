"""Pack what a GPU training run needs into one small folder that can travel with the repo.

The lent GPU machines take the working tree plus at most 64 MiB of carried paths, and
reach nothing else (no ../shared). This writes, into OUT (an ignored folder such as
`.gpu/`):

    OUT/photos/     a deterministic subset of photos/train, re-encoded (short side kept)
    OUT/styles/     the style images, long side at most --style-side px
    OUT/vgg16.pth   the loss network's weights in fp16 (half the size; the loader casts back)

and prints the total, which must leave room for the repo itself under the limit.

    python training/recipes/gpu_bundle.py ../shared .gpu [--photos 1200]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from training.data import list_images, load_rgb  # noqa: E402


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shared", type=Path, help="the shared data folder (../shared)")
    p.add_argument("out", type=Path, help="folder to write (keep it out of git: .git/info/exclude)")
    p.add_argument("--photos", type=int, default=1200, help="training photos to take (evenly spread)")
    p.add_argument("--quality", type=int, default=85, help="JPEG quality of the re-encoded photos")
    p.add_argument("--style-side", type=int, default=1024, help="long side of the style images")
    p.add_argument("--styles", default="", help="comma-separated subset (default: all)")
    args = p.parse_args()

    photos = list_images(args.shared / "photos" / "train")
    step = max(1, len(photos) // args.photos)
    chosen = photos[::step][: args.photos]
    (args.out / "photos").mkdir(parents=True, exist_ok=True)
    for src in chosen:
        load_rgb(src).save(args.out / "photos" / f"{src.stem}.jpg", quality=args.quality)

    (args.out / "styles").mkdir(exist_ok=True)
    wanted = set(filter(None, args.styles.split(",")))
    for src in sorted((args.shared / "styles").glob("*.jpg")):
        if not wanted or src.stem in wanted:
            load_rgb(src, args.style_side).save(args.out / "styles" / src.name, quality=95)

    state = torch.load(args.shared / "weights" / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth", map_location="cpu",
                       weights_only=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, args.out / "vgg16.pth")

    total = folder_bytes(args.out)
    print(f"{args.out}: {len(chosen)} photos, {len(list((args.out / 'styles').glob('*.jpg')))} styles, "
          f"VGG16 fp16; {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

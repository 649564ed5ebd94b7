"""Quality report for the bundled styles -> models/README.md (+ models/contact_sheet.png).

    python benchmarks/quality.py [--size 512] [--images 10] [--gatys-images 0] [--write]

For every style: mean content loss (VGG16 relu2_2 MSE to the photo) and style loss (Gram
MSE to the style image, summed over relu1_2/2_2/3_3/4_3, unweighted per layer) of our
net's output on ../shared/photos/eval, resized to --size on the long side. With
--gatys-images N, a Gatys et al. optimisation (L-BFGS on the pixels, started from the
photo, same losses and the model's own content/style weights) on the first N photos gives
the reference for what the loss can reach; it costs minutes per image on a CPU.
The contact sheet shows each style on amber.jpg and chicago.jpg next to the published
outputs of the pytorch/examples and Johnson et al. models for the same style.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, machine, write_block  # noqa: E402

sys.path.insert(0, str(ROOT))
from stylecam import Stylizer, list_styles  # noqa: E402
from stylecam.styles import variant_path  # noqa: E402
from training import losses  # noqa: E402
from training.data import load_rgb, to_tensor  # noqa: E402
from training.vgg import LossNetwork  # noqa: E402

MODELS_README = ROOT / "models" / "README.md"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu2_2"
# published outputs: style -> (pytorch/examples file, Johnson file)
PUBLISHED = {
    "candy": ("pytorch-examples/amber-candy.jpg", "johnson-instancenorm/chicago_candy.jpg"),
    "mosaic": ("pytorch-examples/amber-mosaic.jpg", "johnson-instancenorm/chicago_mosaic.jpg"),
    "udnie": ("pytorch-examples/amber-udnie.jpg", "johnson-instancenorm/chicago_udnie.jpg"),
    "rain_princess": ("pytorch-examples/amber-rain-princess.jpg", None),
    "the_scream": (None, "johnson-instancenorm/chicago_scream.jpg"),
    "feathers": (None, "johnson-instancenorm/chicago_feathers.jpg"),
    "la_muse": (None, "johnson-instancenorm/chicago_muse.jpg"),
    "starry_night": (None, "johnson-eccv16/chicago_starry_night.jpg"),
    "wave": (None, "johnson-eccv16/chicago_wave.jpg"),
    "composition_vii": (None, "johnson-eccv16/chicago_composition_vii.jpg"),
}


class Losses:
    def __init__(self, vgg: LossNetwork, style_image: Path, style_size: int):
        self.vgg = vgg
        with torch.no_grad():
            style = to_tensor(load_rgb(style_image, style_size))[None]
            self.grams = {k: losses.gram(v) for k, v in vgg(style, STYLE_LAYERS).items()}

    def __call__(self, image: torch.Tensor, content_feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.vgg(image)
        content = losses.content_loss(feats[CONTENT_LAYER], content_feat)
        style = sum(losses.style_loss(feats[k], self.grams[k]) for k in STYLE_LAYERS)
        return content, style


def gatys(photo: torch.Tensor, loss: Losses, content_feat, cw: float, sw: float, iters: int) -> torch.Tensor:
    x = photo.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        c, s = loss(x, content_feat)
        total = cw * c + sw * s
        total.backward()
        return total

    opt.step(closure)
    return x.detach().clamp(0, 255)


def tile(path: Path | None, height: int, label: str) -> Image.Image:
    if path is None or not path.is_file():
        img = Image.new("RGB", (height, height), (235, 235, 235))
    else:
        img = Image.open(path).convert("RGB")
        img = img.resize((round(img.width * height / img.height), height), Image.LANCZOS)
    ImageDraw.Draw(img).text((6, 4), label, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def contact_sheet(shared: Path, styles: list, out: Path, nets: dict[str, Callable] | None = None,
                  height: int = 200) -> None:
    """One row per style: the painting, then for amber.jpg and chicago.jpg our nets' outputs
    (`nets`: column label -> StyleInfo -> Stylizer) beside the published output."""
    nets = nets or {"stylecam": lambda info: Stylizer(info.path, device="cpu")}
    ref = shared / "reference"
    amber, chicago = ref / "pytorch-examples" / "amber.jpg", ref / "johnson-eccv16" / "chicago.jpg"
    rows = []
    tmp = out.parent / ".sheet_tmp"
    tmp.mkdir(exist_ok=True)
    for info in styles:
        engines = {label: make(info) for label, make in nets.items()}
        row = [tile(shared / "styles" / f"{info.name}.jpg", height, f"{info.name} (painting)")]
        for content, published, source in zip((amber, chicago), PUBLISHED.get(info.name, (None, None)),
                                              ("pytorch/examples", "Johnson et al.")):
            img = np.asarray(load_rgb(content, 512))
            for label, engine in engines.items():
                p = tmp / f"{info.name}_{content.stem}_{len(row)}.png"
                Image.fromarray(engine.stylize(img)).save(p)
                row.append(tile(p, height, label))
            row.append(tile(ref / published if published else None, height, source))
        rows.append(row)
    widths = [max(r[i].width for r in rows) for i in range(len(rows[0]))]
    sheet = Image.new("RGB", (sum(widths) + (len(widths) - 1) * 6, len(rows) * (height + 6)), "white")
    for y, row in enumerate(rows):
        x = 0
        for i, t in enumerate(row):
            sheet.paste(t, (x, y * (height + 6)))
            x += widths[i] + 6
    sheet.save(out)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--images", type=int, default=10, help="eval photos per style")
    p.add_argument("--style-size", type=int, default=256, help="long side of the style image for the style loss")
    p.add_argument("--gatys-images", type=int, default=0)
    p.add_argument("--gatys-iters", type=int, default=100)
    p.add_argument("--gatys-size", type=int, default=0, help="long side for the Gatys comparison (default --size)")
    p.add_argument("--styles", default="", help="comma-separated subset")
    p.add_argument("--fast-only", action="store_true",
                   help="only the fast-net comparison (styles with a <name>.fast.onnx); leaves the main report alone")
    p.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")))
    p.add_argument("--write", action="store_true", help="write models/README.md's report and the contact sheet")
    args = p.parse_args()
    shared = Path(args.shared)
    vgg = LossNetwork.from_file(str(shared / "weights" / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth"), "caffe",
                                tuple(dict.fromkeys(STYLE_LAYERS + (CONTENT_LAYER,)))).eval()
    for q in vgg.parameters():
        q.requires_grad_(False)
    photos = sorted((shared / "photos" / "eval").glob("*.jpg"))[: args.images]
    styles = [s for s in list_styles() if not args.styles or s.name in args.styles.split(",")]
    if args.fast_only:
        styles = [s for s in styles if variant_path(s.path, ".fast")]
    rows, fast_rows = [], []
    for info in styles:
        t0 = time.time()
        loss = Losses(vgg, shared / "styles" / f"{info.name}.jpg", args.style_size)
        cw = float(info.training.get("content_weight", 1.0))
        sw = float(info.training.get("style_weight", 5.0))
        engine = Stylizer(info.path, device="cpu")
        fast_path = variant_path(info.path, ".fast")
        fast = Stylizer(fast_path, device="cpu") if fast_path else None
        ours_c, ours_s, g_c, g_s, o_c, o_s, f_c, f_s = [], [], [], [], [], [], [], []
        for i, photo_path in enumerate(photos):
            img = np.asarray(load_rgb(photo_path, args.size))
            photo = to_tensor(Image.fromarray(img))[None]
            with torch.no_grad():
                content_feat = vgg(photo, (CONTENT_LAYER,))[CONTENT_LAYER]
                out = to_tensor(Image.fromarray(engine.stylize(img)))[None]
                c, s = loss(out, content_feat)
            ours_c.append(float(c))
            ours_s.append(float(s))
            if fast is not None:
                with torch.no_grad():
                    c, s = loss(to_tensor(Image.fromarray(fast.stylize(img)))[None], content_feat)
                f_c.append(float(c))
                f_s.append(float(s))
            if i < args.gatys_images:
                gsize = args.gatys_size or args.size
                gimg = np.asarray(load_rgb(photo_path, gsize))
                gphoto = to_tensor(Image.fromarray(gimg))[None]
                with torch.no_grad():
                    gfeat = vgg(gphoto, (CONTENT_LAYER,))[CONTENT_LAYER]
                    c, s = loss(to_tensor(Image.fromarray(engine.stylize(gimg)))[None], gfeat)
                o_c.append(float(c))
                o_s.append(float(s))
                x = gatys(gphoto, loss, gfeat, cw, sw, args.gatys_iters)
                with torch.no_grad():
                    c, s = loss(x, gfeat)
                g_c.append(float(c))
                g_s.append(float(s))
        row = {"style": info.name, "content": np.mean(ours_c), "style_loss": np.mean(ours_s),
               "steps": info.training.get("trained_steps", "?"), "crop": info.training.get("image_size", "?"),
               "weights": f"{cw:g}/{sw:g}"}
        if g_c:
            n = len(g_c)
            row |= {"g_content": np.mean(g_c), "g_style": np.mean(g_s),
                    "r_content": np.mean(o_c) / np.mean(g_c), "r_style": np.mean(o_s) / np.mean(g_s)}
        rows.append(row)
        if f_c:
            fi = fast.info.training
            fast_rows.append(
                f"| {info.name} | `{fast.model_path.name}` ({fi.get('arch', '?')}, {fi.get('trained_steps', '?')} steps) | "
                f"{info.training.get('arch', '?')} {row['steps']} steps | {np.mean(f_c):.4g} | {np.mean(f_s):.4g} | "
                f"{row['content']:.4g} | {row['style_loss']:.4g} | **{np.mean(f_c) / row['content']:.2f}** | "
                f"**{np.mean(f_s) / row['style_loss']:.2f}** |")
            print(fast_rows[-1], flush=True)
        print(f"{info.name}: {row} ({time.time() - t0:.0f}s)", flush=True)

    head = ("| style | trained steps | crop px | content/style weight | content loss | style loss |"
            + (" Gatys content | Gatys style | ours/Gatys content | ours/Gatys style |" if args.gatys_images else "")
            + "\n|---|---|---|---|---|---|" + ("---|---|---|---|" if args.gatys_images else ""))
    lines = [head]
    for r in rows:
        line = (f"| {r['style']} | {r['steps']} | {r['crop']} | {r['weights']} | {r['content']:.4g} | "
                f"{r['style_loss']:.4g} |")
        if "g_content" in r:
            line += f" {r['g_content']:.4g} | {r['g_style']:.4g} | {r['r_content']:.2f} | {r['r_style']:.2f} |"
        lines.append(line)
    table = "\n".join(lines)
    fast_table = ("| style | fast net | full net | fast content loss | fast style loss | full content loss | "
                  "full style loss | fast/full content | fast/full style |\n|---|---|---|---|---|---|---|---|---|\n"
                  + "\n".join(fast_rows))
    if not args.fast_only:
        print(table)
    if fast_rows:
        print(fast_table)
    if args.write and fast_rows:
        with_fast = [info for info in styles if variant_path(info.path, ".fast")]
        contact_sheet(shared, with_fast, ROOT / "models" / "contact_sheet_fast.png",
                      {"full net": lambda info: Stylizer(info.path, device="cpu"),
                       "fast net": lambda info: Stylizer(variant_path(info.path, ".fast"), device="cpu")})
        write_block(MODELS_README, "fast",
                    "## Fast nets against the full nets (`benchmarks/quality.py`)\n\n"
                    f"Same photos, sizes and losses as the quality report ({len(photos)} photos of `photos/eval`, "
                    f"{args.size} px). `--quality fast` (and `auto` on a CPU) runs the fast net; the goal is both "
                    f"ratios <= 1.25.\n\n{fast_table}\n\n"
                    "![full and fast nets side by side](contact_sheet_fast.png)\n\n"
                    f"_Machine: {machine()}._", "# Bundled styles\n")
    if args.write and not args.fast_only:
        contact_sheet(shared, styles, ROOT / "models" / "contact_sheet.png")
        gatys_note = (f"Gatys baseline: L-BFGS from the photo, {args.gatys_iters} iterations, first "
                      f"{args.gatys_images} photo(s) at {args.gatys_size or args.size} px, same losses and weights; "
                      "the ratio columns compare our net on the same photo at that size (the Gatys columns are at "
                      "that size too, so compare them only with each other)." if args.gatys_images else
                      "No Gatys baseline in this run (`--gatys-images 0`).")
        write_block(MODELS_README, "quality", "## Quality report (`benchmarks/quality.py`)\n\n"
                 f"{len(photos)} photos of `photos/eval`, long side {args.size} px; style target: the painting at "
                 f"{args.style_size} px long side. Losses on the Caffe VGG16 scale (0..255 BGR input), style loss "
                 f"summed over {', '.join(STYLE_LAYERS)} unweighted. {gatys_note}\n\n{table}\n\n"
                    f"![contact sheet](contact_sheet.png)\n\n_Machine: {machine()}._", "# Bundled styles\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

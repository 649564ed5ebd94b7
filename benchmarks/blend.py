"""A blend of two styles: mixed inside the net against mixing the two output pictures,
beside Gatys's optimised blend of the same paintings.

    python -m benchmarks.blend [--write]

Photo: golden_gate.jpg at 512 px; paintings: starry_night and the_scream; Gatys's
`golden_gate_starry_scream_5_5.png` (reference/gatys-neural-style) optimises the photo
against both paintings at once, weights 0.5 / 0.5: its target is the mean of the two
paintings' Gram matrices. Each picture is measured with the shared VGG16 at 512 px (as in
benchmarks.quality): content_rel, and style_ratio against that mean Gram target ("blend"),
against each painting alone, and `between`: how far the picture is from the nearer of the
two single styles, relative to how far those are from each other (0 = it is one of them).

  in the net   `stylecam PHOTO --style starry_night:0.5,the_scream:0.5`: the blend net,
               whose weights are the mean of the two nets' (models/blend.onnx)
  outputs      the same two nets run apart, their pictures averaged: what a mix of
               nets that do not share an ancestor falls back to

Writes BENCHMARKS.md (blend) and benchmarks/blend.jpg: photo | starry_night | in the net |
outputs mixed | Gatys | the_scream, then the blend net from 0 to 1 in steps of 0.25.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from stylecam import Stylizer
from stylecam.contract import FAST, MODEL_SUFFIX, variant_file
from stylecam.styles import bundled_dir
from training.data import load_rgb
from training.recipes import painting

from .common import command_line, loss_network, write_section
from .learn import GATYS
from .quality import SIZE, STYLE_LAYERS, Meter, contact_sheet, tile

PAIR = ("starry_night", "the_scream")
PHOTO, GATYS_BLEND = "golden_gate.jpg", "golden_gate_starry_scream_5_5.png"
SHEET = Path(__file__).resolve().parent / "blend.jpg"
HEADER = ("| picture | content_rel | style_ratio, blend target | starry_night | the_scream | between |\n"
          "|---|---|---|---|---|---|")


def stylize(style: str | dict[str, float], photo: Image.Image) -> Image.Image:
    return Image.fromarray(Stylizer(style, device="cpu", work_size="full").stylize(np.asarray(photo)))


def main() -> int:
    p = command_line(__doc__, "benchmarks.blend")
    p.add_argument("--write", action="store_true", help="write BENCHMARKS.md (blend) and benchmarks/blend.jpg")
    args = p.parse_args()
    shared = Path(args.shared)
    vgg = loss_network(shared, STYLE_LAYERS)
    photo = load_rgb(shared / GATYS / PHOTO, SIZE)
    a, b = PAIR
    net = stylize(f"{a}:0.5,{b}:0.5", photo)
    ends = {a: stylize(a, photo), b: stylize(b, photo)}
    # given by file, each net runs on its own and their pictures are averaged
    files = {s: str(bundled_dir() / variant_file(f"{s}{MODEL_SUFFIX}", FAST)) for s in PAIR}
    outputs = stylize({files[a]: 0.5, files[b]: 0.5}, photo)
    gatys = Image.open(shared / GATYS / GATYS_BLEND).convert("RGB")

    meters = {s: Meter(vgg, painting(shared, s)) for s in PAIR}
    mixed = Meter(vgg, painting(shared, a))
    mixed.grams = {k: 0.5 * meters[a].grams[k] + 0.5 * meters[b].grams[k] for k in STYLE_LAYERS}
    pictures = {a: ends[a], "in the net": net, "outputs mixed": outputs, "Gatys 5:5": gatys, b: ends[b]}
    images = list(pictures.values())  # each meter sees the photo once for all of them
    to_mix, to_a, to_b = mixed.each(photo, images), meters[a].each(photo, images), meters[b].each(photo, images)
    measured = {name: (m, ra[1], rb[1]) for name, m, ra, rb in zip(pictures, to_mix, to_a, to_b)}
    gap = abs(measured[a][1] - measured[b][1]) + abs(measured[a][2] - measured[b][2])
    lines = []
    for name, ((content, blend), style_a, style_b) in measured.items():
        between = min(abs(style_a - m[1]) + abs(style_b - m[2]) for m in (measured[a], measured[b])) / gap
        lines.append(f"| {name} | {content:.2f} | {blend:.3f} | {style_a:.3f} | {style_b:.3f} | {between:.2f} |")
    table = HEADER + "\n" + "\n".join(lines)
    print(table)
    if args.write:
        h = 256
        sweep = [tile(stylize({a: 1 - w, b: w}, photo), h, f"{a}:{1 - w:g},{b}:{w:g}") for w in (0, .25, .5, .75, 1)]
        top = [tile(photo, h, "photo")] + [tile(img, h, name) for name, img in pictures.items()]
        contact_sheet([top, sweep + [tile(None, h, "")]], SHEET)
        write_section("blend", "## A blend of two styles (`python -m benchmarks.blend`)\n\n"
                      "golden_gate.jpg at 512 px, starry_night and the_scream at 0.5 / 0.5: in the blend net (the "
                      "two nets' weights averaged, what `--style starry_night:0.5,the_scream:0.5` runs) against "
                      "the two nets' output pictures averaged, beside Gatys's optimised blend. content_rel and "
                      "style_ratio as in the quality report; the blend target is the mean of the two paintings' "
                      "Gram matrices (Gatys's objective); `between` is the distance in style_ratio to the nearer "
                      "single style relative to the distance between the two (0 = one of them).\n\n"
                      f"{table}\n\n![blend](benchmarks/blend.jpg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

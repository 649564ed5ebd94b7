"""Command line: `python -m training train|distil|soup|export|quantize|slim ...`."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from typing import Any, get_args, get_origin, get_type_hints

from .distil import DistilRecipe, distil
from .loop import TrainConfig, TrainingError, train
from .nets import PRESETS
from .vgg import WeightsError


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults only where there is a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, "", (), False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _csv(kind: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None
    return parse


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


class _Tuple(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, tuple(values))


def add_settings(parser: argparse.ArgumentParser, config: type) -> None:
    """One flag per field of the dataclass `config`, from its type, default and `setting()`
    metadata. A `tuple[X, ...]` is a comma-separated list, or separate values with nargs
    (--style-image A B C); a bool is a switch (--no-NAME sets False)."""
    hints = get_type_hints(config)
    groups: dict[str, Any] = {"": parser}
    for f in fields(config):
        if f.metadata["group"] not in groups:
            groups[f.metadata["group"]] = parser.add_argument_group(f.metadata["group"])
    order = list(groups)
    for f in sorted(fields(config), key=lambda f: order.index(f.metadata["group"])):  # usage line by group
        meta = f.metadata
        kind = hints[f.name]
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"] or None}
        if f.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        if kind in (bool, bool | None):
            kwargs |= {"action": "store_const", "const": not flag.startswith("--no-")}
        else:
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            if type(None) in get_args(kind):  # X | None -> X
                kind = next(k for k in get_args(kind) if k is not type(None))
            if get_origin(kind) is tuple and meta["nargs"]:
                kwargs |= {"nargs": meta["nargs"], "type": get_args(kind)[0], "action": _Tuple}
            elif get_origin(kind) is tuple:
                kwargs["type"] = _csv(get_args(kind)[0])
            elif kind is not str:
                kwargs["type"] = _positive(kind) if meta["positive"] else kind
        groups[meta["group"]].add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train fast feed-forward style-transfer nets and export them to stylecam's ONNX format.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a transform net for one style image",
                       formatter_class=_HelpFormatter,
                       description="Train a transform net (Johnson et al. 2016) with VGG16 perceptual losses. "
                                   "Writes checkpoints, log.csv, losses.png and samples/ to --out.")
    add_settings(t, TrainConfig)

    d = sub.add_parser("distil", help="distil a trained net into a smaller, faster one (minutes on a CPU)",
                       formatter_class=_HelpFormatter,
                       description="Teach a smaller net (--arch) to paint what a trained net paints, from its "
                                   "pictures of random crops (training/distil.py). Writes last.pt to --out, "
                                   "an ordinary checkpoint to export; running it again continues it.")
    d.add_argument("teacher", help="training checkpoint of the trained net (.pt)")
    d.add_argument("--data", required=True, help="folder of photos to crop")
    d.add_argument("--out", required=True, help="run folder (its last.pt is resumed)")
    recipe = DistilRecipe()
    d.add_argument("--arch", default=recipe.arch, choices=sorted(PRESETS), help="the student's net")
    d.add_argument("--steps", type=_positive(int), default=recipe.steps)
    d.add_argument("--batch-size", type=_positive(int), default=recipe.batch_size)
    d.add_argument("--image-size", type=_positive(int), default=recipe.image_size, help="crop side, px")
    d.add_argument("--lr", type=_positive(float), default=recipe.lr, help="Adam, cosine-annealed to 0")
    d.add_argument("--border", type=int, default=recipe.border,
                   help="px the runtime mirrors around each frame for the student; it learns clean edges with it")
    d.add_argument("--seed", type=int, default=recipe.seed)
    d.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    d.add_argument("--max-minutes", type=float, default=0.0, help="stop with a checkpoint after this long")
    d.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                   help="log lines instead of a progress bar")

    m = sub.add_parser("soup", help="average nets fine-tuned from one state (a model soup) into one checkpoint",
                       formatter_class=_HelpFormatter,
                       description="Average the weights of nets fine-tuned from the same state, by their shares "
                                   "(training/soup.py): a net between them, e.g. between two temporal weights. "
                                   "Writes an ordinary checkpoint to export or distil.")
    m.add_argument("parts", nargs="+", metavar="CHECKPOINT:SHARE",
                   help="a fine-tuned net and its share, e.g. runs/a/last.pt:0.7; the shares sum to 1")
    m.add_argument("--start", required=True, help="the checkpoint every part was fine-tuned from")
    m.add_argument("-o", "--output", required=True, help="checkpoint to write")

    e = sub.add_parser("export", help="export a checkpoint to ONNX for the stylecam runtime",
                       formatter_class=_HelpFormatter)
    e.add_argument("checkpoint", help="training checkpoint (.pt)")
    e.add_argument("-o", "--output", required=True, help="ONNX file to write, e.g. models/mosaic.onnx")
    e.add_argument("--name", help="style name (default: the output file's stem)")
    e.add_argument("--display-name", default="")
    e.add_argument("--painting", default="", help="title of the painting")
    e.add_argument("--artist", default="")
    e.add_argument("--image-source", default="", help="where the style image comes from")
    e.add_argument("--license", default="", help="terms of the style image")
    e.add_argument("--notes", default="", help="free text stored with the model")
    e.add_argument("--parity-images", default=None,
                   help="folder of real photos for the parity check (two are used besides random inputs)")
    e.add_argument("--fp16", action="store_true", help="also write NAME.fp16.onnx (for GPU providers)")
    e.add_argument("--style-index", type=int, default=None,
                   help="multi-style checkpoints: which of its paintings to export (0-based, in training order)")
    e.add_argument("--all-styles", action="store_true",
                   help="multi-style checkpoints: export every painting as one multi-style net (style weights as a "
                        "second input; each style named after its painting's file)")

    q = sub.add_parser("quantize", help="int8 static quantization of an exported model (CPU speed-up)",
                       formatter_class=_HelpFormatter)
    q.add_argument("model", help="exported ONNX model, e.g. models/mosaic.fast.onnx")
    q.add_argument("-o", "--output", help="default: MODEL with .int8.onnx, which the runtime prefers on CPU")
    q.add_argument("--calibration", required=True, help="folder of photos for calibration")
    q.add_argument("--images", type=int, default=16, help="calibration photos used")
    s = sub.add_parser("slim", help="small copy of a checkpoint (fp16 weights, no optimizer) to move or export",
                       formatter_class=_HelpFormatter)
    s.add_argument("checkpoint", help="training checkpoint (.pt), e.g. runs/mosaic/last.pt")
    s.add_argument("output", help="file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            train(TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)}))
        elif args.command == "distil":
            distil(args.teacher, args.data, args.out,
                   DistilRecipe(arch=args.arch, steps=args.steps, batch_size=args.batch_size,
                                image_size=args.image_size, lr=args.lr, border=args.border, seed=args.seed),
                   threads=args.threads, max_minutes=args.max_minutes, progress=args.progress)
        elif args.command == "soup":
            from .soup import parse_parts, soup
            out = soup(args.start, parse_parts(args.parts), args.output)
            print(f"wrote {out}: {' + '.join(args.parts)}")
        elif args.command == "slim":
            from .loop import slim_checkpoint
            out = slim_checkpoint(args.checkpoint, args.output)
            print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, fp16 weights, no optimizer state)")
        elif args.command == "quantize":
            from pathlib import Path

            from stylecam.contract import INT8, variant_file
            from stylecam.io import IMAGE_SUFFIXES

            from .quantize import quantize_int8
            out = args.output or str(Path(args.model).with_name(variant_file(Path(args.model).name, INT8)))
            photos = sorted(p for p in Path(args.calibration).glob("*")
                            if p.suffix.lower() in IMAGE_SUFFIXES)
            quantize_int8(args.model, out, photos[: args.images])
            print(f"wrote {out} (int8, calibrated on {min(len(photos), args.images)} photos)")
        else:
            from pathlib import Path

            from stylecam.contract import StyleInfo, style_name_of

            from .export import default_parity_images, export_onnx
            info = StyleInfo(name=args.name or style_name_of(Path(args.output).name), display_name=args.display_name,
                             painting=args.painting, artist=args.artist, image_source=args.image_source,
                             license=args.license)
            errors = export_onnx(args.checkpoint, args.output, info, fp16=args.fp16,
                                 parity_images=default_parity_images(args.parity_images), notes=args.notes,
                                 style=args.style_index, all_styles=args.all_styles)
            rounded = {k: round(v, 4) for k, v in errors.items()}
            print(f"wrote {args.output}; parity max abs error {json.dumps(rounded)}")
    except (TrainingError, WeightsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

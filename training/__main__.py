"""Command line: `python -m training train|export|quantize|slim ...`."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from .loop import TrainConfig, TrainingError, train
from .nets import PRESETS
from .vgg import RELU_INDEX, WeightsError

DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


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
    t.add_argument("--style-image", dest="style_images", nargs="+", required=True, metavar="IMAGE",
                   help="the painting or texture to learn; several train one multi-style net that shares "
                        "its convolutions and keeps a scale/shift per style in every instance norm")
    t.add_argument("--data", required=True, help="folder of training photos (e.g. COCO train2014)")
    t.add_argument("--out", required=True, help="run folder for checkpoints, logs and samples")
    g = t.add_argument_group("net")
    g.add_argument("--arch", default=DEFAULTS["arch"], choices=sorted(PRESETS),
                   help="transform net: johnson = classic (best quality), fast = CPU fast path")
    g = t.add_argument_group("schedule")
    g.add_argument("--steps", type=_positive(int), default=DEFAULTS["steps"], help="total optimizer steps")
    g.add_argument("--batch-size", type=_positive(int), default=DEFAULTS["batch_size"],
                   help="images per step (per process)")
    g.add_argument("--image-size", type=_positive(int), default=DEFAULTS["image_size"], help="training crop side, px")
    g.add_argument("--lr", type=_positive(float), default=DEFAULTS["lr"], help="Adam learning rate")
    g.add_argument("--grad-cap", type=float, default=DEFAULTS["grad_cap"],
                   help="cap each step's gradient norm at this multiple of its running average, so one freak "
                        "batch cannot undo a trained net (0 = off)")
    g.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed for init and data order")
    g = t.add_argument_group("loss")
    g.add_argument("--style-size", type=_positive(int), default=DEFAULTS["style_size"],
                   help="long side of the style image in px; smaller gives finer strokes")
    g.add_argument("--content-weight", type=float, default=DEFAULTS["content_weight"])
    g.add_argument("--style-weight", type=float, default=DEFAULTS["style_weight"])
    g.add_argument("--tv-weight", type=float, default=DEFAULTS["tv_weight"], help="total-variation smoothness")
    g.add_argument("--temporal-weight", type=float, default=DEFAULTS["temporal_weight"],
                   help="warp-equivariance loss for steadier video (0 = off; try 10..50)")
    g.add_argument("--content-layers", type=_csv(str), default=DEFAULTS["content_layers"],
                   help=f"comma-separated VGG relu layers; from {','.join(RELU_INDEX)}")
    g.add_argument("--style-layers", type=_csv(str), default=DEFAULTS["style_layers"])
    g.add_argument("--style-layer-weights", type=_csv(float), default=DEFAULTS["style_layer_weights"],
                   help="one weight per style layer (default all 1)")
    g = t.add_argument_group("loss network")
    g.add_argument("--vgg-weights", default=None,
                   help="VGG16 features state dict (.pth); without it torchvision's ImageNet weights are downloaded")
    g.add_argument("--vgg-convention", default=DEFAULTS["vgg_convention"], choices=["caffe", "torchvision"],
                   help="input convention of --vgg-weights: caffe = BGR 0..255 minus mean; "
                        "torchvision = RGB 0..1 mean/std normalised")
    g = t.add_argument_group("hardware")
    g.add_argument("--device", default=DEFAULTS["device"], help="auto, cpu, cuda or cuda:N")
    g.add_argument("--amp", default=DEFAULTS["amp"], choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision on CUDA (auto = bf16 where supported)")
    g.add_argument("--workers", type=int, default=DEFAULTS["workers"], help="DataLoader worker processes")
    g.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="torch CPU threads (0 = default)")
    g = t.add_argument_group("checkpoints and logs")
    g.add_argument("--checkpoint-every", type=_positive(int), default=DEFAULTS["checkpoint_every"])
    g.add_argument("--keep-checkpoints", type=int, default=DEFAULTS["keep_checkpoints"],
                   help="periodic step_*.pt files to keep besides last.pt (0 = all)")
    g.add_argument("--log-every", type=_positive(int), default=DEFAULTS["log_every"])
    g.add_argument("--sample-every", type=int, default=DEFAULTS["sample_every"], help="0 = only at the end")
    g.add_argument("--max-minutes", type=float, default=DEFAULTS["max_minutes"],
                   help="stop with a checkpoint after this many minutes (0 = no limit)")
    g.add_argument("--resume", metavar="CKPT", default=None,
                   help="continue from a checkpoint (e.g. RUN/last.pt); the loss settings must match")
    g.add_argument("--change-recipe", action="store_true",
                   help="resume even though loss settings differ from the checkpoint's; the earlier "
                        "settings are kept in the checkpoint and the exported model's metadata")
    g.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                   help="log lines instead of a progress bar")

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
            values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
            values["style_images"] = tuple(values["style_images"])
            train(TrainConfig(**values))
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
                                 style=args.style_index)
            rounded = {k: round(v, 4) for k, v in errors.items()}
            print(f"wrote {args.output}; parity max abs error {json.dumps(rounded)}")
    except (TrainingError, WeightsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

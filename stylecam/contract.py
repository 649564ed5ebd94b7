"""The style model contract, shared by the runtime and `training/` (so no heavy imports).

Contract (version 1), written by `training/export.py`:
  input  `input`:  float32 N,3,H,W, RGB, 0..255; N, H and W dynamic
  output `output`: float32 N,3,H,W, RGB, 0..255 (the runtime clips)
  H and W must be multiples of `stylecam.multiple` (the runtime pads and crops back).
  Optional `stylecam.border`: pixels the runtime mirrors around each frame first.
  `metadata_props` keys `stylecam.*` describe the style (name, painting, artist, ...): `StyleInfo`.

Multi-style nets (one set of convolutions with a scale/shift row per style in every norm,
or the weights of one-style nets of one ancestry mixed by the style weights, as the blend net):
  a second input `style_weights`: float32 1,S (S = the number of styles), applied to every
  frame of the batch; a one-hot row runs one style, a convex mix blends styles inside the net
  `stylecam.styles`: JSON list of S objects, each style's credits (name, display_name,
  painting, artist, image_source, license), in the order of the weights. The registry lists
  every one of them as a style; `stylecam.name` names the net itself.

Files: NAME.onnx is a style's full net and NAME.fast.onnx its small CPU net; a style may
have only its fast net. Either may have precision copies beside it, FILE.fp16.onnx (for
GPUs) and FILE.int8.onnx (for CPUs), e.g. NAME.fast.int8.onnx. `pick_model_file` says
which of them runs.
"""
from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .upsample import GUIDE_RADII, RADIUS

CONTRACT_VERSION = "1"
INPUT_NAME = "input"
OUTPUT_NAME = "output"
STYLE_WEIGHTS_NAME = "style_weights"  # multi-style nets only: float32 1,S
INPUT_CONVENTION = "RGB float32 NCHW 0..255"
OUTPUT_CONVENTION = "RGB float32 NCHW 0..255 (clip)"
DEFAULT_MULTIPLE = 4
MAX_BORDER = 64  # a larger border in a model's metadata is taken as this
MAX_MULTIPLE = 64  # and a larger multiple (padding every frame to 2048 pixels would run out of memory)
MODEL_SUFFIX = ".onnx"


class Key:
    """The `metadata_props` keys of a style model."""

    CONTRACT = "stylecam.contract"
    NAME = "stylecam.name"
    DISPLAY_NAME = "stylecam.display_name"
    PAINTING = "stylecam.painting"
    ARTIST = "stylecam.artist"
    IMAGE_SOURCE = "stylecam.image_source"
    LICENSE = "stylecam.license"
    INPUT = "stylecam.input"
    OUTPUT = "stylecam.output"
    MULTIPLE = "stylecam.multiple"
    BORDER = "stylecam.border"
    ARCH = "stylecam.arch"
    TRAINING = "stylecam.training"
    NOTES = "stylecam.notes"
    PRECISION = "stylecam.precision"
    STYLES = "stylecam.styles"  # multi-style nets: JSON list of each style's credits
    EDGE_BLUR = "stylecam.edge_blur"  # how soft the net paints edges, in px: stylecam.upsample
    GUIDE_RADIUS = "stylecam.guide_radius"  # the window guided upsampling fits over, in px: stylecam.upsample


CREDITS = ("name", "display_name", "painting", "artist", "image_source", "license")
PER_STYLE = CREDITS + ("edge_blur", "guide_radius")  # what a multi-style net says of each of its styles


@dataclass(frozen=True)
class StyleInfo:
    """Who and what a style is and how to run it: written into the model by the export,
    read back from its metadata by the runtime."""

    name: str
    path: Path | None = None  # the model file it was read from
    display_name: str = ""
    painting: str = ""
    artist: str = ""
    image_source: str = ""
    license: str = ""
    multiple: int = DEFAULT_MULTIPLE
    border: int = 0  # pixels mirrored around each frame before inference (nets with zero-padded convs)
    precision: str = "fp32"
    arch: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    # sigma, in px at the size the net paints, of the Gaussian as soft as the edges it paints;
    # guided upsampling gives back the frame's detail finer than it (stylecam.upsample)
    edge_blur: float = 0.0
    # the window, in px at the size the net paints, over which guided upsampling fits the
    # painting to the frame: one of upsample.GUIDE_RADII
    guide_radius: int = RADIUS
    # a multi-style net: each style's PER_STYLE fields, in the order of its style weights
    styles: tuple[StyleInfo, ...] = ()
    # a style of a multi-style net: its row (set by `member`, not stored in the metadata)
    index: int | None = None

    @property
    def title(self) -> str:
        return self.display_name or self.name

    @property
    def style_names(self) -> tuple[str, ...]:
        """The styles a multi-style net holds (empty for a one-style net)."""
        return tuple(s.name for s in self.styles)

    @property
    def temporal_weight(self) -> float:
        """The weight of the temporal loss the net was trained with (0: none, or not said)."""
        try:
            return float(self.training.get("temporal_weight", 0) or 0)
        except (TypeError, ValueError):
            return 0.0

    def member(self, index: int) -> StyleInfo:
        """Style `index` of this multi-style net: its credits and upsampling settings, the net's path and recipe."""
        credits = {k: getattr(self.styles[index], k) for k in PER_STYLE}
        return replace(self, **credits, index=index)

    def summary(self) -> str:
        """One line for --list-styles."""
        art = " — ".join(p for p in (self.painting, self.artist) if p)
        t = self.training
        recipe = ""
        if t:
            recipe = (f"trained {t.get('trained_steps', '?')} steps, {t.get('image_size', '?')} px crops, "
                      f"batch {t.get('batch_size', '?')}, arch {t.get('arch', '?')}")
        return "  ".join(p for p in (f"{self.name:<16}", art, f"[{recipe}]" if recipe else "") if p)

    def to_metadata(self) -> dict[str, str]:
        """The model's `metadata_props` (the path is not part of them)."""
        return {
            Key.CONTRACT: CONTRACT_VERSION,
            Key.NAME: self.name,
            Key.DISPLAY_NAME: self.display_name,
            Key.PAINTING: self.painting,
            Key.ARTIST: self.artist,
            Key.IMAGE_SOURCE: self.image_source,
            Key.LICENSE: self.license,
            Key.INPUT: INPUT_CONVENTION,
            Key.OUTPUT: OUTPUT_CONVENTION,
            Key.MULTIPLE: str(self.multiple),
            Key.BORDER: str(self.border),
            Key.ARCH: json.dumps(self.arch),
            Key.TRAINING: json.dumps(self.training),
            Key.NOTES: self.notes,
            Key.PRECISION: self.precision,
            Key.STYLES: json.dumps([{k: getattr(s, k) for k in PER_STYLE} for s in self.styles]),
            Key.EDGE_BLUR: str(self.edge_blur),
            Key.GUIDE_RADIUS: str(self.guide_radius),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], path: Path | None = None) -> StyleInfo:
        """Read `metadata_props` leniently: a missing or malformed value takes its default
        (the name falls back to the file name), so any model with the right tensors runs."""
        name = meta.get(Key.NAME) or (path.name.removesuffix(MODEL_SUFFIX) if path else "")
        try:
            multiple = int(meta.get(Key.MULTIPLE, DEFAULT_MULTIPLE))
        except ValueError:
            multiple = DEFAULT_MULTIPLE
        try:
            border = min(MAX_BORDER, max(0, int(meta.get(Key.BORDER, 0))))
        except ValueError:
            border = 0
        return cls(
            name=name, path=path, display_name=meta.get(Key.DISPLAY_NAME, ""),
            painting=meta.get(Key.PAINTING, ""), artist=meta.get(Key.ARTIST, ""),
            image_source=meta.get(Key.IMAGE_SOURCE, ""), license=meta.get(Key.LICENSE, ""),
            multiple=min(MAX_MULTIPLE, max(1, multiple)), border=border, precision=meta.get(Key.PRECISION, "fp32"),
            arch=_json(meta.get(Key.ARCH, "")), training=_json(meta.get(Key.TRAINING, "")),
            notes=meta.get(Key.NOTES, ""), styles=_styles(meta.get(Key.STYLES, "")),
            edge_blur=_edge_blur(meta.get(Key.EDGE_BLUR)), guide_radius=_guide_radius(meta.get(Key.GUIDE_RADIUS)),
        )


def _styles(text: str) -> tuple[StyleInfo, ...]:
    """The credits list of a multi-style net; anything malformed gives none (the engine then
    refuses a net that takes style weights without saying what they are)."""
    try:
        value = json.loads(text) if text else []
    except json.JSONDecodeError:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) and v.get("name") for v in value):
        return ()
    if len({str(v["name"]) for v in value}) != len(value):  # a name must say which row it is
        return ()
    return tuple(StyleInfo(name=str(v["name"]), display_name=str(v.get("display_name", "")),
                           painting=str(v.get("painting", "")), artist=str(v.get("artist", "")),
                           image_source=str(v.get("image_source", "")), license=str(v.get("license", "")),
                           edge_blur=_edge_blur(v.get("edge_blur")), guide_radius=_guide_radius(v.get("guide_radius")))
                 for v in value)


def _edge_blur(value: Any) -> float:
    """A finite, non-negative edge blur; anything else is 0 (no edge blur)."""
    try:
        blur = float(value)
    except (TypeError, ValueError):
        return 0.0
    return blur if math.isfinite(blur) and blur > 0 else 0.0


def _guide_radius(value: Any) -> int:
    """One of the guide radii upsampling offers; anything else is the default."""
    try:
        radius = int(str(value))
    except (TypeError, ValueError):
        return RADIUS
    return radius if radius in GUIDE_RADII else RADIUS


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# -- model files ------------------------------------------------------------------------

FAST = ".fast"  # NAME.fast.onnx: the style's small CPU net
FP16 = ".fp16"  # FILE.fp16.onnx: fp16 copy of FILE, for GPU providers
INT8 = ".int8"  # FILE.int8.onnx: static QDQ int8 copy of FILE, for the CPU
VARIANT_SUFFIXES = (FP16, INT8, FAST)

QUALITIES = ("auto", "best", "fast")
PRECISIONS = ("auto", "fp32", "fp16", "int8")
RUN_DEVICES = ("cpu", "cuda", "tensorrt")  # where a model runs ("auto" is resolved before)


def variant_file(file_name: str, suffix: str) -> str:
    """mosaic.onnx + FAST -> mosaic.fast.onnx; mosaic.fast.onnx + INT8 -> mosaic.fast.int8.onnx."""
    return file_name.removesuffix(MODEL_SUFFIX) + suffix + MODEL_SUFFIX


def is_variant(file_name: str) -> bool:
    """True for a fast net or precision copy: part of another file's style, not a style itself."""
    return file_name.removesuffix(MODEL_SUFFIX).endswith(VARIANT_SUFFIXES)


def is_fast_net(file_name: str) -> bool:
    """True for NAME.fast.onnx, a style's small CPU net (not one of its precision copies)."""
    return file_name.removesuffix(MODEL_SUFFIX).endswith(FAST)


def style_name_of(file_name: str) -> str:
    """mosaic.fast.int8.onnx -> mosaic: the style a model file belongs to."""
    stem = file_name.removesuffix(MODEL_SUFFIX)
    while stem.endswith(VARIANT_SUFFIXES):
        stem = stem[: stem.rfind(".")]
    return stem


def candidate_files(base: str) -> list[str]:
    """Every file `pick_model_file` may choose for the style file `base`, `base` first."""
    nets = [base, variant_file(base, FAST)]
    return nets + [variant_file(net, suffix) for net in nets for suffix in (FP16, INT8)]


@dataclass(frozen=True)
class ModelPick:
    file: str  # a name from the available files (or the base file)
    quality: str  # "fast" when the style's fast net was chosen, else "best"


def pick_model_file(base: str, available: Collection[str], device: str, quality: str = "auto",
                    precision: str = "auto", by_name: bool = True) -> ModelPick:
    """Which file runs for the style file `base` (e.g. mosaic.onnx, or mosaic.fast.onnx for
    a style that has only its fast net), given the file names
    beside it, the device that runs it (cpu, cuda or tensorrt), and the requested quality
    and precision. `by_name` is False for a model given by its path: that net runs as it
    is, only its precision copies may stand in for it.

    A GPU runs the full net in real time, so the fast net is for CPUs: it runs for quality
    "fast", or "auto" on the CPU, where the style has one. Then precision "auto" takes the
    chosen file's fp16 copy on a GPU and its int8 copy on the CPU where they exist; "fp16"
    and "int8" take that copy only on a device of that kind, "fp32" the file itself.
    """
    for what, value, choices in (("device", device, RUN_DEVICES), ("quality", quality, QUALITIES),
                                 ("precision", precision, PRECISIONS)):
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
    gpu = device != "cpu"
    chosen, used = base, "fast" if is_fast_net(base) else "best"  # a style that has only its fast net runs it
    fast = variant_file(base, FAST)
    if by_name and fast in available and (quality == "fast" or (quality == "auto" and not gpu)):
        chosen, used = fast, "fast"
    copy = None
    if gpu and precision in ("auto", "fp16"):
        copy = variant_file(chosen, FP16)
    elif not gpu and precision in ("auto", "int8"):
        copy = variant_file(chosen, INT8)
    if copy is not None and copy in available:
        chosen = copy
    return ModelPick(chosen, used)

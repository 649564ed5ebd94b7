"""Export a trained checkpoint to the ONNX model contract the runtime reads.

The contract (tensor names, metadata keys, file names) is stylecam/contract.py: float32
NCHW RGB in 0..255, dynamic N/H/W (H and W multiples of the net's `multiple`), the style's
StyleInfo in `metadata_props`. A multi-style checkpoint exports either one of its styles as
a one-style net, or all of them as one multi-style net (style weights as a second input).
The export is parity-checked against PyTorch and refused (no file written) if it does not match.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from stylecam.contract import FP16, INPUT_NAME, OUTPUT_NAME, STYLE_WEIGHTS_NAME, StyleInfo, variant_file

from .data import list_images, load_rgb, to_tensor
from .loop import TrainingError, load_checkpoint, net_from_checkpoint
from .nets import NetConfig, TransformerNet, bake_style, export_form

OPSET = 18
PARITY_TOLERANCE = 0.5  # max abs error on the 0..255 scale


def export_onnx(checkpoint: str | Path | dict[str, Any], output: str | Path, info: StyleInfo, fp16: bool = False,
                parity_images: Iterable[str | Path] = (), notes: str = "",
                style: int | None = None, all_styles: bool = False,
                credits: Sequence[StyleInfo] = ()) -> dict[str, float]:
    """Write `output` (and its `.fp16.onnx` copy if fp16) and return the parity errors.

    `checkpoint` is a checkpoint file or one already loaded. `info` credits the style
    (name, painting, artist, ...); the export fills in the rest. A multi-style checkpoint
    needs `style`, the index of the painting to export (its scale/shift rows are baked into
    a one-style net), or `all_styles`: one multi-style net whose styles are credited by
    `credits` (default: named after the paintings' files) and `info` names the net."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    net = net_from_checkpoint(ckpt).eval()
    count = net.config.styles
    weights = None
    if count > 1 and all_styles:
        info = replace(info, styles=_credits(ckpt, credits))
        weights = torch.arange(1.0, count + 1).reshape(1, count) / (count * (count + 1) / 2)  # a mix, for parity
    elif count > 1:
        if style is None or not 0 <= style < count:
            raise TrainingError(f"{checkpoint if not isinstance(checkpoint, dict) else 'the checkpoint'} holds "
                                f"{count} styles: choose one with --style-index 0..{count - 1}, or --all-styles")
        net = bake_style(net, torch.eye(count)[style]).eval()
        recipe = dict(ckpt["recipe"])
        ckpt = ckpt | {"recipe": recipe | {"style_image": recipe["style_image"][style], "style_index": style,
                                           "net_styles": recipe["style_image"]}}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    described = _describe(ckpt, net, info, notes)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        _export(export_form(net), tmp, weights is not None)
        set_metadata(tmp, replace(described, precision="fp32").to_metadata())
        errors = parity_check(net, tmp, parity_images, weights)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    if fp16:
        half = output.with_name(variant_file(output.name, FP16))
        to_fp16(output, half, replace(described, precision="fp16").to_metadata())
    return errors


def mirrored_border(config: NetConfig) -> int:
    """Pixels the runtime mirrors around each frame for a net with zero-padded convs: the
    padding darkens or outlines what lies near the edge, and the full-resolution decoder's
    edge effect reaches further in (measured on trained nets: 8 px leaves a line, 24 does not)."""
    if config.padding != "zero":
        return 0
    return 24 if config.decoder == "upsample" else 8


def runtime_border(ckpt: dict[str, Any], config: NetConfig) -> int:
    """The border for a checkpoint's net: what it was taught to paint clean edges with
    (recipe "border", `training/adapt.py`; a distilled net's, `training/distil.py`), else
    what its architecture needs."""
    recipe = ckpt["recipe"]
    taught = recipe.get("border", recipe.get("distil", {}).get("recipe", {}).get("border"))
    return int(taught) if taught is not None else mirrored_border(config)


def painted(net: Any, x: torch.Tensor, border: int, style_weights: torch.Tensor | None = None) -> torch.Tensor:
    """The net's picture of x as the runtime makes it: `border` px mirrored around, cropped off.
    Training on it teaches a net clean edges with that border."""
    if not border:
        return net(x, style_weights)
    y = net(torch.nn.functional.pad(x, (border,) * 4, mode="reflect"), style_weights)
    return y[:, :, border:-border, border:-border]


def _credits(ckpt: dict[str, Any], credits: Sequence[StyleInfo]) -> tuple[StyleInfo, ...]:
    """Each style of a multi-style checkpoint credited: as given, or named after its painting's file."""
    paintings = ckpt["recipe"]["style_image"]
    paintings = paintings if isinstance(paintings, list) else [paintings]
    if credits and len(credits) != len(paintings):
        raise TrainingError(f"the checkpoint holds {len(paintings)} styles; {len(credits)} credits were given")
    given = credits or [StyleInfo(name=Path(p).stem) for p in paintings]
    return tuple(replace(c, display_name=c.display_name or c.name.replace("_", " ").title()) for c in given)


class _WithStyleWeights(torch.nn.Module):
    """A multi-style net with its style weights (1, styles) as a second input of its own."""

    def __init__(self, net: TransformerNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return self.net(x, style_weights)


def _describe(ckpt: dict[str, Any], net: TransformerNet, info: StyleInfo, notes: str) -> StyleInfo:
    """The style's credits with what the checkpoint and net say about running it."""
    recipe = dict(ckpt["recipe"]) | {"trained_steps": ckpt["step"]}
    if ckpt.get("trained_seconds"):  # wall clock of all its training, resumes included
        recipe["trained_minutes"] = round(ckpt["trained_seconds"] / 60, 1)
    if ckpt.get("init_from"):  # started from another painting's net: its steps and minutes count too
        recipe["init_from"] = ckpt["init_from"]
    if ckpt.get("recipe_history"):  # settings changed on resume: what the earlier steps used
        recipe["earlier_settings"] = ckpt["recipe_history"]
    return replace(
        info, display_name=info.display_name or info.name.replace("_", " ").title(),
        multiple=TransformerNet.multiple,
        # zero-padded convs darken the outermost pixels; the runtime mirrors this many
        # pixels around each frame and crops them off again
        border=runtime_border(ckpt, net.config),
        arch=net.config.to_dict(), training=recipe, notes=notes or info.notes)


def _export(net: TransformerNet, path: Path, style_weights: bool = False) -> None:
    example = torch.rand(1, 3, 64, 96) * 255
    n, h, w = torch.export.Dim("batch"), torch.export.Dim("height"), torch.export.Dim("width")
    model: torch.nn.Module = net
    args: tuple[torch.Tensor, ...] = (example,)
    names, shapes = [INPUT_NAME], {"x": {0: n, 2: h, 3: w}}
    if style_weights:  # 1,S: one mix for the whole batch
        count = net.config.styles
        model, args = _WithStyleWeights(net), (example, torch.full((1, count), 1 / count))
        names, shapes = [INPUT_NAME, STYLE_WEIGHTS_NAME], {"x": {0: n, 2: h, 3: w}, "style_weights": None}
    # The exporter chats on stdout and warns about torchvision; keep the CLI output readable.
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_log.level
    registration_log.setLevel(logging.ERROR)  # "torchvision is not installed" is irrelevant here
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, args, dynamo=True, opset_version=OPSET, input_names=names, output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes, verbose=False,
        )
    registration_log.setLevel(level)
    program.save(str(path))


def set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "stylecam-training"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def parity_check(net: TransformerNet, onnx_path: Path, images: Iterable[str | Path] = (),
                 style_weights: torch.Tensor | None = None) -> dict[str, float]:
    """Compare onnxruntime with PyTorch on random inputs at two sizes and on real images
    (a multi-style net with these style weights)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    cases = {
        "random_100x148": torch.rand(2, 3, 100, 148, generator=gen) * 255,
        "random_92x60": torch.rand(1, 3, 92, 60, generator=gen) * 255,
    }
    for p in images:
        img = load_rgb(p, max_side=256)
        t = to_tensor(img)[:, : img.height // 4 * 4, : img.width // 4 * 4]
        cases[f"image_{Path(p).stem}"] = t.unsqueeze(0)
    errors = {}
    for name, x in cases.items():
        feeds = {INPUT_NAME: x.numpy()}
        if style_weights is not None:
            feeds[STYLE_WEIGHTS_NAME] = style_weights.numpy()
        with torch.no_grad():
            expected = net(x, style_weights).numpy()
        got = session.run([OUTPUT_NAME], feeds)[0]
        errors[name] = float(np.abs(got - expected).max())
    worst = max(errors, key=errors.get)
    if errors[worst] >= PARITY_TOLERANCE:
        raise TrainingError(f"ONNX parity check failed: max abs error {errors[worst]:.3g} on {worst} "
                            f"(limit {PARITY_TOLERANCE} on 0..255); the model was not written")
    return errors


def to_fp16(src: Path, dst: Path, metadata: dict[str, str]) -> None:
    """fp16 weights and activations, fp32 inputs/outputs (for GPU providers)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    _sort_nodes(model.graph)  # the converter appends the input casts after their consumers
    tmp = dst.with_name(f".{dst.name}.tmp")
    onnx.save(model, str(tmp))
    set_metadata(tmp, metadata)
    os.replace(tmp, dst)


def _sort_nodes(graph: Any) -> None:
    """Reorder graph.node topologically (ONNX requires producers before consumers)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise TrainingError(f"fp16 graph has a cycle or a missing input at {waiting[0].name}")
        pending = waiting
    nodes = [type(n)() for n in ordered]
    for copy, node in zip(nodes, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(nodes)


def default_parity_images(data: str | Path | None, count: int = 2) -> list[Path]:
    if not data:
        return []
    try:
        files = list_images(data)
    except FileNotFoundError:
        return []
    return files[:count]

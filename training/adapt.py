"""Learn a painting as a new style, in minutes on a CPU.

A trained net already paints: starting from one (by default starry_night's, shipped with
the training package), a few hundred steps of the project's perceptual losses on the
user's own photos or frames repaint it in the new painting's strokes and colours. What
trains is `AdaptRecipe.trains`: "net", every weight (a new painting needs new strokes, not
only new colours), or "row", only a new scale/shift row in each conditional instance norm
of a multi-style net, the convolutions kept as trained (Dumoulin, Shlens & Kudlur 2017).
Either way the new style starts as the mean of the base net's rows and exports as an
ordinary one-style model: the row baked into the net (`bake_style`) and the usual exporter.

This module imports torch only inside `adapt_style`, so the runtime can name a learned
style's cache entry by its `AdaptRecipe` before it knows whether torch is installed.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from stylecam.contract import StyleInfo

# what the new style takes over from the base checkpoint's recipe (the project's losses as the net was trained)
LOSS_SETTINGS = ("content_weight", "style_weight", "tv_weight", "temporal_weight", "content_layers", "style_layers",
                 "style_layer_weights", "vgg_convention", "style_size", "image_size")


LEARNING_RATES = {"net": 0.003, "row": 0.01}  # what trains -> its default Adam rate


@dataclass(frozen=True)
class AdaptRecipe:
    """How a new style is learned: what trains ("net" or "row", see the module doc), its
    step and time budget (whichever ends first) and the optimizer's settings; a crop size,
    painting size or style weight of 0 takes the base net's, a learning rate of 0 the
    default for what trains."""

    trains: str = "net"
    steps: int = 400
    max_minutes: float = 7.0
    batch_size: int = 1
    image_size: int = 0  # training crop side, px
    style_size: int = 0  # the painting's long side, px
    style_weight: float = 6.0
    lr: float = 0.0
    seed: int = 0
    border: int = 8  # px mirrored around each crop as the runtime does around frames
    edge_weight: float = 300.0  # the picture with `border` must match the net's own with a wide one: clean edges

    def __post_init__(self) -> None:
        if self.trains not in LEARNING_RATES or self.steps < 1 or self.batch_size < 1 or self.lr < 0 \
                or self.max_minutes < 0 or self.image_size < 0 or self.style_size < 0 or self.style_weight < 0 \
                or self.border < 0 or self.edge_weight < 0:
            raise ValueError(f"bad adaptation recipe: {self}")

    @property
    def learning_rate(self) -> float:
        return self.lr or LEARNING_RATES[self.trains]

    def key(self, base_digest: str) -> str:
        """A short name for this recipe on this base checkpoint (cache entries are named by it)."""
        text = json.dumps({"recipe": asdict(self), "base": base_digest, "version": 2}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class AdaptResult:
    output: Path
    steps: int  # steps run
    seconds: float
    first_loss: float
    last_loss: float  # mean of the last few steps
    stopped_by: str  # "steps" or "time"


def file_digest(path: str | Path) -> str:
    """sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def adapt_style(painting: str | Path, base_checkpoint: str | Path, output: str | Path,
                photos: Sequence[str | Path | np.ndarray], *, recipe: AdaptRecipe = AdaptRecipe(),
                info: StyleInfo | None = None, vgg_weights: str | Path | None = None,
                progress: bool | None = None, threads: int = 0,
                announce: Callable[[str], None] | None = None) -> AdaptResult:
    """Learn `painting` on top of the multi-style (or one-style) net in `base_checkpoint`
    from crops of `photos` (image files or uint8 HxWx3 RGB arrays), and export it to
    `output` as a one-style model credited by `info` (default: named after the painting).

    The net's config comes from the checkpoint. VGG16 weights come from `vgg_weights`
    (a state dict in the base recipe's convention) or torchvision. `progress` shows a tqdm
    bar whose estimate counts the time budget (None: when stderr is a terminal);
    `announce` hears one line when everything is loaded and the learning starts."""
    import torch

    from stylecam.contract import StyleInfo

    from .data import load_rgb, random_crop
    from .export import export_onnx, mirrored_border
    from .loop import CHECKPOINT_FORMAT, GradientCap, TrainingError, _style_targets, compute_losses, \
        load_checkpoint, net_from_checkpoint

    if not photos:
        raise TrainingError("no photos to learn the style on")
    if threads:
        torch.set_num_threads(threads)
    painting = Path(painting)
    ckpt = load_checkpoint(base_checkpoint)
    net, row = _with_new_row(net_from_checkpoint(ckpt))
    config = _loss_config(ckpt["recipe"], painting, recipe, vgg_weights)
    vgg, grams, layer_weights = _style_targets(config, torch.device("cpu"))
    size = config.image_size
    if (size + 2 * recipe.border) % net.multiple:
        raise TrainingError(f"crop plus border must be a multiple of {net.multiple} px, got {size + 2 * recipe.border}")
    images = [load_rgb(p, max_side=4 * size) if isinstance(p, (str, Path)) else _pil(p) for p in photos]

    trained = list(net.parameters()) if recipe.trains == "net" else _train_row(net, row)
    optimizer = torch.optim.Adam(trained, lr=recipe.learning_rate)
    cap = GradientCap(ckpt["recipe"].get("grad_cap") or 4.0)  # one freak crop must not undo the trained net
    model = _OneRow(net, row, recipe.border)
    wide = mirrored_border(net.config)  # what the net's edges need without being taught
    rng = random.Random(recipe.seed)
    torch.manual_seed(recipe.seed)
    styles = torch.zeros(recipe.batch_size, dtype=torch.long)  # one painting: row 0 of the Gram targets
    if announce:
        announce(f"learning {painting.name} as a new style of {Path(base_checkpoint).name} from {len(images)} "
                 f"photos, up to {recipe.steps} steps or {recipe.max_minutes:g} min")
    bar = _bar(recipe.steps, f"learning {painting.stem}", progress)
    started = time.monotonic()
    budget = recipe.max_minutes * 60
    history: list[float] = []
    stopped_by = "steps"
    try:
        for step in range(recipe.steps):
            x = torch.stack([random_crop(images[rng.randrange(len(images))], size, rng)
                             for _ in range(recipe.batch_size)])
            values, loss = compute_losses(model, vgg, x, styles, grams, config, layer_weights, step, None)
            if recipe.edge_weight and wide > recipe.border:
                loss = loss + recipe.edge_weight * model.edge_loss(x, wide)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            cap(trained)
            optimizer.step()
            if not math.isfinite(values.total):
                raise TrainingError(f"loss became {values.total} at step {step + 1}; lower the learning rate")
            history.append(values.total)
            elapsed = time.monotonic() - started
            _report(bar, step + 1, recipe.steps, elapsed, budget, values.total)
            if budget and elapsed >= budget and step + 1 < recipe.steps:
                stopped_by = "time"
                break
    finally:
        bar.close()
    names = ckpt["recipe"]["style_image"]
    names = list(names) if isinstance(names, (list, tuple)) else [names]
    learned = {
        "format": CHECKPOINT_FORMAT, "step": len(history), "net_config": net.config.to_dict(),
        "model": net.state_dict(), "optimizer": None, "recipe_history": ckpt.get("recipe_history", []),
        "recipe": dict(ckpt["recipe"]) | {
            "style_image": names + [painting.name], "image_size": size, "style_size": config.style_size,
            "batch_size": recipe.batch_size, "lr": recipe.learning_rate, "seed": recipe.seed, "steps": recipe.steps,
            "style_weight": config.style_weight,
            "adapted_from": {"checkpoint": Path(base_checkpoint).name, "trained_steps": ckpt["step"],
                             "styles": names},
            "adapt": asdict(recipe), "photos": len(images), "border": recipe.border},
    }
    info = info or StyleInfo(name=painting.stem, painting=painting.stem, image_source=painting.name)
    what = "every weight of the net was trained" if recipe.trains == "net" else \
        "only its own scale/shift rows were trained"
    notes = (f"learned from {painting.name} in {len(history)} steps on top of {Path(base_checkpoint).name} "
             f"({len(names)} style(s), {ckpt['step']} steps): {what}")
    export_onnx(learned, output, info, notes=info.notes or notes, style=row)
    tail = history[-10:]
    return AdaptResult(Path(output), len(history), time.monotonic() - started, history[0], sum(tail) / len(tail),
                       stopped_by)


def _with_new_row(base: Any) -> tuple[Any, int]:
    """A copy of the net with one more style, whose rows in every norm are the mean of the
    net's rows; returns it and the new row's index."""
    from dataclasses import replace

    import torch

    from .nets import ConditionalInstanceNorm, TransformerNet

    count = base.config.styles
    net = TransformerNet(replace(base.config, styles=count + 1))
    state = base.state_dict()
    for name, module in net.named_modules():
        if isinstance(module, ConditionalInstanceNorm):
            for part in ("weight", "bias"):
                rows = state[f"{name}.{part}"].float()
                rows = rows if rows.dim() == 2 else rows[None]  # a one-style net's affine norm: one row
                state[f"{name}.{part}"] = torch.cat([rows, rows.mean(0, keepdim=True)])
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net, count


def _train_row(net: Any, row: int) -> list[Any]:
    """Freeze the net but the norms' scale/shift, and let only row `row` of them move."""
    from .nets import ConditionalInstanceNorm

    for p in net.parameters():
        p.requires_grad_(False)
    trained = []
    for module in net.modules():
        if isinstance(module, ConditionalInstanceNorm):
            for p in (module.weight, module.bias):
                mask = p.new_zeros(p.shape[0], 1)
                mask[row] = 1
                p.requires_grad_(True)
                p.register_hook(lambda grad, mask=mask: grad * mask)
                trained.append(p)
    return trained


class _OneRow:
    """Paints with style `row` for every image, as the runtime does with `border` (the shape
    `compute_losses` expects of a model)."""

    def __init__(self, net: Any, row: int, border: int):
        self.net, self.row, self.border = net, row, border
        self.last: Any = None  # the latest picture painted by __call__, still in the autograd graph

    def __call__(self, x: Any, style: Any = None) -> Any:
        self.last = self._painted(x, self.border)
        return self.last

    def edge_loss(self, x: Any, wide: int) -> Any:
        """How far the picture of `x` the losses just saw (the first rows of the last call,
        painted with the runtime's border) is from the net's own picture with a `wide` border
        (pixel MSE): the style and content losses do not see a band along the frame's edge
        (a band in the painting's colours even lowers the style loss), this does. Reusing that
        picture keeps the term's cost to one forward pass without gradients."""
        import torch

        with torch.no_grad():
            target = self._painted(x, wide)
        return torch.nn.functional.mse_loss(self.last[: x.shape[0]], target)

    def _painted(self, x: Any, border: int) -> Any:
        import torch

        from .export import painted

        weights = torch.zeros(x.shape[0], self.net.config.styles, device=x.device)
        weights[:, self.row] = 1
        return painted(self.net, x, border, weights)


def _loss_config(base: dict[str, Any], painting: Path, recipe: AdaptRecipe, vgg_weights: str | Path | None) -> Any:
    """The training settings of the new style: the base net's losses, this recipe's schedule."""
    from .loop import TrainConfig

    settings = {k: tuple(base[k]) if isinstance(base[k], (list, tuple)) else base[k]
                for k in LOSS_SETTINGS if k in base}
    settings |= {k: v for k, v in (("image_size", recipe.image_size), ("style_size", recipe.style_size),
                                   ("style_weight", recipe.style_weight)) if v}
    return TrainConfig(style_images=(str(painting),), data="", out="", batch_size=recipe.batch_size,
                       lr=recipe.learning_rate,
                       seed=recipe.seed, steps=recipe.steps, vgg_weights=str(vgg_weights) if vgg_weights else None,
                       **settings)


def _pil(array: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(array).convert("RGB")


def _bar(total: int, title: str, progress: bool | None) -> Any:
    from tqdm import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    return tqdm(total=total, desc=title, unit="step", dynamic_ncols=True, disable=not show, file=sys.stderr)


def _report(bar: Any, done: int, steps: int, elapsed: float, budget: float, loss: float) -> None:
    """Advance the bar; its total becomes the steps the time budget allows where that is
    fewer, so the estimate says when the style will be ready."""
    if budget and done >= 3:
        bar.total = min(steps, max(done, int(budget / (elapsed / done))))
    bar.update(done - bar.n)
    bar.set_postfix_str(f"loss {loss:.4g}", refresh=True)

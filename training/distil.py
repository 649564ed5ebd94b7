"""Distil a trained style net into a smaller, faster one.

A trained net is a function that a smaller net can learn directly: no loss network, no
Gram targets, only the teacher's pictures (L1 on pixels, Hinton et al.'s distillation for
an image-to-image net). The student starts from the teacher's weights where they fit: the
same stem and residual blocks, and of the decoder's channels the ones whose norm scale is
largest. So a few hundred steps on random crops bring it close, in minutes on a CPU. A
student without some norm layers (NetConfig.norm) starts with each of the teacher's instance
norms it lacks folded into the conv before it, at the norm's mean statistics on photos.

The student is also taught the frame's edges. The runtime mirrors a border around each
frame for nets with zero-padded convs (`export.runtime_border`), and those pixels cost
time. Here the teacher paints each crop with its own border, the student with a smaller
one (`DistilRecipe.border`), and the student learns to paint the teacher's clean edges
from fewer mirrored pixels; the border travels with its checkpoint into the model's
metadata.

The student's checkpoint is an ordinary training checkpoint (export it with
`export_styles.py`); its recipe is the teacher's with the student's arch and a `distil`
entry, and its `step` is the teacher's steps, the training its look came from. A run
resumes exactly from its folder's `last.pt`.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .data import CropDataset, StepBatchSampler
from .export import painted, runtime_border
from .loop import CHECKPOINT_FORMAT, StepBar, TrainingError, load_checkpoint, net_from_checkpoint, save_atomic
from .nets import PRESETS, TransformerNet


@dataclass(frozen=True)
class DistilRecipe:
    """How a student is distilled: what defines the result (stored in its checkpoint)."""

    arch: str = "fast_d16"
    steps: int = 1000
    batch_size: int = 2
    image_size: int = 256  # crop side, px
    lr: float = 1e-3  # Adam, cosine-annealed to 0 over the steps
    border: int = 8  # px the runtime mirrors around each frame for the student
    seed: int = 0


def distil(teacher: str | Path, data: str | Path, out: str | Path, recipe: DistilRecipe = DistilRecipe(), *,
           threads: int = 0, checkpoint_every: int = 100, max_minutes: float = 0.0,
           progress: bool | None = None) -> Path:
    """Distil the net of the training checkpoint `teacher` into `recipe.arch` on crops of the
    photos in `data`; checkpoints go to `out` (resumed from its last.pt). Returns last.pt."""
    if recipe.arch not in PRESETS:
        raise TrainingError(f"unknown arch {recipe.arch!r}; choose from {sorted(PRESETS)}")
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = load_checkpoint(teacher)
    teacher_net = net_from_checkpoint(source).eval().requires_grad_(False)
    if teacher_net.config.styles > 1:
        raise TrainingError("distil a one-style checkpoint (a multi-style net's styles are baked one by one)")
    teacher_border = runtime_border(source, teacher_net.config)
    student = TransformerNet(PRESETS[recipe.arch])
    for side in (recipe.image_size + 2 * recipe.border, recipe.image_size + 2 * teacher_border):
        if side % TransformerNet.multiple:
            raise TrainingError(f"crop plus borders must be a multiple of {TransformerNet.multiple} px, got {side}")
    optimizer = torch.optim.Adam(student.parameters(), lr=recipe.lr)
    step, earlier_seconds = 0, 0.0
    last = out / "last.pt"
    if last.exists():
        state = load_checkpoint(last)
        done, resumable = state["recipe"].get("distil", {}), state.get("distil_state")
        if done.get("recipe") != asdict(recipe) or done.get("teacher_steps") != source["step"] or not resumable:
            raise TrainingError(f"{last} was distilled with other settings or from another teacher; "
                                "choose another output folder")
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(resumable["optimizer"])
        step, earlier_seconds = done["steps_done"], resumable["seconds"]
    dataset = CropDataset(data, recipe.image_size)
    if not last.exists():
        _start_from_teacher(student, teacher_net)
        if student.config.norm != teacher_net.config.norm:
            generator = torch.Generator().manual_seed(recipe.seed)
            picks = torch.randperm(len(dataset), generator=generator)[:FOLD_PHOTOS].tolist()
            fold_norms(student, teacher_net, torch.stack([dataset[(i, recipe.seed)] for i in picks]))
    batches = StepBatchSampler(len(dataset), recipe.batch_size, recipe.steps, recipe.seed, step)
    # the schedule is a function of the step, so a resumed run continues it exactly
    first = step
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, (first + s) / recipe.steps))))
    bar = StepBar(recipe.steps, step, progress, every=50, desc="distilling")
    started = time.monotonic()
    loss = float("nan")
    try:
        for batch in torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=0):
            with torch.no_grad():
                target = painted(teacher_net, batch, teacher_border)
            loss_t = F.l1_loss(painted(student, batch, recipe.border), target) / 255
            optimizer.zero_grad(set_to_none=True)
            loss_t.backward()
            optimizer.step()
            schedule.step()
            step, loss = step + 1, float(loss_t.detach())
            if not math.isfinite(loss):
                raise TrainingError(f"loss became {loss} at step {step}; lower the learning rate")
            bar.update(step, f"L1 {loss:.4f}")
            out_of_time = bool(max_minutes) and time.monotonic() - started > max_minutes * 60
            if step % checkpoint_every == 0 or step == recipe.steps or out_of_time:
                _save(last, source, student, optimizer, recipe, step, earlier_seconds + time.monotonic() - started)
            if out_of_time:
                break
    except KeyboardInterrupt:  # keep what was learned; running again continues it
        _save(last, source, student, optimizer, recipe, step, earlier_seconds + time.monotonic() - started)
    finally:
        bar.close()
    final = f", L1 {loss:.4f}" if math.isfinite(loss) else ""
    print(f"distilled {Path(teacher).name} into {recipe.arch}: step {step}/{recipe.steps}{final}; checkpoint {last}",
          file=sys.stderr)
    return last


def _start_from_teacher(student: TransformerNet, teacher: TransformerNet) -> None:
    """Copy every teacher weight whose shape fits; where the student's decoder is narrower,
    keep the teacher's channels with the largest norm scale (the ones that carry the most)."""
    mine, theirs = student.state_dict(), teacher.state_dict()
    width, keep = teacher.config.channels[1], None
    if student.config.channels[1] < width:
        scale = theirs["decoder.0.conv.1.weight"].abs()  # first Upsample's instance norm
        keep = torch.argsort(scale, descending=True)[: student.config.channels[1]].sort().values
    loaded = {}
    for name, value in mine.items():
        t = theirs.get(name)
        if t is None:
            continue
        if keep is not None and name.startswith("decoder.0.conv.") and t.shape[:1] == (width,):
            t = t[keep]  # the first Upsample's outputs
        if keep is not None and name == "decoder.1.conv.0.0.weight":
            t = t[:, keep]  # the next conv's inputs
        if t.shape == value.shape:
            loaded[name] = t
    student.load_state_dict(loaded, strict=False)


FOLD_PHOTOS = 32  # crops whose mean norm statistics a norm-free student starts from


def fold_norms(student: TransformerNet, teacher: TransformerNet, photos: torch.Tensor) -> None:
    """Fold each instance norm of `teacher` that the student lacks into the student's conv
    before it, with the norm's input mean and standard deviation averaged over `photos` (N,3,H,W in 0..255):
    conv then norm becomes one conv whose output is the norm's on a typical photo. For a
    single photo the student then paints it exactly as the teacher does."""
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(name: str):
        def hook(module: torch.nn.InstanceNorm2d, inputs: tuple[torch.Tensor, ...], _out: Any) -> None:
            x = inputs[0]
            var = x.var(dim=(2, 3), unbiased=False)
            stats[name] = x.mean(dim=(2, 3)).mean(0), (var + module.eps).sqrt().mean(0)
        return hook

    norms = {name: m for name, m in teacher.named_modules() if isinstance(m, torch.nn.InstanceNorm2d)}
    handles = [m.register_forward_hook(record(name)) for name, m in norms.items()]
    try:
        with torch.no_grad():
            teacher(photos)
    finally:
        for h in handles:
            h.remove()
    conv = None
    for name, module in student.named_modules():  # module order is the order they run in
        if isinstance(module, torch.nn.Conv2d):
            conv = module
        elif name in norms and isinstance(module, torch.nn.Identity):
            if conv is None or conv.out_channels != norms[name].num_features:
                raise TrainingError(f"no conv before the norm {name} to fold it into")
            mean, std = stats[name]
            scale = norms[name].weight.detach() / std
            with torch.no_grad():
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias.copy_((conv.bias - mean) * scale + norms[name].bias.detach())


def _save(path: Path, source: dict[str, Any], student: TransformerNet, optimizer: torch.optim.Optimizer,
          recipe: DistilRecipe, step: int, seconds: float) -> None:
    teacher_recipe = {k: v for k, v in source["recipe"].items() if k != "distil"}
    save_atomic({
        "format": CHECKPOINT_FORMAT,
        "step": source["step"],  # the look comes from the teacher's training
        "world_size": 1,
        "net_config": student.config.to_dict(),
        "model": student.state_dict(),
        "optimizer": None,  # Adam's state of the perceptual training is the teacher's; this one's is below
        "recipe": teacher_recipe | {"arch": recipe.arch, "distil": {
            "recipe": asdict(recipe), "teacher_arch": teacher_recipe.get("arch"), "teacher_steps": source["step"],
            "steps_done": step}},
        "distil_state": {"optimizer": optimizer.state_dict(), "seconds": seconds},  # to resume
        "recipe_history": source.get("recipe_history", []),
        "rng": {"torch": torch.get_rng_state()},
        "trained_seconds": float(source.get("trained_seconds", 0.0)) + seconds,
        "init_from": source.get("init_from"),
    }, path)

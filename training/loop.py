"""The training loop: perceptual losses, Adam, checkpoints with exact resume, AMP and DDP.

`TrainConfig` declares the settings (the command line is built from it). `train()` reads
top to bottom: `setup` (with `resume`) builds a `Run`, then `train_step` per batch and
`save_checkpoint` every checkpoint_every steps.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from stylecam.errors import first_line

from . import losses
from .data import CropDataset, StepBatchSampler, list_images, load_rgb, to_tensor
from .nets import PRESETS, NetConfig, TransformerNet
from .vgg import CONVENTIONS, RELU_INDEX, LossNetwork

CHECKPOINT_FORMAT = "stylecam-train-1"


def setting(default: Any = MISSING, *, help: str = "", group: str = "", flag: str = "", metavar: str | None = None,
            nargs: str | None = None, choices: tuple[str, ...] = (), positive: bool = False, recipe: bool = False,
            free_on_resume: bool = False) -> Any:
    """A TrainConfig field with what the command line needs (training/__main__.py builds the
    parser from these): help, argument group, flag (default --field-name), metavar, nargs
    (a list as separate values; without it a comma-separated one), choices, and whether it
    must be > 0. `recipe` marks the settings that define the result (stored in checkpoints
    and model metadata); `free_on_resume` those a resume may change without --change-recipe."""
    return field(default=default, metadata=dict(help=help, group=group, flag=flag, metavar=metavar, nargs=nargs,
                                                choices=choices, positive=positive, recipe=recipe,
                                                free_on_resume=free_on_resume))


@dataclass
class TrainConfig:
    """The training settings; `python -m training train` takes one flag per field."""

    style_images: tuple[str, ...] = setting(
        flag="--style-image", metavar="IMAGE", nargs="+",
        help="the painting or texture to learn; several train one multi-style net that shares its convolutions "
             "and keeps a scale/shift per style in every instance norm")
    data: str = setting(help="folder of training photos (e.g. COCO train2014)")
    out: str = setting(help="run folder for checkpoints, logs and samples")
    arch: str = setting("johnson", group="net", choices=tuple(sorted(PRESETS)), recipe=True,
                        help="transform net: johnson = classic (best quality), fast = CPU fast path")
    steps: int = setting(10_000, group="schedule", positive=True, recipe=True, free_on_resume=True,
                         help="total optimizer steps")
    batch_size: int = setting(4, group="schedule", positive=True, recipe=True, help="images per step (per process)")
    image_size: int = setting(256, group="schedule", positive=True, recipe=True, help="training crop side, px")
    style_size: int = setting(512, group="loss", positive=True, recipe=True,
                              help="long side of the style image in px; smaller gives finer strokes")
    lr: float = setting(1e-3, group="schedule", positive=True, recipe=True, help="Adam learning rate")
    grad_cap: float = setting(4.0, group="schedule", recipe=True, free_on_resume=True,
                              help="cap each step's gradient norm at this multiple of its running average, so one "
                                   "freak batch cannot undo a trained net (0 = off)")
    content_weight: float = setting(1.0, group="loss", recipe=True)
    style_weight: float = setting(5.0, group="loss", recipe=True)
    tv_weight: float = setting(1e-6, group="loss", recipe=True, help="total-variation smoothness")
    temporal_weight: float = setting(0.0, group="loss", recipe=True,
                                     help="warp-equivariance loss for steadier video (0 = off; try 10..50)")
    temporal_noise: float = setting(4.0, group="loss", recipe=True,
                                    help="sensor noise (std, 0..255) added to the moved crop of the temporal loss: "
                                         "how much grain the net learns to ignore; less keeps more fine texture")
    temporal_local_motion: float = setting(0.0, group="loss", recipe=True,
                                           help="px (std) of smooth motion that differs across the moved crop, "
                                                "added to the camera's: leaves, water, people (0 = camera only)")
    temporal_codec_quality: int = setting(0, group="loss", recipe=True,
                                          help="JPEG quality (1..100) the moved crop is re-encoded at, so the net "
                                               "learns to ignore a compressed video's block noise (0 = off)")
    plain_crops: float = setting(0.0, group="loss", recipe=True,
                                 help="share (0..1) of training crops made plain surfaces (softened, low contrast: "
                                      "walls, floors, sky), the pictures on which a net draws strokes from noise")
    content_layers: tuple[str, ...] = setting(("relu2_2",), group="loss", recipe=True,
                                              help=f"comma-separated VGG relu layers; from {','.join(RELU_INDEX)}")
    style_layers: tuple[str, ...] = setting(("relu1_2", "relu2_2", "relu3_3", "relu4_3"), group="loss",
                                            recipe=True)
    style_layer_weights: tuple[float, ...] = setting((), group="loss", recipe=True,
                                                     help="one weight per style layer (default all 1)")
    vgg_weights: str | None = setting(None, group="loss network",
                                      help="VGG16 features state dict (.pth); without it torchvision's ImageNet "
                                           "weights are downloaded")
    vgg_convention: str = setting("caffe", group="loss network", choices=tuple(CONVENTIONS), recipe=True,
                                  help="input convention of --vgg-weights: caffe = BGR 0..255 minus mean; "
                                       "torchvision = RGB 0..1 mean/std normalised")
    seed: int = setting(0, group="schedule", recipe=True, help="seed for init and data order")
    device: str = setting("auto", group="hardware", help="auto, cpu, cuda or cuda:N")
    amp: str = setting("auto", group="hardware", choices=("auto", "bf16", "fp16", "off"),
                       help="mixed precision on CUDA (auto = bf16 where supported)")
    workers: int = setting(2, group="hardware", help="DataLoader worker processes")
    threads: int = setting(0, group="hardware", help="torch CPU threads (0 = default)")
    checkpoint_every: int = setting(500, group="checkpoints and logs", positive=True)
    keep_checkpoints: int = setting(2, group="checkpoints and logs",
                                    help="periodic step_*.pt files to keep besides last.pt (0 = all)")
    log_every: int = setting(10, group="checkpoints and logs", positive=True)
    sample_every: int = setting(500, group="checkpoints and logs", help="0 = only at the end")
    max_minutes: float = setting(0.0, group="checkpoints and logs",
                                 help="stop with a checkpoint after this many minutes (0 = no limit)")
    init: str | None = setting(None, group="net", metavar="CKPT",
                               help="start from the weights of another trained net of the same --arch (e.g. "
                                    "another painting's checkpoint): a new painting paints in fewer steps; the "
                                    "run starts at step 0 with a fresh optimizer")
    resume: str | None = setting(None, group="checkpoints and logs", metavar="CKPT",
                                 help="continue from a checkpoint (e.g. RUN/last.pt); the loss settings must match")
    change_recipe: bool = setting(False, group="checkpoints and logs",
                                  help="resume even though loss settings differ from the checkpoint's; the earlier "
                                       "settings are kept in the checkpoint and the exported model's metadata")
    progress: bool | None = setting(None, group="checkpoints and logs", flag="--no-progress",
                                    help="log lines instead of a progress bar")  # None = when stderr is a terminal

    def net_config(self) -> NetConfig:
        if self.arch not in PRESETS:
            raise ValueError(f"unknown --arch {self.arch!r}; choose from {sorted(PRESETS)}")
        return replace(PRESETS[self.arch], styles=len(self.style_images))

    def recipe(self) -> dict[str, Any]:
        """The settings that define the result (stored in checkpoints and model metadata)."""
        names = [Path(p).name for p in self.style_images]
        return ({f.name: getattr(self, f.name) for f in fields(self) if f.metadata["recipe"]}
                | {"style_image": names[0] if len(names) == 1 else names})


class TrainingError(RuntimeError):
    """A user-facing problem with the training setup (bad paths, incompatible checkpoint)."""


# --- helpers ---------------------------------------------------------------------------


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("--device cuda requested but torch sees no CUDA device")
    return torch.device(name)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "off":
        return None
    if config.amp == "fp16":
        return torch.float16
    if config.amp in ("bf16", "auto"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    raise TrainingError(f"unknown --amp {config.amp!r}")


def load_style_image(path: str, long_side: int) -> torch.Tensor:
    try:
        img = load_rgb(path)
    except FileNotFoundError:
        raise TrainingError(f"style image not found: {path}") from None
    except OSError as exc:
        raise TrainingError(f"cannot read style image {path}: {exc}") from None
    scale = long_side / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), 1)  # LANCZOS
    return to_tensor(img).unsqueeze(0)


def save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint safely (weights_only) and check it is one of ours."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint not found: {path}") from None
    except Exception as exc:
        raise TrainingError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a stylecam training checkpoint")
    return ckpt


def net_from_checkpoint(ckpt: dict[str, Any]) -> TransformerNet:
    net = TransformerNet(NetConfig.from_dict(ckpt["net_config"]))
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise TrainingError(f"checkpoint weights do not fit its net config: {first_line(exc)}") from None
    return net


class Distributed:
    """Rank/world from torchrun's environment; a no-op for a single process."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            value = value.clone()
            dist.all_reduce(value)
            value /= self.world
        return value

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


class GradientCap:
    """Caps a step's gradient norm at `factor` x its running average (after `warmup` steps).

    One freak batch can give a style loss ten times the usual and, through Adam, throw a
    net that has converged back to noise in a single step (seen at step 3,840 of a CPU run);
    capping that step's gradient keeps its direction and drops its excess size."""

    def __init__(self, factor: float, warmup: int = 50, beta: float = 0.98):
        self.factor, self.warmup, self.beta = factor, warmup, beta
        self.average, self.steps, self.capped = 0.0, 0, 0

    def __call__(self, parameters) -> None:
        grads = [p.grad for p in parameters if p.grad is not None]
        if not self.factor or not grads:
            return
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
        if not math.isfinite(norm):  # an fp16 overflow: GradScaler skips this step anyway
            return
        limit = self.factor * self.average
        if self.steps >= self.warmup and norm > limit:
            for g in grads:
                g.mul_(limit / norm)
            norm = limit
            self.capped += 1
        self.average = norm if self.steps == 0 else self.beta * self.average + (1 - self.beta) * norm
        self.steps += 1

    def state_dict(self) -> dict[str, float]:
        return {"average": self.average, "steps": self.steps, "capped": self.capped}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.average, self.steps, self.capped = state["average"], int(state["steps"]), int(state["capped"])


# --- the loop --------------------------------------------------------------------------


@dataclass
class StepLosses:
    """The weighted losses of one step (the columns of log.csv)."""

    total: float
    content: float
    style: float
    tv: float
    temporal: float = 0.0


LOSS_NAMES = [f.name for f in fields(StepLosses)]


@dataclass
class Run:
    """What the steps of a run share; `setup` builds it, `train_step` advances it."""

    config: TrainConfig
    device: torch.device
    ddp: Distributed
    out: Path
    vgg: LossNetwork
    style_grams: dict[str, torch.Tensor]  # per style layer: styles,C,C
    layer_weights: tuple[float, ...]
    net: TransformerNet
    model: torch.nn.Module  # the net, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    cap: GradientCap
    dtype: torch.dtype | None  # autocast dtype; None = fp32
    step: int = 0
    recipe_history: list[dict[str, Any]] = field(default_factory=list)  # earlier settings (--change-recipe)
    init_from: dict[str, Any] | None = None  # the net whose weights step 0 started from (--init)
    # wall-clock seconds of training before this process (from the checkpoint), and when
    # this process started training: a checkpoint records their sum, so resumed runs add up
    earlier_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


def train(config: TrainConfig) -> Path:
    """Train (or resume) and return the path of the last checkpoint written."""
    run = setup(config)
    ddp, out, start_step = run.ddp, run.out, run.step
    loader = _loader(config, run.device, start_step, ddp)
    sample_inputs = _sample_batch(config.data, run.device) if ddp.main else None
    log = _Log(config, out / "log.csv", start_step, enabled=ddp.main)
    if ddp.main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    last_ckpt = out / "last.pt"
    stop_reason = "done"
    try:
        for batch in loader:
            step_losses = train_step(run, batch)
            step = run.step
            log.step(step, step_losses, batch.shape[0] * ddp.world)
            if ddp.main and config.sample_every and step % config.sample_every == 0:
                _save_samples(run.net, sample_inputs, out / "samples" / f"step_{step:06d}.png")
            out_of_time = _out_of_time(config, log.started, ddp)
            if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
                if ddp.main:
                    last_ckpt = save_checkpoint(run)
                ddp.barrier()
            if out_of_time:
                stop_reason = f"time limit of {config.max_minutes:g} min"
                break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
        if ddp.main:
            last_ckpt = save_checkpoint(run)
    finally:
        log.close()
        ddp.close()
    if ddp.main:
        if sample_inputs is not None and run.step > start_step:
            _save_samples(run.net, sample_inputs, out / "samples" / f"step_{run.step:06d}.png")
        _plot(log.path, out / "losses.png")
        capped = f"; gradient capped on {run.cap.capped} steps" if run.cap.capped else ""
        print(f"stopped at step {run.step}/{config.steps} ({stop_reason}){capped}; checkpoint {last_ckpt}",
              file=sys.stderr)
    return last_ckpt


def setup(config: TrainConfig) -> Run:
    """Device and ranks, loss network and style targets, net and optimizer; resumed if asked."""
    if config.temporal_local_motion < 0:
        raise TrainingError("--temporal-local-motion is a distance in px, 0 or more")
    if not 0 <= config.temporal_codec_quality <= 100:
        raise TrainingError("--temporal-codec-quality is a JPEG quality, 1 to 100 (0 = off)")
    if not 0 <= config.plain_crops <= 1:
        raise TrainingError("--plain-crops is a share of the training crops, 0 to 1")
    device, ddp = _device_and_ranks(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    vgg, style_grams, layer_weights = _style_targets(config, device)

    torch.manual_seed(config.seed)  # before the net exists: its initial weights come from this
    net = TransformerNet(config.net_config())
    ckpt = load_checkpoint(config.resume) if config.resume else None
    recipe_history = _recipe_history(config, ckpt, ddp) if ckpt else []
    init_from = ckpt.get("init_from") if ckpt else None
    if ckpt:
        net = net_from_checkpoint(ckpt)
    elif config.init:
        init_from = _start_from(net, config.init)
    net = net.to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
        vgg = vgg.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed crop size: pick the fastest conv kernels once
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    model: torch.nn.Module = net
    if ddp.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    dtype = amp_dtype(config, device)
    run = Run(config, device, ddp, out, vgg, style_grams, layer_weights, net, model, optimizer,
              torch.amp.GradScaler("cuda", enabled=dtype == torch.float16), GradientCap(config.grad_cap), dtype,
              recipe_history=recipe_history, init_from=init_from)
    if ckpt:
        resume(run, ckpt)
    return run


def _start_from(net: TransformerNet, path: str) -> dict[str, Any]:
    """Load another trained net's weights into `net` (--init); returns what it was, for the
    checkpoints and the model's metadata (its training time is part of this net's cost)."""
    start = load_checkpoint(path)
    if NetConfig.from_dict(start["net_config"]) != net.config:  # older checkpoints omit later defaults
        raise TrainingError(f"--init {path} is a different net ({start['recipe'].get('arch')}, "
                            f"{start['net_config'].get('styles', 1)} style(s)); it must match --arch and the styles")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in start["model"].items()})
    earlier = start.get("init_from")
    return {"style_image": start["recipe"].get("style_image"), "step": start["step"],
            "trained_minutes": round(float(start.get("trained_seconds", 0.0)) / 60, 1)
            + (earlier["trained_minutes"] if earlier else 0.0)}


def _device_and_ranks(config: TrainConfig) -> tuple[torch.device, Distributed]:
    """The device, and this process's rank when torchrun started several (one GPU each)."""
    device = pick_device(config.device)
    ddp = Distributed(device)
    if device.type == "cuda" and ddp.world > 1:
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    return device, ddp


def _style_targets(config: TrainConfig, device: torch.device
                   ) -> tuple[LossNetwork, dict[str, torch.Tensor], tuple[float, ...]]:
    """The loss network, each style layer's Gram matrices of the paintings, the layer weights."""
    layers = tuple(dict.fromkeys(config.style_layers + config.content_layers))
    if config.vgg_weights:
        vgg = LossNetwork.from_file(config.vgg_weights, config.vgg_convention, layers)
    else:
        vgg = LossNetwork.from_torchvision(layers)
        config.vgg_convention = "torchvision"
    vgg = vgg.to(device)
    layer_weights = config.style_layer_weights or (1.0,) * len(config.style_layers)
    if len(layer_weights) != len(config.style_layers):
        raise TrainingError("--style-layer-weights needs one value per style layer")
    if not config.style_images:
        raise TrainingError("no style image given")
    with torch.no_grad():
        grams = [{k: losses.gram(v) for k, v in vgg(load_style_image(p, config.style_size).to(device),
                                                     config.style_layers).items()} for p in config.style_images]
    return vgg, {k: torch.cat([g[k] for g in grams]) for k in config.style_layers}, layer_weights


def _recipe_history(config: TrainConfig, ckpt: dict[str, Any], ddp: Distributed) -> list[dict[str, Any]]:
    """The checkpoint's earlier settings, plus its own if this resume changes them (--change-recipe)."""
    history = list(ckpt.get("recipe_history", []))
    free = {f.name for f in fields(TrainConfig) if f.metadata["free_on_resume"]}
    # a setting newer than the checkpoint was trained at its default
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    before = {k: ckpt["recipe"].get(k, defaults.get(k)) for k in config.recipe()}
    changed = {k: (before[k], v) for k, v in config.recipe().items() if before[k] != v and k not in free}
    if changed and not config.change_recipe:
        raise TrainingError(f"checkpoint was trained with other settings (checkpoint, now): {changed}; "
                            "pass --change-recipe to continue with the new ones")
    if changed:
        history.append({"from_step": ckpt["step"], "was": {k: v[0] for k, v in changed.items()}})
        if ddp.main:
            print(f"continuing step {ckpt['step']} with changed settings (checkpoint, now): {changed}",
                  file=sys.stderr)
    return history


def resume(run: Run, ckpt: dict[str, Any]) -> None:
    """Continue where the checkpoint stopped: step, Adam's moments, RNG and the gradient cap
    (the weights are already in run.net)."""
    if ckpt["optimizer"]:  # None in a slim checkpoint: Adam starts afresh
        run.optimizer.load_state_dict(ckpt["optimizer"])
        for group in run.optimizer.param_groups:  # Adam's state carries the old lr; --lr is what runs
            group["lr"] = run.config.lr
    run.step = ckpt["step"]
    run.earlier_seconds = float(ckpt.get("trained_seconds", 0.0))  # 0 for checkpoints made before it was kept
    torch.set_rng_state(ckpt["rng"]["torch"])
    if ckpt.get("grad_cap"):
        run.cap.load_state_dict(ckpt["grad_cap"])


def _loader(config: TrainConfig, device: torch.device, start_step: int, ddp: Distributed) -> DataLoader:
    dataset = CropDataset(config.data, config.image_size)
    sampler = StepBatchSampler(len(dataset), config.batch_size, config.steps, config.seed, start_step, ddp.rank,
                               ddp.world)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=config.workers,
                      pin_memory=device.type == "cuda", persistent_workers=False)


def train_step(run: Run, batch: torch.Tensor) -> StepLosses:
    """One optimizer step on a batch of crops."""
    x = batch.to(run.device, non_blocking=True)
    if run.device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    styles = _styles_for_step(run.step, x.shape[0], len(run.config.style_images), run.ddp)
    if run.config.plain_crops > 0:
        # its own generator, so a net with and one without the temporal loss flatten the same crops
        gen = torch.Generator().manual_seed(run.config.seed * 104729 + run.step)
        if float(torch.rand(1, generator=gen)) < run.config.plain_crops:
            x = losses.flatten_like_plain_surface(x, gen)
    step_losses, loss = compute_losses(run.model, run.vgg, x, styles, run.style_grams, run.config,
                                       run.layer_weights, run.step, run.dtype)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)  # the cap compares true gradient sizes
    run.cap(run.net.parameters())
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    if not math.isfinite(step_losses.total):
        raise TrainingError(f"loss became {step_losses.total} at step {run.step}; lower --lr or the weights")
    return step_losses


def _out_of_time(config: TrainConfig, started: float, ddp: Distributed) -> bool:
    out_of_time = bool(config.max_minutes) and time.monotonic() - started > config.max_minutes * 60
    # every rank must agree to stop, or DDP would hang waiting for the others
    if ddp.world > 1:
        flag = torch.tensor([1.0 if out_of_time else 0.0])
        out_of_time = bool(ddp.mean(flag).item() > 0)
    return out_of_time


def _styles_for_step(step: int, batch: int, styles: int, ddp: Distributed) -> torch.Tensor:
    """Which style each image of this step's batch trains: the global sample number modulo
    the number of styles, so every style gets the same share and a resume sees the same."""
    k = (step * batch + torch.arange(batch)) * ddp.world + ddp.rank
    return k % styles


def compute_losses(model: torch.nn.Module, vgg: LossNetwork, x: torch.Tensor, styles: torch.Tensor,
                   style_grams: dict[str, torch.Tensor], config: TrainConfig, layer_weights: tuple[float, ...],
                   step: int, dtype: torch.dtype | None) -> tuple[StepLosses, torch.Tensor]:
    """The weighted losses of a step and the total to backpropagate.
    styles: the style index of each image (multi-style nets; all 0 for one style)."""
    autocast = torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None)
    count = style_grams[config.style_layers[0]].shape[0]
    weights = torch.nn.functional.one_hot(styles, count).float().to(x.device) if count > 1 else None
    with autocast:
        gen = torch.Generator().manual_seed(config.seed * 7919 + step)  # same warp on resume
        grid = None
        if config.temporal_weight > 0:
            # one forward over [x, warp(x)]: DDP allows a single forward per backward
            grid = losses.random_affine_grid(x.shape[0], x.shape[2], x.shape[3], gen, device=x.device)
            if config.temporal_local_motion > 0:
                grid = grid + losses.random_local_motion(x.shape[0], x.shape[2], x.shape[3], gen,
                                                         config.temporal_local_motion, device=x.device)
            moved = losses.perturb_like_next_frame(losses.warp(x, grid), gen, noise=config.temporal_noise)
            if config.temporal_codec_quality:
                moved = losses.codec_noise(moved, config.temporal_codec_quality)
            both = weights.repeat(2, 1) if weights is not None else None
            y, y_of_warped = model(torch.cat([x, moved]), both).chunk(2)
        else:
            y = model(x, weights)
        with torch.no_grad():
            content_targets = vgg(x, config.content_layers)
        feats = vgg(y)
        content = sum(losses.content_loss(feats[k], content_targets[k]) for k in config.content_layers)
        style = sum(w * losses.style_loss(feats[k], style_grams[k][styles])
                    for w, k in zip(layer_weights, config.style_layers))
        tv = losses.tv_loss(y)
        total = config.content_weight * content + config.style_weight * style + config.tv_weight * tv
        temporal = torch.zeros((), device=x.device)
        if grid is not None:
            temporal = losses.temporal_loss(y_of_warped, losses.warp(y, grid))
            total = total + config.temporal_weight * temporal
    values = StepLosses(
        total=float(total.detach()), content=float(config.content_weight * content.detach()),
        style=float(config.style_weight * style.detach()),
        tv=float(config.tv_weight * tv.detach()), temporal=float(config.temporal_weight * temporal.detach()),
    )
    return values, total


def save_checkpoint(run: Run) -> Path:
    """Write step_NNNNNN.pt and last.pt (atomically), drop old periodic ones; returns last.pt."""
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "step": run.step,
        "world_size": run.ddp.world,  # ranks that trained it (batch is per rank)
        "net_config": run.net.config.to_dict(),
        "model": run.net.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "recipe": run.config.recipe(),
        "recipe_history": run.recipe_history,
        "rng": {"torch": torch.get_rng_state()},
        "grad_cap": run.cap.state_dict(),
        "trained_seconds": run.earlier_seconds + time.monotonic() - run.started,
        "init_from": run.init_from,
    }
    out, keep = run.out, run.config.keep_checkpoints
    save_atomic(ckpt, out / f"step_{run.step:06d}.pt")
    save_atomic(ckpt, out / "last.pt")
    for p in sorted(out.glob("step_*.pt"))[: -keep or None] if keep else []:
        p.unlink(missing_ok=True)
    return out / "last.pt"


def slim_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """A small copy of a checkpoint: fp16 weights, no optimizer state (a Johnson net's
    checkpoint drops from ~20 MB to ~3.4 MB). It exports like the original; resuming from it
    restarts Adam's moments. For moving runs off a machine with size limits on what comes back."""
    ckpt = load_checkpoint(src)
    ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["optimizer"] = None
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(ckpt, dst)
    return dst


class _Log:
    """log.csv every log_every steps, with the progress bar or lines (main rank only); on
    resume, rows past the checkpoint are dropped so the CSV matches the model."""

    FIELDS = ["step", *LOSS_NAMES, "images_per_s", "elapsed_s"]

    def __init__(self, config: TrainConfig, path: Path, start_step: int, enabled: bool):
        self.config, self.path, self.enabled = config, path, enabled
        if enabled:
            rows = []
            if start_step and path.exists():
                with path.open() as f:
                    rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.FIELDS)
                writer.writeheader()
                writer.writerows(rows)
        self.progress = _progress(config, start_step, enabled)
        self.started = self.window_start = time.monotonic()
        self.window_images = 0

    def step(self, step: int, v: StepLosses, images: int) -> None:
        self.window_images += images
        if not self.enabled or (step % self.config.log_every and step != self.config.steps):
            return
        now = time.monotonic()
        rate = self.window_images / max(1e-9, now - self.window_start)
        self.window_start, self.window_images = now, 0
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.FIELDS).writerow(
                {"step": step, **{k: f"{getattr(v, k):.6g}" for k in LOSS_NAMES},
                 "images_per_s": f"{rate:.3f}", "elapsed_s": f"{now - self.started:.1f}"})
        self.progress.update(step, v, rate)

    def close(self) -> None:
        self.progress.close()


def read_log(path: str | Path) -> list[dict[str, float]]:
    with Path(path).open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _plot(log_path: Path, png: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is a nicety; training results do not depend on it
        return
    rows = read_log(log_path)
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in rows]
    for key in LOSS_NAMES:
        values = [r[key] for r in rows]
        if any(values):
            ax.plot(steps, values, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _sample_batch(data: str, device: torch.device, count: int = 4, side: int = 192) -> torch.Tensor:
    """A few fixed images (evenly spread over the folder) to watch the style develop."""
    files = list_images(data)
    picks = [files[i * len(files) // count] for i in range(count)]
    tensors = []
    for p in picks:
        img = load_rgb(p)
        s = side / min(img.size)
        img = img.resize((max(side, round(img.width * s)), max(side, round(img.height * s))), 1)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        tensors.append(to_tensor(img.crop((left, top, left + side, top + side))))
    return torch.stack(tensors).to(device)


@torch.no_grad()
def _save_samples(net: TransformerNet, inputs: torch.Tensor, path: Path) -> None:
    from PIL import Image
    was_training = net.training
    net.eval()
    count = net.config.styles
    # inputs on top, then one row of outputs per style
    outputs = [net(inputs, None if count == 1 else torch.eye(count)[[i] * len(inputs)].to(inputs.device))
               for i in range(count)]
    net.train(was_training)
    rows = torch.cat([torch.cat(list(b.clamp(0, 255)), 2) for b in [inputs, *outputs]], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rows.permute(1, 2, 0).round().byte().cpu().numpy()).save(path)


class StepBar:
    """Progress of a run of steps: a tqdm bar on a terminal (or when `show` says so), else a
    log line on stderr every `every` steps and at the last one."""

    def __init__(self, total: int, start: int, show: bool | None, every: int = 1, desc: str | None = None):
        self.total, self.every = total, every
        self.bar = None
        if show if show is not None else sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, desc=desc)

    def update(self, step: int, text: str) -> None:
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix_str(text, refresh=True)
        elif step % self.every == 0 or step == self.total:
            print(f"step {step}/{self.total} {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _progress:
    """The training run's StepBar (main rank only), fed the step's losses every log_every steps."""

    def __init__(self, config: TrainConfig, start: int, enabled: bool):
        self.bar = StepBar(config.steps, start, config.progress) if enabled else None

    def update(self, step: int, v: StepLosses, rate: float) -> None:
        if self.bar is None:
            return
        msg = f"loss {v.total:.4g} (content {v.content:.3g} style {v.style:.3g} tv {v.tv:.3g}"
        msg += f" temporal {v.temporal:.3g})" if v.temporal else ")"
        self.bar.update(step, f"{msg} {rate:.2f} img/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

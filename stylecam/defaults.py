"""Runtime defaults, in one place: the command line's help texts and the modules that
use them read the same values."""
from __future__ import annotations

import os

STYLE = "mosaic"

# Largest frame, in megapixels. Inference memory grows with the frame: about 0.9 GB per
# megapixel for the full nets and 0.25 GB for the fast nets (measured on CPU), so an
# 8000x8000 photo would need ~56 GB. Raised with Stylizer(max_megapixels=),
# STYLECAM_MAX_MEGAPIXELS or --max-megapixels.
MAX_MEGAPIXELS = 16.0

# H.264 files and live recordings
CRF = 18  # lower is better
# x264 speed preset. superfast: a 1920x1080 stylized frame costs about 35 ms of one core
# against 65 for veryfast, in files about a fifth larger at the same crf; on a small CPU the
# encoder would otherwise take as much time as the net.
PRESET = "superfast"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

# Working size: the long side, in px, the net paints at; larger frames are scaled down for
# the net and its output brought back to their size by edge-aware upsampling (sharp edges,
# strokes as large as painted). The rule for "auto": 448 on a CPU, where the net's cost
# grows with the pixels (a 1280x720 frame is painted at 448x252: the net paints 8x fewer
# pixels and its strokes are 2.9x as large). A 720p webcam has 33 ms per frame; on 2 cores
# at 512 the net alone took 40-55 ms per call beside the other worker's, so the cores ran
# near full and a busy moment pushed latency p95 past 100 ms; at 448 the same runs kept
# 30 fps at p95 about 77 ms, with bolder strokes. The frame's own size on a GPU (CUDA,
# TensorRT), the device the full nets are made for. Set with Stylizer(work_size=) or --work-size.
WORK_SIZE_CPU = 448


def work_size_for(device: str) -> int | None:
    """The default work size on `device` (cpu, cuda or tensorrt); None = full size."""
    return WORK_SIZE_CPU if device == "cpu" else None


JPEG_QUALITY = 95  # also used for WebP

SHEET_TILE = 480  # px, the long side of each tile of a style sheet (the nets paint at a fixed pixel scale)

# inference workers: how many calls paint frames side by side in a video or live job. Two on
# a CPU, where two calls at once keep both cores of a small CPU busy while one call spends
# part of each layer waiting for its threads to meet (on 2 cores, 512x288 frames: about 1.4x
# the frames per second; each frame takes a little longer); one on a GPU.
INFERENCE_WORKERS_CPU = 2


def inference_workers(device: str) -> int:
    """How many frames a video or live job paints at once on `device` (cpu, cuda or tensorrt)."""
    return INFERENCE_WORKERS_CPU if device == "cpu" else 1


def threads_per_worker() -> int:
    """onnxruntime intra-op threads of each inference call of a live job, or of a video
    file's job, on a CPU: the cores shared out among the workers. Two calls sharing one pool
    of all cores wait for each other's threads at every layer, and the writer's upsampling
    and the encoder need the cores too. Live, on 2 cores, 1280x720 painted at 512x288:
    latency p95 112-127 ms with the shared pool, 75-110 ms with one thread per call. A
    1920x1080 file painted at 448x252 (H.264 in and out, on 2 cores): 13.4 fps against 12.8
    with the shared pool (mean of 6 alternating runs each: five pairs in its favour, one
    even); at 640x360 26.3 against 25.2. An image job keeps the shared pool: one call
    paints alone and has every core."""
    return max(1, cpu_cores() // INFERENCE_WORKERS_CPU)


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# temporal smoothing: the share of the previous output kept
EMA_STRENGTH = 0.5
FLOW_STRENGTH = 0.6
FLOW_SIDE = 320  # px; flow runs on a copy this large, cheap next to inference

# live mode
LIVE_FPS = 30.0  # the rate sinks are opened with when the camera's is not asked for
STREAM_BITRATE = 4_000_000  # bit/s of the MPEG-TS stream
STREAM_PRESET = "ultrafast"  # with tune=zerolatency: encoding must not add latency
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # s between attempts to reopen a lost live source
FADE_SECONDS = 1.0  # a style switch inside a multi-style net fades over this long
# A live session on a CPU at the default work size paints smaller while its output falls
# behind the source (`stylecam.live.governor`): one step when, in two windows of
# LIVE_ADAPT_SECONDS in a row, fewer than LIVE_KEEP_UP of the source's frames were shown or
# their latency p95 passed LIVE_MAX_LATENCY (s; three frames of a 30 fps camera), down to
# LIVE_MIN_WORK_SIZE (below it the strokes grow coarser than the styles are made for;
# frames are dropped instead).
LIVE_MIN_WORK_SIZE = 256
LIVE_WORK_SIZE_STEP = 64
LIVE_KEEP_UP = 0.9
LIVE_ADAPT_SECONDS = 2.0
LIVE_MAX_LATENCY = 0.1
# ... and starts at LIVE_MIN_WORK_SIZE, moving after its first second to the largest size
# predicted to use no more than LIVE_CPU_BUDGET of the cores (a session measured above
# about 80 % on 2 cores came out with latency p95 over 100 ms)
LIVE_CPU_BUDGET = 0.75

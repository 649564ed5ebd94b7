"""The engine: uint8 RGB frames in, stylized uint8 RGB frames out, through onnxruntime.

Pure computation: no files, no threads, no torch. Owns the session (provider choice),
pad-to-multiple and crop-back, value conversion, strength and colour preservation.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

from . import blend, defaults, styles, upsample
from .contract import (INPUT_NAME, OUTPUT_NAME, PRECISIONS, QUALITIES, RUN_DEVICES, STYLE_WEIGHTS_NAME, StyleInfo,
                       pick_model_file)
from .errors import StylecamError, first_line
from .temporal import Smoother
from .upsample import to_uint8

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
#: the long side in px the net paints at, "full" for the frame's own size, "auto" for the device's default
WorkSize = Union[int, Literal["auto", "full"]]
DEVICES: tuple[str, ...] = ("auto", *RUN_DEVICES)

_PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
_DEVICE = {p: d for d, p in _PROVIDER.items()}
# Smallest padded side: the nets downsample 4x and reflect-pad 9x9 convs at full size.
MIN_SIDE = 16
MAX_MEGAPIXELS_ENV = "STYLECAM_MAX_MEGAPIXELS"


def max_megapixels_default() -> float:
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not text:
        return defaults.MAX_MEGAPIXELS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StylecamError(f"{MAX_MEGAPIXELS_ENV} must be a positive number of megapixels, got {text!r}")
    return value


def available_devices() -> list[str]:
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [d for d, p in _PROVIDER.items() if p in have]


def _provider_chain(device: str, cache_dir: Path) -> list[str | tuple[str, dict]]:
    import onnxruntime as ort

    if device not in DEVICES:
        raise StylecamError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    have = set(ort.get_available_providers())
    trt = ("TensorrtExecutionProvider", {
        "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir), "trt_fp16_enable": True,
        "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache_dir),
    })
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "auto":
        chain: list[str | tuple[str, dict]] = []
        if trt[0] in have:
            chain.append(trt)
        if "CUDAExecutionProvider" in have:
            chain.append("CUDAExecutionProvider")
        return chain + ["CPUExecutionProvider"]
    if _PROVIDER[device] not in have:
        hint = "install onnxruntime-gpu matching your CUDA version" if device == "cuda" else \
            "install onnxruntime-gpu and TensorRT"
        raise StylecamError(f"device {device!r} is not available in this onnxruntime "
                            f"(it has: {', '.join(sorted(have))}); {hint}, or use --device cpu")
    if device == "tensorrt":
        return [trt, "CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _provider_name(entry: str | tuple[str, dict]) -> str:
    return entry if isinstance(entry, str) else entry[0]


def first_device(device: str) -> str:
    """The device a Stylizer asked for `device` tries first (cpu, cuda or tensorrt): "auto"
    resolved against this onnxruntime's providers. StylecamError as Stylizer for a device
    that is not there."""
    return _DEVICE[_provider_name(_provider_chain(device, _cache_dir())[0])]


def preload_cuda_libraries() -> None:
    """Let onnxruntime-gpu find CUDA/cuDNN from pip's nvidia-* packages (as PyTorch
    installs them) when they are not on the library path; best effort."""
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls") and "CUDAExecutionProvider" in ort.get_available_providers():
        try:
            ort.preload_dlls()
        except Exception:  # nothing to preload; the session start will say what is missing
            pass


class Cancelled(Exception):
    """An inference call that a `Cancel` stopped."""


class Cancel:
    """Lets another thread stop inference calls made with it: `cancel()` ends a running
    call at the net's next layer (the call raises) and makes every later call fail at once.
    A job that is stopping (a signal, an error elsewhere) cancels its calls this way."""

    def __init__(self) -> None:
        import onnxruntime as ort

        self.run_options = ort.RunOptions()

    def cancel(self) -> None:
        self.run_options.terminate = True

    @property
    def cancelled(self) -> bool:
        return bool(self.run_options.terminate)


def session_options(threads: int | None = None) -> Any:
    """The options every stylecam inference session is opened with: all graph
    optimizations, `threads` intra-op threads (None: onnxruntime's default, one per
    physical core), and no spinning.

    onnxruntime's intra-op threads spin by default: after each parallel step they keep
    polling for the next one for a while before they sleep, on every core they run on.
    The net is never the only work in stylecam: the engine's own work runs right before
    and after each call on the calling thread (the downscale, the float copy, the guided
    upsampling of a frame painted at a work size), and a video or live job decodes,
    upsamples, smooths and encodes on other threads while the net runs. Spinning workers
    take the cores that work needs, and the wait for them shows as wall time: on a 2-core
    CPU busy with other work, a 1280x720 frame at the default work size took about 1.7x as
    long with spinning and 1.6x the CPU time, and even the net alone at 640x360, spinning's
    best case, was slower with it. Without spinning a worker sleeps when it runs out of work
    and is woken for the next operator; that costs microseconds, next to the milliseconds an
    operator of a style net takes at video sizes. So it is off for every job."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # fatal only: our one-line errors say what failed
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _cache_dir() -> Path:
    import platformdirs  # the platform's cache folder: XDG on Linux, Library/Caches, AppData\Local

    return Path(platformdirs.user_cache_dir("stylecam", appauthor=False)) / "tensorrt"


@dataclass
class _Net:
    """One net the engine runs: its session, the file it loaded, and for a multi-style net
    the style weights it is fed; `share` is its weight in the output (1 unless a mix of
    separate nets)."""

    session: Any
    path: Path
    info: StyleInfo  # the loaded file's metadata
    quality: str  # "fast" or "best"
    weights: np.ndarray | None  # float32 1,S for a multi-style net
    share: float = 1.0

    def infer(self, batch: np.ndarray, cancel: Cancel | None = None) -> np.ndarray:
        """Raw model call: float32 N,3,H,W (0..255, H/W multiples of `multiple`) -> same."""
        if cancel is not None and cancel.cancelled:
            raise Cancelled("inference was cancelled")
        feeds = {INPUT_NAME: batch}
        if self.weights is not None:
            feeds[STYLE_WEIGHTS_NAME] = self.weights
        run_options = cancel.run_options if cancel is not None else None
        try:
            return self.session.run([OUTPUT_NAME], feeds, run_options)[0]
        except Exception as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("inference was cancelled") from None
            # the model cannot run on this input (a wrong stylecam.multiple, out of memory)
            n, _, h, w = batch.shape
            what = f"a {w}x{h} frame" if n == 1 else f"a batch of {n} {w}x{h} frames"
            raise StylecamError(f"{self.path}: fails on {what} ({first_line(exc, 200)})") from None


@dataclass
class Painted:
    """A frame the net has painted, before it is brought back to the frame's size
    (`Stylizer.paint_batch`, completed by `Stylizer.finish`)."""

    frame: np.ndarray  # uint8 HxWx3, the frame as given
    small: np.ndarray  # uint8 hxwx3, the copy the net ran on (`frame` itself at its own size)
    styled: np.ndarray  # float32 hxwx3 in 0..255, the net's output for `small`


class Stylizer:
    """Apply one style, or a mix of styles, to frames.

    >>> s = Stylizer("mosaic")                  # bundled style, or a path to a .onnx
    >>> out = s.stylize(frame)                  # uint8 HxWx3 RGB -> same shape
    >>> outs = s.stylize_batch([f1, f2, f3])    # one session call for same-size frames
    >>> Stylizer({"mosaic": 0.6, "candy": 0.4}) # a mix, also written "mosaic:0.6,candy:0.4"

    A mix runs inside the net where one multi-style net holds all its styles ("net"), else
    each style's net runs and their outputs are mixed ("outputs"; `blend_mode`). `set_mix`
    changes the mix of a multi-style net between frames, without reloading.

    `strength` (0..1) blends with the original; `preserve_color` keeps the input's
    colours and takes only the luminance from the style. `quality` picks the net:
    "best" the full net, "fast" the style's small CPU net (`<name>.fast.onnx`) where it
    has one, "auto" fast on CPU and best on a GPU. `quality_used` says which ran.
    `precision` "auto" loads the chosen file's `.fp16` variant on a GPU and its `.int8`
    variant on CPU where they exist (`info.precision` says what was loaded).

    `work_size` is the long side in px the net paints at: a larger frame is scaled down to
    it and the output brought back to the frame's size by edge-aware upsampling guided by
    the frame (`stylecam.upsample`), so edges stay sharp while the strokes keep the size the
    net painted them at: a smaller work size runs faster and paints bolder strokes. "full"
    runs every frame at its own size; "auto" is the device's default
    (`defaults.work_size_for`). Frames no larger than the work size run at their own size.
    `work_size` holds the resolved value (None = full).
    """

    def __init__(self, style: str | os.PathLike[str] | Mapping[str, float] = defaults.STYLE, *,
                 device: Device | str = "auto",
                 strength: float = 1.0, preserve_color: bool = False, threads: int | None = None,
                 precision: Literal["auto", "fp32", "fp16", "int8"] = "auto",
                 quality: Literal["auto", "best", "fast"] = "auto", max_megapixels: float | None = None,
                 work_size: WorkSize = "auto"):
        self.strength = strength
        self.work_size_requested = _check_work_size(work_size)
        #: frames above this size are refused before inference (memory); None = the default
        self.max_megapixels = max_megapixels_default() if max_megapixels is None else float(max_megapixels)
        if not self.max_megapixels > 0:
            raise StylecamError(f"max_megapixels must be positive, got {max_megapixels}")
        self.preserve_color = preserve_color
        self.device_requested = device
        if precision not in PRECISIONS:
            raise StylecamError(f"unknown precision {precision!r}; choose auto, fp32, fp16 or int8")
        if quality not in QUALITIES:
            raise StylecamError(f"unknown quality {quality!r}; choose {', '.join(QUALITIES)}")
        self.quality_requested = quality
        self.mix = blend.as_mix(style)
        parts = blend.plan(self.mix)
        chain = _provider_chain(device, _cache_dir())
        gpu = any(_provider_name(p) != "CPUExecutionProvider" for p in chain)
        if gpu:
            preload_cuda_libraries()
        self._nets = [self._open(part, chain, quality, precision, threads) for part in parts]
        #: why a GPU that onnxruntime listed did not run (auto only; explicit devices raise)
        self.gpu_fallback: str | None = None
        wanted = _provider_name(chain[0])
        if device != "auto" and self.providers[0] != wanted:
            # onnxruntime falls back silently when CUDA/TensorRT libraries fail to load
            raise StylecamError(f"device {device!r} could not start (onnxruntime fell back to "
                                f"{self.providers[0]}); check the CUDA/cuDNN/TensorRT install or use --device cpu")
        if gpu and self.providers[0] == "CPUExecutionProvider":
            self.gpu_fallback = ("onnxruntime lists a GPU provider but it could not start (CUDA/cuDNN libraries "
                                 "missing or mismatched); running on the CPU")
            self._nets = [self._open(part, ["CPUExecutionProvider"], quality, precision, threads) for part in parts]
        for net in self._nets:
            self._check_contract(net)
        #: the long side in px the net paints at (None: every frame at its own size)
        asked = self.work_size_requested
        self.work_size: int | None = (defaults.work_size_for(self.device) if asked == "auto"
                                      else None if asked == "full" else int(asked))
        self._separate = [n for part in parts for n in part.names] if len(parts) > 1 else []

    @property
    def notices(self) -> list[str]:
        """What a user should hear about the start: a GPU that could not start, no fast net, a
        mix of separate nets, a multi-style net given without a style."""
        found = [self.gpu_fallback] if self.gpu_fallback else []
        if self.quality_requested == "fast" and self.quality_used != "fast":
            found.append(f"style {self.name!r} has no fast net; running its full net")
        if self._separate:
            found.append(f"{', '.join(self._separate)} are separate nets: mixing their outputs (styles of one "
                         "multi-style net blend inside the net)")
        net = self._nets[0]
        if len(self.mix) == 1 and net.info.styles and list(self.mix)[0] not in net.info.style_names:
            found.append(f"{net.path.name} holds {len(net.info.styles)} styles ({', '.join(net.info.style_names)}); "
                         f"running {self.name!r}")
        return found

    @property
    def session(self) -> Any:
        """The onnxruntime session of the (first) net."""
        return self._nets[0].session

    @property
    def model_path(self) -> Path:
        """The model file the (first) net runs."""
        return self._nets[0].path

    @property
    def quality_used(self) -> str:
        """"fast" when the style's fast net runs, else "best"."""
        return self._nets[0].quality

    @property
    def providers(self) -> list[str]:
        return self._nets[0].session.get_providers()

    @property
    def info(self) -> StyleInfo:
        """The style's metadata; for a style of a multi-style net, that style's credits with the
        net's recipe (for a mix, the first style of the first net)."""
        net = self._nets[0]
        if not net.info.styles:
            return net.info
        return net.info.member(int(np.argmax(net.weights[0])) if net.weights is not None else 0)

    @property
    def edge_blur(self) -> float:
        """How soft the net paints edges, in work-size px, as guided upsampling takes it
        (stylecam.upsample): the style's; for a mix, its styles' weighted by the mix."""
        return self._mixed("edge_blur")

    @property
    def guide_radius(self) -> int:
        """The window, in work-size px, guided upsampling fits the painting over
        (stylecam.upsample): the style's; for a mix, the allowed radius nearest its styles'
        weighted by the mix (a tie takes the default)."""
        mean = self._mixed("guide_radius")
        return min(upsample.GUIDE_RADII, key=lambda r: (abs(r - mean), r != upsample.RADIUS))

    def _mixed(self, field: str) -> float:
        """A per-style number of the style, or of a mix its styles' weighted by the mix."""
        total = 0.0
        for net in self._nets:
            if net.info.styles and net.weights is not None:  # the styles of a multi-style net, by their weights
                total += net.share * sum(float(w) * getattr(s, field) for w, s in zip(net.weights[0], net.info.styles))
            else:
                total += net.share * getattr(net.info, field)
        return total

    @property
    def blend_mode(self) -> str:
        """"none" for one style, "net" for a mix inside a multi-style net, "outputs" for a mix of nets."""
        mixed = sum(1 for w in self.mix.values() if w > 0) > 1
        return "none" if not mixed else "outputs" if len(self._nets) > 1 else "net"

    def can_mix(self, names: Sequence[str]) -> bool:
        """True when `set_mix` can run these styles: the one net running holds all of them."""
        held = self._nets[0].info.style_names
        return len(self._nets) == 1 and bool(held) and all(n in held for n in names)

    def set_mix(self, mix: str | Mapping[str, float]) -> None:
        """Run another mix of the multi-style net's styles from the next frame on (a style
        switch that fades, a blend that changes); StylecamError if the net does not hold them."""
        mix = blend.as_mix(mix)
        if not self.can_mix(list(mix)):
            raise StylecamError(f"{self.model_path.name} cannot run {blend.label(mix)!r}: it holds "
                                f"{', '.join(self._nets[0].info.style_names) or 'one style'}")
        held = self._nets[0].info.style_names
        self._nets[0].weights = _style_weights(len(held), {held.index(n): w for n, w in mix.items()})
        self.mix = mix

    def _open(self, part: blend.NetPart, chain: list, quality: str, precision: str, threads: int | None) -> _Net:
        """Pick the file for the chain's first device (net quality, then precision copy) and open it."""
        import onnxruntime as ort

        path = part.path
        pick = pick_model_file(path.name, styles.available_files(path), _DEVICE[_provider_name(chain[0])],
                               quality, precision, part.by_name)
        model_path = path.with_name(pick.file)
        info = styles.read_info(model_path)
        opts = session_options(threads)
        if "TensorrtExecutionProvider" in str(chain):
            _cache_dir().mkdir(parents=True, exist_ok=True)
        try:
            session = ort.InferenceSession(str(model_path), opts, providers=chain)
        except Exception as exc:
            raise StylecamError(f"cannot load model {model_path}: {first_line(exc, 200)}") from None
        weights = _style_weights(len(info.styles), part.rows or {0: 1.0}) if info.styles else None
        return _Net(session, model_path, info, pick.quality, weights, part.share)

    # -- public API ---------------------------------------------------------------------

    @property
    def default_smoothing(self) -> str:
        """A net trained with the temporal loss is steady by itself (flow smoothing on top
        would soften its strokes for little gain); any other net gets flow smoothing."""
        return "none" if self.info.temporal_weight > 0 else "flow"

    @property
    def name(self) -> str:
        """The style's name; for a mix a short label fit for file names (mosaic60_candy40)."""
        if len(self.mix) == 1 and not styles.is_model_path(list(self.mix)[0]):
            return list(self.mix)[0]
        return self.info.name if len(self.mix) == 1 else blend.label(self.mix)

    @property
    def device(self) -> str:
        """The device actually running the model: cpu, cuda or tensorrt."""
        return _DEVICE.get(self.providers[0], self.providers[0])

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        if not 0.0 <= float(value) <= 1.0:
            raise StylecamError(f"strength must be between 0 and 1, got {value}")
        self._strength = float(value)

    def stylize(self, frame: np.ndarray) -> np.ndarray:
        """One uint8 HxWx3 RGB frame -> stylized frame of the same shape."""
        return self.stylize_batch([frame])[0]

    def stylize_batch(self, frames: Sequence[np.ndarray], cancel: Cancel | None = None) -> list[np.ndarray]:
        """Stylize frames; same-size frames share an inference call, as many as the
        megapixel limit allows in one (`frames_per_call`). `cancel` lets another thread
        stop the calls (see `Cancel`). The same as `finish` on each of `paint_batch`."""
        return [self.finish(p) for p in self.paint_batch(frames, cancel)]

    def paint_batch(self, frames: Sequence[np.ndarray], cancel: Cancel | None = None) -> list[Painted]:
        """The net's part of `stylize_batch`: each frame painted at the work size, not yet
        brought back to its own size. `finish` completes a frame; a pipeline calls it on
        another thread, so that bringing frame N back to its size overlaps painting N+1."""
        for f in frames:
            _check_frame(f)
            self.check_size(f.shape[1], f.shape[0])
        out: list[Painted | None] = [None] * len(frames)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape[:2], []).append(i)
        for (h, w), same in groups.items():
            n = self.frames_per_call(w, h)
            for start in range(0, len(same), n):
                idx = same[start:start + n]
                for i, r in zip(idx, self._paint([frames[i] for i in idx], cancel)):
                    out[i] = r
        return out  # type: ignore[return-value]

    def finish(self, painted: Painted, smoother: Smoother | None = None) -> np.ndarray:
        """A painted frame -> the stylized uint8 frame at its own size: the net's output,
        smoothed against the previous frames by `smoother` (if any), brought back by guided
        upsampling (when the net ran at a work size), then colour preservation and strength
        (as set now) against the full-size frame.

        The smoother sees the net's input and output at the size the net ran at: its flow,
        warp and blend then cost a fraction of what they would at the frame's size, and the
        upsampling adds the frame's own detail, which needs no smoothing."""
        original, s = painted.frame, painted.styled
        if smoother is not None:  # float32 for the upsampling (`none` hands the net's output back as it is)
            s = np.asarray(smoother(painted.small, s), dtype=np.float32)
        if painted.small is not original:
            s = upsample.guided_upsample(s, painted.small, original, self.edge_blur, self.guide_radius)
        if self.preserve_color:
            s = transfer_luminance(s, original)
        if self._strength < 1.0:
            o = original.astype(np.float32)
            s = o + self._strength * (s.astype(np.float32) - o)
        return to_uint8(s)

    def work_shape(self, height: int, width: int) -> tuple[int, int]:
        """H, W the net runs at for a frame of this size (see `work_size`)."""
        return upsample.work_shape(height, width, self.work_size)

    def frames_per_call(self, width: int, height: int) -> int:
        """How many frames of this size one inference call may hold: the megapixel limit
        is the memory of one call, so a batch of frames shares it (at least one frame); the
        net sees them at the work size."""
        h, w = self.work_shape(height, width)
        per_call = self.max_megapixels * 1e6 / max(1, w * h)
        return max(1, int(min(per_call, 1 << 16)))

    def check_size(self, width: int, height: int, what: str = "frame") -> None:
        """Refuse a frame too large for the memory limit, saying how to raise it."""
        mp = width * height / 1e6
        if mp > self.max_megapixels:
            raise StylecamError(
                f"{what} is {width}x{height} ({mp:.1f} megapixels), above the limit of {self.max_megapixels:g} "
                f"megapixels (the net needs about 0.25-0.9 GB per megapixel); raise it with --max-megapixels "
                f"or {MAX_MEGAPIXELS_ENV} if this machine has the memory")

    def infer(self, batch: np.ndarray, cancel: Cancel | None = None) -> np.ndarray:
        """Raw call of the (first) net: float32 N,3,H,W (0..255, H/W multiples of `multiple`) -> same."""
        return self._nets[0].infer(batch, cancel)

    # -- internals ----------------------------------------------------------------------

    def _check_contract(self, net: _Net) -> None:
        """Check the contract at load, so a wrong model fails in one line before any output
        is started: names, float32 N,3,H,W input with dynamic H/W, a multi-style net's style
        weights, and, on a small probe frame, a float32 3-channel output of the input's size."""
        path = net.path
        inputs = {i.name: i for i in net.session.get_inputs()}
        outputs = {o.name for o in net.session.get_outputs()}
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise StylecamError(
                f"{path} does not follow the stylecam model contract "
                f"(needs input '{INPUT_NAME}' and output '{OUTPUT_NAME}'; "
                f"has {sorted(inputs)} -> {sorted(outputs)})")
        spec = inputs[INPUT_NAME]
        shape = spec.shape
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise StylecamError(f"{path}: input must be N,3,H,W, got {shape}")
        if spec.type != "tensor(float)":
            raise StylecamError(f"{path}: input must be float32, got {spec.type}")
        if isinstance(shape[2], int) or isinstance(shape[3], int):
            raise StylecamError(f"{path}: input height and width must be dynamic, got fixed "
                                f"{shape[2]}x{shape[3]}")
        _check_style_weights(net, inputs)
        if net.session.get_providers()[0] == "TensorrtExecutionProvider":
            return  # TensorRT builds an engine per new shape (minutes); its frames are checked as they come
        h, w = probe_size(net.info.multiple)
        try:
            out = net.infer(np.full((1, 3, h, w), 128, np.float32))
        except Exception as exc:
            raise StylecamError(f"{path}: fails on a {w}x{h} probe frame "
                                f"({first_line(exc, 200)})") from None
        if out.dtype != np.float32:
            raise StylecamError(f"{path}: output must be float32, got {out.dtype}")
        _check_output(net, out, (1, 3, h, w))

    def _paint(self, frames: list[np.ndarray], cancel: Cancel | None = None) -> list[Painted]:
        """Same-size frames through the net(s) at the work size."""
        h, w = frames[0].shape[:2]
        shape = self.work_shape(h, w)
        small = frames if shape == (h, w) else [upsample.downscale(f, shape) for f in frames]
        styled = _styled(self._nets[0], small, cancel)
        if len(self._nets) > 1:  # a mix of separate nets: their outputs, weighted
            styled *= self._nets[0].share
            for net in self._nets[1:]:
                styled += net.share * _styled(net, small, cancel)
        return [Painted(original, lo, s) for original, lo, s in zip(frames, small, styled)]

def _styled(net: _Net, frames: list[np.ndarray], cancel: Cancel | None = None) -> np.ndarray:
    """Same-size frames through one net: float32 N,H,W,3 in 0..255 (padded and cropped back)."""
    h, w = frames[0].shape[:2]
    b = net.info.border
    hp, wp = padded_size(h, w, net.info.multiple, b)
    ph, pw = hp - h - b, wp - w - b
    stack = np.stack(frames)  # N,H,W,3 uint8: pad before the float copy (4x less to move)
    if b or ph or pw:  # mirror a border of b on every side, then up to the multiple
        stack = mirror_pad(stack, (b, ph), (b, pw))
    batch = np.ascontiguousarray(stack.transpose(0, 3, 1, 2), dtype=np.float32)
    raw = net.infer(batch, cancel)
    _check_output(net, raw, batch.shape)  # a broken net must not become a garbage picture
    import cv2

    # crop and interleave each frame's planes in one pass (a strided numpy transpose makes
    # every later step copy it again), then clip in place
    out = np.empty((len(frames), h, w, 3), np.float32)
    for i in range(len(frames)):
        cv2.merge([raw[i, c, b:b + h, b:b + w] for c in range(3)], dst=out[i])
    return np.clip(out, 0, 255, out=out)


def _check_output(net: _Net, out: np.ndarray, expected: tuple[int, ...]) -> None:
    if out.shape != expected:
        raise StylecamError(f"{net.path}: output must be N,3,H,W of the input's size, got "
                            f"{'x'.join(map(str, out.shape))} for an input of {'x'.join(map(str, expected))}")
    if not np.isfinite(out).all():
        raise StylecamError(f"{net.path}: the model produced NaN or infinite values; it is broken "
                            "(or was exported wrongly)")


def _check_style_weights(net: _Net, inputs: dict[str, Any]) -> None:
    """A multi-style net takes float32 1,S style weights and lists its S styles; a net
    with any other extra input cannot run."""
    extra = sorted(set(inputs) - {INPUT_NAME})
    count = len(net.info.styles)
    if not count and not extra:
        return
    if extra != [STYLE_WEIGHTS_NAME]:
        raise StylecamError(f"{net.path} does not follow the stylecam model contract (inputs {sorted(inputs)}; "
                            f"only a multi-style net has a second input, '{STYLE_WEIGHTS_NAME}')")
    spec = inputs[STYLE_WEIGHTS_NAME]
    if not count:
        raise StylecamError(f"{net.path}: takes '{STYLE_WEIGHTS_NAME}' but its metadata does not list its styles "
                            f"(stylecam.styles)")
    if spec.type != "tensor(float)" or len(spec.shape) != 2 or spec.shape[1] not in (count, str(count)) \
            or spec.shape[0] not in (1, "1") and isinstance(spec.shape[0], int):
        raise StylecamError(f"{net.path}: '{STYLE_WEIGHTS_NAME}' must be float32 1x{count} for its {count} styles, "
                            f"got {spec.type} {spec.shape}")


def _style_weights(count: int, rows: dict[int, float]) -> np.ndarray:
    """The float32 1,count style weights with `rows` set."""
    weights = np.zeros((1, count), np.float32)
    for i, w in rows.items():
        weights[0, i] = w
    return weights


def _check_work_size(value: Any) -> WorkSize:
    """A work size as given: "auto", "full" or a whole number of px (at least MIN_SIDE)."""
    if isinstance(value, str) and value in ("auto", "full"):
        return value  # type: ignore[return-value]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= MIN_SIDE:
        return int(value)
    raise StylecamError(f"work size must be 'auto', 'full' or a long side in pixels (at least {MIN_SIDE}), "
                        f"got {value!r}")


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}"
        raise StylecamError(f"frames must be uint8 HxWx3 RGB arrays, got {got}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise StylecamError(f"empty frame {frame.shape}")


def padded_size(h: int, w: int, multiple: int, border: int) -> tuple[int, int]:
    """The H, W a frame is padded to before inference: `border` mirrored on every side,
    then up to the net's multiple (and at least MIN_SIDE, itself rounded up to it)."""
    least = -(-MIN_SIDE // multiple) * multiple
    return (max(least, -(-(h + 2 * border) // multiple) * multiple),
            max(least, -(-(w + 2 * border) // multiple) * multiple))


def probe_size(multiple: int) -> tuple[int, int]:
    """H, W of the frame a model is checked on at load: odd multiples of its declared
    `multiple` (so a net that needs a larger one fails here, not on the first real frame),
    at least MIN_SIDE, and not square (so swapped axes show too)."""
    k = max(5, -(-MIN_SIDE // multiple)) | 1
    return multiple * k, multiple * (k + 2)


def mirror_index(n: int, before: int, after: int) -> np.ndarray:
    """Source index of every position of a length-n axis extended by `before`/`after`
    mirrored samples (reflect-101, repeating the mirror when a pad is longer than the axis;
    a 1-long axis can only repeat its sample)."""
    i = np.arange(-before, n + after)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i < n, i, period - i)


def mirror_pad(images: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """Pad N,H,W,C images (rows/cols = (before, after)) by mirroring, in one gather per
    axis: np.pad's reflect mode copies the whole array once per step and side."""
    images = images.take(mirror_index(images.shape[1], *rows), axis=1)
    return images.take(mirror_index(images.shape[2], *cols), axis=2)


def transfer_luminance(styled: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Luminance from the stylized frame, chroma from the original (BT.601 YCbCr), float32."""
    s = styled.astype(np.float32)
    o = original.astype(np.float32)
    y = 0.299 * s[..., 0] + 0.587 * s[..., 1] + 0.114 * s[..., 2]
    cb = -0.168736 * o[..., 0] - 0.331264 * o[..., 1] + 0.5 * o[..., 2]
    cr = 0.5 * o[..., 0] - 0.418688 * o[..., 1] - 0.081312 * o[..., 2]
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.clip(rgb, 0, 255)

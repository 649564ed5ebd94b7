"""`stylecam` command line: parse options, build a Stylizer, hand off to a job.

Every user error ends as one line on stderr and exit code 2; Ctrl+C as exit code 130,
SIGTERM 143 and SIGHUP 129, with no partial output at the target.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, defaults, learn, signals, styles
from .atomic import cleanup_pending
from .contract import QUALITIES
from .engine import DEVICES, MIN_SIDE, Stylizer
from .errors import StylecamError, one_line
from .io.paths import kind_of
from .temporal import MODES

if TYPE_CHECKING:
    from .live import LiveOptions

EXIT_USAGE = 2

EPILOG = """examples:
  stylecam video.mp4 -o out.mp4 --style mosaic     file in, file out, audio kept
  stylecam photo.jpg --style candy                 writes photo_candy.jpg
  stylecam photo.jpg --style mosaic:0.6,candy:0.4  a mix of two styles
  stylecam clips/ -o styled/ --style udnie -y      every image and video in a folder
  stylecam --list-styles                           bundled styles and their paintings
  stylecam --sheet photo.jpg -o sheet.png          the photo in every style, labelled, in a grid
  stylecam --webcam --style mosaic                 live preview window (hotkeys: n/p style,
                                                   +/- strength, space pause, s snapshot, q quit)
  stylecam --webcam --virtual-cam --no-window      a camera that OBS / Zoom can pick
  stylecam --webcam --stream udp://127.0.0.1:9999 --no-window   MPEG-TS for OBS's Media Source
  stylecam udp://0.0.0.0:5000 --no-window -o rec.mp4   a live stream in, recorded
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _int_range(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="stylecam", description="Stylize images, videos and live video with fast neural style nets.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?",
                   help="image, video or folder to stylize, or a live URL/device (udp://, rtsp://, /dev/video0)")
    p.add_argument("-o", "--output", help="output file or folder (default: INPUT_STYLE.ext beside the input)")
    p.add_argument("-s", "--style", default=None,
                   help="style name (see --list-styles), path to a stylecam .onnx model, or a mix of styles such as "
                        "mosaic:0.6,candy:0.4 (inside the net where one multi-style net holds them all, else the "
                        f"styles' outputs are mixed) (default: {defaults.STYLE})")
    p.add_argument("--strength", type=_fraction, default=1.0,
                   help="blend with the original: 1 = full style, 0 = original (default: 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the input's colours, take only the strokes")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where to run the net; an unavailable explicit device is an error (default: auto)")
    p.add_argument("--quality", choices=QUALITIES, default="auto",
                   help="best = the full style net; fast = the style's small CPU net (about 10x faster on CPU, "
                        "judged in models/README.md) where it has one; auto = fast on CPU, best on a GPU "
                        "(default: auto)")
    p.add_argument("--work-size", type=_work_size, default="auto", metavar="N|full",
                   help="the size the net paints at, as the long side in pixels: a larger image or frame is painted "
                        "at this size and brought back to its own size with edge-aware upsampling, so edges stay "
                        "sharp. The net paints strokes of a fixed size in its pixels, so a smaller work size gives "
                        "bolder strokes and runs faster, a larger one finer strokes; full = paint at the frame's own "
                        f"size (default: auto = {defaults.WORK_SIZE_CPU} on a CPU, full on a GPU; live mode on a CPU "
                        f"starts at {defaults.LIVE_MIN_WORK_SIZE} and after a second paints at the largest size up "
                        f"to {defaults.WORK_SIZE_CPU} predicted to use at most "
                        f"{100 * defaults.LIVE_CPU_BUDGET:.0f}%% of the cores, then lowers it in steps of "
                        f"{defaults.LIVE_WORK_SIZE_STEP}, down to {defaults.LIVE_MIN_WORK_SIZE}, while it shows "
                        "fewer than "
                        f"{100 * defaults.LIVE_KEEP_UP:.0f}%% of the source's frames or they come more than "
                        f"{1000 * defaults.LIVE_MAX_LATENCY:.0f} ms late, and says so; a number keeps its size)")
    p.add_argument("--threads", type=_int_range(1, 256), default=None,
                   help="CPU inference threads per call (default: all cores for images and folders; a video "
                        "file and live mode share the cores among their two inference workers)")
    p.add_argument("--max-megapixels", type=_positive_megapixels, default=None, metavar="MP",
                   help="refuse images and frames larger than this; inference needs about 0.25 (fast net) to 0.9 GB "
                        f"(full net) per megapixel (default: $STYLECAM_MAX_MEGAPIXELS or {defaults.MAX_MEGAPIXELS:g})")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary line")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--list-styles", action="store_true", help="list the available styles and exit")
    p.add_argument("--sheet", metavar="PHOTO",
                   help="PHOTO in every available style, each labelled, in one grid image (-o: where to write it, "
                        "default PHOTO_sheet.EXT)")
    p.add_argument("--version", action="version", version=f"stylecam {__version__}")
    v = p.add_argument_group("video")
    v.add_argument("--batch", type=_int_range(1, 64), default=1,
                   help="frames per inference call for files (default: 1; live mode never batches)")
    v.add_argument("--smooth", choices=MODES, default=None,
                   help="temporal smoothing against flicker: flow = blend with the previous output warped "
                        "along optical flow where it is reliable (steady, no trails); ema = plain blend "
                        "(smears motion); none (default: none for nets trained to be steady, such as the fast "
                        "nets, flow for the others)")
    v.add_argument("--smooth-strength", type=_fraction, default=None,
                   help=f"how much of the previous output to keep, 0..1 (flow default {defaults.FLOW_STRENGTH}, "
                        f"ema {defaults.EMA_STRENGTH})")
    v.add_argument("--crf", type=_int_range(0, 51), default=defaults.CRF,
                   help=f"H.264 quality, lower is better (default: {defaults.CRF})")
    v.add_argument("--preset", choices=defaults.PRESETS, default=defaults.PRESET, metavar="NAME",
                   help=f"x264 speed preset, {', '.join(defaults.PRESETS)}: slower ones make smaller files at the "
                        f"same --crf and take more CPU from the net (default: {defaults.PRESET})")
    ls = p.add_argument_group("a style from your own painting (needs the [train] extra to learn)")
    ls.add_argument("--style-image", metavar="PAINTING",
                    help="use a fast net learned from this painting: learned the first time (minutes on a CPU, "
                         "with a progress bar), then cached, so it starts at once")
    ls.add_argument("--learn-style", metavar="PAINTING",
                    help="learn a painting as a named style (--name) that --list-styles shows, and exit")
    ls.add_argument("--name", help="the name of the style --learn-style makes (letters, digits, _ and -)")
    ls.add_argument("--learn-photos", metavar="FOLDER",
                    help=f"photos to learn on (default: ${learn.PHOTOS_ENV}, else the input's own images or frames)")
    ls.add_argument("--learn-steps", type=_int_range(1, 100_000), default=None, metavar="N",
                    help="at most this many learning steps")
    ls.add_argument("--learn-minutes", type=_positive_float, default=None, metavar="M",
                    help="at most this many minutes of learning")
    ls.add_argument("--vgg-weights", metavar="FILE",
                    help=f"VGG16 weights for the losses (default: ${learn.VGG_ENV})")
    ls.add_argument("--base-checkpoint", metavar="FILE",
                    help=f"the trained net a new style starts from (default: ${learn.BASE_ENV}, else "
                         "starry_night's, which the training package ships)")
    lv = p.add_argument_group("live (webcam, streams, OBS)")
    lv.add_argument("--webcam", nargs="?", const=0, type=_int_range(0, 99), metavar="INDEX",
                    help="use camera INDEX (default 0) as the source")
    lv.add_argument("--cam-size", type=_size, metavar="WxH", help="ask the camera for this size, e.g. 1280x720")
    lv.add_argument("--cam-fps", type=_int_range(1, 240), help="ask the camera for this frame rate")
    lv.add_argument("--mirror", action="store_true", help="flip the camera image like a mirror")
    lv.add_argument("--live", action="store_true",
                    help="treat INPUT (a file) as a live source played at its frame rate (testing, loops)")
    lv.add_argument("--no-window", action="store_true", help="no preview window")
    lv.add_argument("--virtual-cam", action="store_true", help="send the output to a virtual camera (pyvirtualcam)")
    lv.add_argument("--stream", metavar="URL", help="send MPEG-TS to udp://HOST:PORT (or srt://) for OBS")
    lv.add_argument("--duration", type=_positive_float, default=0.0, metavar="S",
                    help="stop live mode after S seconds (default: until q/Ctrl+C)")
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720, got {text!r}")


def _work_size(text: str) -> int | str:
    if text in ("full", "auto"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"expected a long side in pixels (at least {MIN_SIDE}) or 'full', "
                                         f"got {text!r}")
    return value


def _positive_megapixels(text: str) -> float:
    value = _positive_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _warn(message: str) -> None:
    print(f"stylecam: warning: {one_line(message)}", file=sys.stderr)


def _print_out(text: str) -> None:
    """A line on stdout. A stdout that cannot take it (a full disk, `> /dev/full`) is one
    error line with exit code 2, not an internal error."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader left: handled in _main
    except OSError as exc:
        _drop_stdout()  # what is still buffered would fail again at exit
        raise StylecamError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _drop_stdout() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _make_engine(args: argparse.Namespace, video: bool = False) -> Stylizer:
    """The engine of a file job; a video's on a CPU gives each inference worker's call its
    share of the cores (`pipeline.worker_threads`) unless --threads says otherwise."""
    from .pipeline import worker_threads

    threads = worker_threads(args.device, args.threads) if video else args.threads
    engine = Stylizer(args.style or defaults.STYLE, device=args.device, strength=args.strength,
                      preserve_color=args.preserve_color, threads=threads, quality=args.quality,
                      max_megapixels=args.max_megapixels, work_size=args.work_size)
    for notice in engine.notices:
        _warn(notice)
    return engine


def _list_styles(as_json: bool) -> int:
    infos = styles.list_styles()
    if as_json:
        _print_out(json.dumps([{"name": i.name, "display_name": i.title, "painting": i.painting, "artist": i.artist,
                           "image_source": i.image_source, "license": i.license, "path": str(i.path),
                           "training": i.training, "fast_net": styles.has_fast_net(i), "net_index": i.index,
                           "learned": i.path is not None and i.path.parent == styles.learned_dir()}
                          for i in infos], indent=2))
    elif not infos:
        _print_out("no styles installed; pass a model with --style path/to/style.onnx")
    else:
        learned = styles.learned_dir()
        for info in infos:
            fast = "  +fast net" if styles.has_fast_net(info) else ""
            mine = "  (learned)" if info.path is not None and info.path.parent == learned else ""
            _print_out(info.summary() + fast + mine)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_styles:
        return _list_styles(args.json)
    if args.sheet:
        return run_sheet(args)
    if args.learn_style:
        return run_learn(args)
    if args.name:
        raise StylecamError("--name names the style that --learn-style makes; give --learn-style PAINTING too")
    if args.style_image:
        args.style = str(_learned_style(args))
    from .live import LIVE_PREFIXES

    if args.webcam is not None or args.live or (args.input and args.input.startswith(LIVE_PREFIXES)):
        return run_live(args)
    if not args.input:
        raise StylecamError("no input given; try: stylecam video.mp4 -o out.mp4 --style mosaic")
    if args.virtual_cam or args.stream:
        raise StylecamError("--virtual-cam and --stream need a live source: --webcam, a stream URL, or --live")
    from .files import VideoOptions, stylize_path
    from .io.paths import kind_of

    src = Path(args.input)
    kind = kind_of(src)  # fail on a missing/unsupported input before loading the model
    engine = _make_engine(args, video=kind == "video")
    options = VideoOptions(batch=args.batch, smooth=args.smooth or engine.default_smoothing,
                           smooth_strength=args.smooth_strength,
                           crf=args.crf, preset=args.preset, progress=False if (args.quiet or args.json) else None)
    results = stylize_path(src, Path(args.output) if args.output else None, engine, options,
                           overwrite=args.overwrite, warn=_warn)
    signals.closing()  # every output is committed: a signal now must not report the job as interrupted
    failed = [r for r in results if r.error]
    if args.json:
        summary: dict[str, Any] = {"style": engine.name, "device": engine.device, "quality": engine.quality_used,
                                   "precision": engine.info.precision, "work_size": engine.work_size or "full",
                                   "smooth": options.smooth,
                                   "results": [r.to_dict() for r in results]}
        _print_out(json.dumps(summary, indent=2))
    elif not args.quiet:
        for r in results:
            if not r.error:
                rate = f", {r.fps:.1f} fps" if r.kind == "video" else ""
                print(f"wrote {one_line(r.output)} ({r.frames} frame{'s' if r.frames != 1 else ''}{rate})",
                      file=sys.stderr)
    if failed:
        print(f"stylecam: error: {len(failed)} of {len(results)} files failed", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _learn_options(args: argparse.Namespace, source: Path | None) -> learn.LearnOptions:
    def say(message: str) -> None:
        if not (args.quiet or args.json):
            print(f"stylecam: {one_line(message)}", file=sys.stderr)

    return learn.LearnOptions(
        steps=args.learn_steps, minutes=args.learn_minutes, threads=args.threads, say=say, source=source,
        photos_folder=Path(args.learn_photos) if args.learn_photos else None,
        base_checkpoint=Path(args.base_checkpoint) if args.base_checkpoint else None,
        vgg_weights=Path(args.vgg_weights) if args.vgg_weights else None,
        progress=False if (args.quiet or args.json) else None, max_megapixels=args.max_megapixels)


def _learned_style(args: argparse.Namespace) -> Path:
    """The model learned (or cached) for --style-image; photos to learn on default to the input's."""
    from .live import LIVE_PREFIXES

    if args.style:
        raise StylecamError("give either --style or --style-image, not both")
    if not args.input and args.webcam is None:
        raise StylecamError("no input given; try: stylecam photo.jpg --style-image my_painting.jpg")
    source = None
    if args.input and args.webcam is None and not args.input.startswith(LIVE_PREFIXES):
        source = Path(args.input)
        kind_of(source)  # a missing input fails before minutes of learning
    return learn.learned_model(Path(args.style_image), _learn_options(args, source))


def run_learn(args: argparse.Namespace) -> int:
    if not args.name:
        raise StylecamError("--learn-style needs --name NAME: the name the style will have")
    if args.input or args.style_image or args.webcam is not None:
        raise StylecamError("--learn-style makes a named style and exits; give no input or --style-image")
    path = learn.learn_named_style(Path(args.learn_style), args.name, _learn_options(args, None),
                                   overwrite=args.overwrite)
    signals.closing()
    if args.json:
        print(json.dumps({"style": args.name, "path": str(path), "painting": args.learn_style}, indent=2))
    elif not args.quiet:
        print(f"learned style {args.name}: {one_line(str(path))} (use it with --style {args.name})", file=sys.stderr)
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    from .sheet import write_sheet

    if args.input:
        raise StylecamError("--sheet takes the photo itself; give no other input")
    result = write_sheet(Path(args.sheet), Path(args.output) if args.output else None, overwrite=args.overwrite,
                         warn=_warn, max_megapixels=args.max_megapixels, device=args.device, quality=args.quality,
                         threads=args.threads, strength=args.strength, preserve_color=args.preserve_color,
                         work_size=args.work_size)
    signals.closing()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif not args.quiet:
        print(f"wrote {one_line(result.output)} ({len(result.styles)} styles)", file=sys.stderr)
    return 0


def live_options(args: argparse.Namespace) -> LiveOptions:
    from .live import EngineOptions, LiveOptions

    engine = EngineOptions(device=args.device, quality=args.quality, threads=args.threads,
                           preserve_color=args.preserve_color, max_megapixels=args.max_megapixels,
                           work_size=args.work_size)
    return LiveOptions(style=args.style or defaults.STYLE, strength=args.strength, engine=engine, webcam=args.webcam,
                       input=args.input, paced=args.live, cam_size=args.cam_size, cam_fps=args.cam_fps,
                       mirror=args.mirror, smooth=args.smooth, smooth_strength=args.smooth_strength,
                       window=not args.no_window, virtual_cam=args.virtual_cam, stream=args.stream,
                       output=Path(args.output) if args.output else None, overwrite=args.overwrite,
                       duration=args.duration)


def run_live(args: argparse.Namespace) -> int:
    from . import live

    result = live.run(live_options(args), warn=_warn)
    summary = result.stats.summary()
    if args.json:
        _print_out(json.dumps(result.to_dict(), indent=2))
    elif not args.quiet:
        print(f"live: {summary['shown']} frames at {summary['fps']} fps, latency p50 {summary['latency_ms_p50']} ms, "
              f"{summary['dropped']} stale frames dropped, {summary['reconnects']} reconnects", file=sys.stderr)
    # the recording is finalised either way; a service manager still learns it was TERM/HUP
    ended_by = result.ended_by
    return signals.exit_code(ended_by) if ended_by is not None and signals.ended_by_signal(ended_by) else 0


def _quiet_ffmpeg() -> None:
    """FFmpeg logs to stderr by itself; our errors already say what went wrong in one line.

    Never PyAV's Python log callback (any level but None installs it): FFmpeg's decoder
    threads call it and it needs the GIL, so a thread waiting in it while the main thread
    closes the decoder (holding the GIL in avcodec_free_context) hangs the process at exit.
    `set_level(None)` keeps PyAV's C callback, which drops the messages without Python."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # OpenCV's own FFmpeg (the fallback decoder)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # camera probing warns once per missing index
    try:
        import av.logging

        av.logging.set_level(None)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    previous: dict[int, Any] = {}
    try:
        previous = signals.install()  # TERM and HUP clean up like Ctrl+C (also when main() is called directly)
        return _main(argv)
    except KeyboardInterrupt as exc:  # also a signal that came before or after the run
        signals.closing()
        cleanup_pending()
        print(one_line(signals.interrupted_message(exc)), file=sys.stderr)
        return signals.exit_code(exc)
    finally:
        signals.closing()
        cleanup_pending()  # a temp file whose own cleanup a signal cut short
        signals.restore(previous)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(os.environ.get("STYLECAM_DEBUG"))
    warnings.showwarning = lambda message, *_a, **_k: _warn(str(message))
    if not debug:
        _quiet_ffmpeg()
    try:
        return run(args)
    except StylecamError as exc:
        print(f"stylecam: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `stylecam --list-styles | head`: the reader left, as with any Unix tool
        _drop_stdout()  # no second error at exit
        return 0
    except Exception as exc:
        if debug:
            raise
        print(f"stylecam: internal error: {type(exc).__name__}: {one_line(str(exc))} "
              "(set STYLECAM_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

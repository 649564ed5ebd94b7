"""File jobs: one image, one video, or a folder of both, from input path to output path.

Each job checks its output before any work (never the input, never an existing file
without overwrite, writable folder), writes to a temp file and renames at the end.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import defaults
from .engine import Stylizer
from .errors import StylecamError, first_line
from .io.decode import open_video
from .io.encode import VideoSink
from .io.frames import VideoInfo
from .io.images import check_output_size, read_image, write_image
from .io.paths import (IMAGE_OUTPUT_SUFFIXES, IMAGE_SUFFIXES, VIDEO_OUTPUT_SUFFIXES, VIDEO_SUFFIXES, check_output,
                       check_writable, kind_of)
from .pipeline import Progress, stylize_frames, stylize_stream
from .temporal import make_smoother

Warn = Callable[[str], None]


@dataclass
class JobResult:
    input: str
    output: str
    kind: str
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    inference_fps: float = 0.0
    width: int = 0
    height: int = 0
    audio: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class VideoOptions:
    batch: int = 1
    smooth: str = "none"
    smooth_strength: float | None = None
    crf: int = defaults.CRF
    preset: str = defaults.PRESET
    progress: bool | None = None  # None = when stderr is a terminal


def default_output(src: Path, style: str, kind: str) -> Path:
    """video.mp4 -> video_mosaic.mp4 beside it; formats we cannot write become .mp4/.png.
    The style name comes from the model's metadata: a path separator or control character
    in it becomes "_", so the output stays beside the input and its name on one line."""
    style = "".join("_" if c in "/\\" or not c.isprintable() else c for c in style)
    if kind == "folder":
        return src.with_name(f"{src.name}_{style}")
    suffix = src.suffix.lower()
    if kind == "video" and suffix not in VIDEO_OUTPUT_SUFFIXES:
        suffix = ".mp4"
    if kind == "image" and suffix not in IMAGE_OUTPUT_SUFFIXES:
        suffix = ".png"
    return src.with_name(f"{src.stem}_{style}{suffix}")


def stylize_image_file(src: Path, dst: Path, engine: Stylizer, overwrite: bool = False) -> JobResult:
    check_output(dst, [src], overwrite)
    if dst.suffix.lower() not in IMAGE_OUTPUT_SUFFIXES:
        raise StylecamError(f"unsupported image output {dst.suffix or '(no extension)'}; "
                            f"use one of {', '.join(sorted(IMAGE_OUTPUT_SUFFIXES))}")
    started = time.perf_counter()
    def check_size(width: int, height: int) -> None:  # from the header, before decoding
        engine.check_size(width, height, f"image {src}")
        check_output_size(dst, width, height)

    image = read_image(src, check_size)
    out = stylize_frames(engine, [image.rgb])[0]  # on a worker thread: a signal ends the job at once
    # a gray photo comes out in the style's colours; --preserve-color keeps it gray
    write_image(dst, out, like=image, overwrite=overwrite)
    h, w = out.shape[:2]
    return JobResult(str(src), str(dst), "image", frames=1, seconds=time.perf_counter() - started, width=w, height=h)


def stylize_video_file(src: Path, dst: Path, engine: Stylizer, options: VideoOptions = VideoOptions(),
                       overwrite: bool = False, warn: Warn | None = None) -> JobResult:
    check_output(dst, [src], overwrite)
    source = open_video(src)
    result = JobResult(str(src), str(dst), "video")
    sink: VideoSink | None = None
    try:
        source.peek_rotation()
        info = source.info
        if info.width <= 0 or info.height <= 0:
            raise StylecamError(f"no decodable video frames in {src}")
        engine.check_size(info.width, info.height, f"video {src}")
        if (info.width % 2 or info.height % 2) and warn:
            warn(f"{src.name}: odd size {info.width}x{info.height} is kept exactly with 4:4:4 chroma "
                 "(H.264 High 4:4:4), which some players do not support")
        sink = VideoSink(dst, info, audio_from=src, crf=options.crf, preset=options.preset, overwrite=overwrite)
        result.audio = sink.audio is not None
        batch = min(options.batch, engine.frames_per_call(info.width, info.height))
        if batch < options.batch and warn:  # its queues would hold the frames too
            warn(f"{src.name}: --batch {options.batch} lowered to {batch}: one inference call may hold "
                 f"{engine.max_megapixels:g} megapixels (--max-megapixels), {batch} frame{'s' if batch != 1 else ''} "
                 f"of {info.width}x{info.height}")
        progress = Progress(info.frame_count or None, src.name, options.progress)
        stats = stylize_stream(source, engine, sink.write, batch=batch,
                               smoother=make_smoother(options.smooth, options.smooth_strength), progress=progress)
        if stats.frames == 0:
            raise StylecamError(f"no decodable video frames in {src}")
        sink.close()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        source.close()
    report = source.report
    expected = info.expected_frames()
    if report.stopped_early or (expected and stats.frames < expected - max(2, expected // 100)) \
            or _ends_early(info, report.last_time):
        of = f" of {expected}" if expected else ""
        result.warnings.append(f"{src.name}: read {stats.frames}{of} frames; the file is truncated or damaged, "
                               "so the output stops where decoding stopped")
    elif report.errors:
        result.warnings.append(f"{src.name}: {report.errors} damaged packets were skipped")
    if info.audio is not None and not result.audio:
        result.warnings.append(f"{src.name}: the audio track could not be kept")
    result.frames, result.seconds = stats.frames, stats.seconds
    result.fps, result.inference_fps = stats.fps, stats.inference_fps
    result.width, result.height = info.width, info.height
    if warn:
        for w in result.warnings:
            warn(w)
    return result


def _ends_early(info: VideoInfo, last_time: float | None) -> bool:
    """Frames stop well before the duration the header promises (a cut-off download)."""
    if not info.duration or last_time is None or not info.rate:
        return False
    frame = 1 / float(info.rate)
    return last_time + frame < info.start_time + info.duration - max(3 * frame, 0.02 * info.duration)


def _output_suffix(suffix: str, kind: str) -> str:
    """The input's extension (lower case) where we can write that format, else .mp4/.png."""
    suffix = suffix.lower()
    if kind == "video" and suffix not in VIDEO_OUTPUT_SUFFIXES:
        return ".mp4"
    if kind == "image" and suffix not in IMAGE_OUTPUT_SUFFIXES:
        return ".png"
    return suffix


def _media_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


Unreadable = list[tuple[Path, str, str]]  # path, kind ("folder", "image", "video"), reason


def _find_inputs(src: Path, dst: Path, unreadable: Unreadable) -> list[Path]:
    """Every regular image/video file below `src` (not in hidden folders, not in `dst`),
    sorted. A sub-folder that cannot be listed, or a media file that cannot be looked at,
    is added to `unreadable`; `src` itself unreadable is an error."""
    dst_resolved = dst.resolve()
    errors: list[OSError] = []
    found: list[Path] = []
    for root, dirs, names in os.walk(src, onerror=errors.append):
        here = Path(root)
        dirs[:] = [d for d in dirs if not d.startswith(".") and (here / d).resolve() != dst_resolved]
        for name in names:
            path = here / name
            kind = _media_kind(path)
            if name.startswith(".") or kind is None:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # a symlink to nothing
                continue
            except OSError as exc:  # a folder that can be listed but not searched
                unreadable.append((path, kind, exc.strerror or str(exc)))
                continue
            if stat.S_ISREG(st.st_mode) and dst_resolved not in path.resolve().parents:
                found.append(path)
    for error in errors:
        folder = Path(error.filename) if error.filename else src
        reason = error.strerror or str(error)
        if folder == src:
            raise StylecamError(f"cannot read folder {src}: {reason}")
        unreadable.append((folder, "folder", reason))
    unreadable.sort()
    return sorted(found)


def plan_folder(src: Path, dst: Path, style: str, unreadable: Unreadable | None = None) -> list[tuple[Path, Path, str]]:
    """Every image/video below `src` -> the same relative path below `dst` (videos as .mp4 if needed).

    Naming rule: an output keeps the input's relative path with the output extension
    (clip.avi -> clip.mp4). Where several inputs would get the same output name (compared
    ignoring case, as on macOS and Windows), the input whose name needs no change keeps
    it and the others keep their own extension in the name: clip.avi -> clip.avi.mp4,
    IMG.JPG -> IMG.JPG.jpg; a name still taken gets _2, _3, ... before the output
    extension (clip.avi_2.mp4).

    Sub-folders (and files) that cannot be read are added to `unreadable` with the reason.
    """
    unreadable = [] if unreadable is None else unreadable
    found: list[tuple[Path, Path, str, str]] = []  # input, relative path, kind, output suffix
    for path in _find_inputs(src, dst, unreadable):
        kind = _media_kind(path)
        assert kind is not None
        found.append((path, path.relative_to(src), kind, _output_suffix(path.suffix, kind)))
    if not found:
        if unreadable:
            folder, _, reason = unreadable[0]
            raise StylecamError(f"no images or videos could be read in {src}: cannot read {folder}: {reason}")
        raise StylecamError(f"no images or videos in {src}")

    def key(rel: Path) -> str:
        return rel.as_posix().casefold()

    groups: dict[str, list[int]] = {}
    for i, (_, rel, _, out_suffix) in enumerate(found):
        groups.setdefault(key(rel.with_suffix(out_suffix)), []).append(i)
    names: dict[int, Path] = {}
    renamed: list[int] = []
    for members in groups.values():
        natural = [i for i in members if found[i][1].suffix == found[i][3]]  # name unchanged
        keeper = natural[0] if natural else members[0] if len(members) == 1 else None
        for i in members:
            if i == keeper:
                names[i] = found[i][1].with_suffix(found[i][3])
            else:
                renamed.append(i)
    taken = {key(p) for p in names.values()}
    for i in renamed:
        _, rel, _, out_suffix = found[i]
        name, n = rel.with_name(rel.name + out_suffix), 2
        while key(name) in taken:
            name, n = rel.with_name(f"{rel.name}_{n}{out_suffix}"), n + 1
        taken.add(key(name))
        names[i] = name
    return [(path, dst / names[i], kind) for i, (path, _, kind, _) in enumerate(found)]


def stylize_path(src: Path, dst: Path | None, engine: Stylizer, options: VideoOptions = VideoOptions(),
                 overwrite: bool = False, warn: Warn | None = None) -> list[JobResult]:
    """Dispatch on the input kind. Folder jobs go on after a bad file and report it."""
    kind = kind_of(src)
    if dst is None:
        dst = default_output(src, engine.name, kind)
    if kind == "image":
        return [stylize_image_file(src, dst, engine, overwrite)]
    if kind == "video":
        return [stylize_video_file(src, dst, engine, options, overwrite, warn)]
    if dst.exists() and not dst.is_dir():
        raise StylecamError(f"output {dst} is a file; a folder input needs a folder output")
    if dst.exists() and dst.resolve() == src.resolve():
        raise StylecamError(f"the output folder {dst} is the input folder; choose another "
                            f"(the default is {default_output(src, engine.name, kind)})")
    unreadable: Unreadable = []
    jobs = plan_folder(src, dst, engine.name, unreadable)
    # a symlink in the output tree can lead back into the input tree: compare real paths
    inputs = {path.resolve(): path for path, _, _ in jobs}
    refused = {out for _, out, _ in jobs if out.resolve() in inputs}
    if not overwrite:
        existing = [str(out) for _, out, _ in jobs if out not in refused and out.exists()]
        if existing:
            raise StylecamError(f"{len(existing)} outputs exist already (e.g. {existing[0]}); "
                                "use -y/--overwrite to replace them")
    _make_folder(dst)  # a folder that cannot be made is one error, not one per file
    if any(_writes_into(dst, out) for _, out, _ in jobs):
        check_writable(dst)  # nor one that cannot be written to
    results: list[JobResult] = []
    for path, what, reason in unreadable:  # in the summary like any file that failed
        message = f"cannot read {'folder ' if what == 'folder' else ''}{path}: {reason}"
        if warn:
            warn(f"skipped {path}: {message}")
        results.append(JobResult(str(path), str(dst / path.relative_to(src)), what, error=message))
    current: Path | None = None
    try:
        for path, out, kind in jobs:
            if out in refused:
                message = f"output {out} is the input file {inputs[out.resolve()]}; not written"
                if warn:
                    warn(f"skipped {path}: {message}")
                results.append(JobResult(str(path), str(out), kind, error=message))
                continue
            current = out
            try:
                _make_folder(out.parent)
                if kind == "image":
                    results.append(stylize_image_file(path, out, engine, overwrite))
                else:
                    results.append(stylize_video_file(path, out, engine, options, overwrite, warn))
            except Exception as exc:  # one bad file is that file's failure; the others still run
                message = str(exc) if isinstance(exc, StylecamError) else describe_unexpected(exc)
                if warn:
                    warn(f"skipped {path}: {message}")
                results.append(JobResult(str(path), str(out), kind, error=message))
            current = None
    except KeyboardInterrupt as exc:  # the message says what stays: the files already written
        written = sum(1 for r in results if not r.error)
        if written:
            in_progress = f"; {current} was in progress and was removed" if current is not None else ""
            exc.progress = (f"{written} of {len(jobs)} files were written to {dst} "  # type: ignore[attr-defined]
                            f"and are kept{in_progress}")
        raise
    return results


def _writes_into(dst: Path, out: Path) -> bool:
    """The output is made in `dst` itself, or in a sub-folder of it still to be made."""
    parts = out.relative_to(dst).parts
    return len(parts) == 1 or not (dst / parts[0]).is_dir()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StylecamError(f"cannot make the output folder {folder}: a file of that name is in the way") from None
    except OSError as exc:
        raise StylecamError(f"cannot make the output folder {folder}: {exc.strerror or exc}") from None


def describe_unexpected(exc: BaseException) -> str:
    """An error we did not foresee, as one line (type and first line of the message)."""
    return f"{type(exc).__name__}: {first_line(exc, 300)}" if str(exc).strip() else type(exc).__name__

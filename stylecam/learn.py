"""Styles learned from the user's own paintings: checked, cached, kept under a name.

`learned_model(painting)` gives a fast net for any painting: it learns one (the training
package's `training.adapt`, which needs the `[train]` extra: torch) starting from a trained
style's net and caches it in the user cache folder, named by the painting's content
hash and the recipe (base checkpoint included), so the same painting starts at once the
second time, without torch. `learn_named_style` keeps one as a named style in the user
data folder (`styles.learned_dir`), where the registry and --list-styles find it.
Every file is written atomically: a failed or interrupted run leaves nothing in the cache.
"""
from __future__ import annotations

import importlib.util
import os
from importlib import import_module
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import styles
from .atomic import AtomicOutput
from .contract import INT8, MODEL_SUFFIX, StyleInfo, variant_file
from .errors import StylecamError, first_line
from .io.paths import IMAGE_SUFFIXES, kind_of

TRAIN_EXTRA = "pip install 'stylecam[train]'"
MIN_SIDE = 64  # px: a smaller painting has too few strokes to learn from
VGG_ENV = "STYLECAM_VGG_WEIGHTS"  # VGG16 conv1_1..conv4_3 state dict for the losses
BASE_ENV = "STYLECAM_BASE_CHECKPOINT"  # the trained net new styles start from
BASE_STYLE = "starry_night"  # whose net the training package ships for that
PHOTOS_ENV = "STYLECAM_LEARN_PHOTOS"  # a folder of photos to learn on
MAX_PHOTOS = 64
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

if TYPE_CHECKING:
    import numpy as np


@dataclass
class LearnOptions:
    """How a style is learned. None takes the default: the recipe's budget, the base
    checkpoint from STYLECAM_BASE_CHECKPOINT or the one the training package ships, VGG
    weights from STYLECAM_VGG_WEIGHTS (else torchvision's). The photos to learn on are
    `photos`, else those in `photos_folder`, else in STYLECAM_LEARN_PHOTOS, else `source`
    (the input to stylize: an image, a folder's images, a video's frames); they are
    looked for only when a style is learned, not when it comes from the cache."""

    steps: int | None = None
    minutes: float | None = None
    base_checkpoint: Path | None = None
    vgg_weights: Path | None = None
    photos: list[Path | np.ndarray] = field(default_factory=list)  # image files or uint8 HxWx3 RGB arrays
    photos_folder: Path | None = None
    source: Path | None = None
    progress: bool | None = None  # a progress bar with an estimate; None = when stderr is a terminal
    threads: int | None = None
    max_megapixels: float | None = None  # the painting's size limit (default: the runtime's)
    say: Callable[[str], None] | None = None  # told once when learning starts (it takes minutes)


def cache_dir() -> Path:
    """Where learned nets are cached: the platform's user cache folder."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("stylecam", appauthor=False)) / "learned"


def check_painting(path: Path, max_megapixels: float | None = None) -> tuple[int, int]:
    """Refuse what cannot be learned from, in one line: not an image, smaller than
    MIN_SIDE, or larger than the megapixel limit (a decompression bomb too). Its size."""
    from .engine import max_megapixels_default
    from .io.images import read_image

    kind = kind_of(path)
    if kind != "image":
        raise StylecamError(f"style image {path} is a {kind}, not an image")
    limit = max_megapixels if max_megapixels is not None else max_megapixels_default()
    size: list[int] = []

    def check(width: int, height: int) -> None:  # from the header, before decoding
        if width * height / 1e6 > limit:
            raise StylecamError(f"style image {path} is {width}x{height} ({width * height / 1e6:.1f} megapixels), "
                                f"above the limit of {limit:g} megapixels; use a smaller copy (or raise "
                                "--max-megapixels)")
        if min(width, height) < MIN_SIDE:
            raise StylecamError(f"style image {path} is {width}x{height}; a painting needs at least {MIN_SIDE} px "
                                "a side to learn its strokes from")
        size[:] = [width, height]

    read_image(path, check)
    return size[0], size[1]


def learned_model(painting: str | os.PathLike[str], options: LearnOptions = LearnOptions()) -> Path:
    """A fast net for `painting`: the cached one, else learned now (needs the [train]
    extra) and cached. Its style name is the painting's file name."""
    painting = Path(painting)
    check_painting(painting, options.max_megapixels)
    adapt = _training("learning a style from a painting")
    recipe = adapt.AdaptRecipe(**{k: v for k, v in (("steps", options.steps), ("max_minutes", options.minutes))
                                  if v is not None})
    base = base_checkpoint(options.base_checkpoint)
    target = cache_dir() / f"{adapt.file_digest(painting)[:16]}-{recipe.key(adapt.file_digest(base))}{MODEL_SUFFIX}"
    if target.is_file():
        return target  # learned before: starts at once
    _require_torch("learning a style from a painting")
    photos = options.photos or photos_from(options.photos_folder, options.source)
    vgg = options.vgg_weights or (Path(os.environ[VGG_ENV]) if os.environ.get(VGG_ENV) else None)
    if vgg is None and not _has_torchvision():
        raise StylecamError(f"learning a style needs VGG16 weights for its losses: set {VGG_ENV}=FILE or pass "
                            "--vgg-weights FILE (a conv1_1..conv4_3 state dict; torchvision would download its own)")
    if vgg is not None and not vgg.is_file():
        raise StylecamError(f"VGG weights not found: {vgg}")
    _make_folder(target.parent)
    name = _style_name(painting.stem)
    info = StyleInfo(name=name, display_name=painting.stem.replace("_", " ").title(), painting=painting.stem,
                     image_source=painting.name)
    # the int8 copy (what a CPU runs, as for the bundled styles) is committed first: the
    # model itself, committed last, is what marks the cache entry as complete
    with AtomicOutput(target, overwrite=True) as tmp, \
            AtomicOutput(target.with_name(variant_file(target.name, INT8)), overwrite=True) as tmp8:
        try:
            adapt.adapt_style(painting, base, tmp, photos, recipe=recipe, info=info, vgg_weights=vgg,
                              progress=options.progress, threads=options.threads or 0, announce=options.say)
            import_module("training.quantize").quantize_int8(tmp, tmp8, photos[:16])
        except (RuntimeError, ValueError) as exc:  # TrainingError, WeightsError: a problem with the inputs
            raise StylecamError(f"learning {painting.name} failed: {first_line(exc, 300)}") from None
        except OSError as exc:
            from .atomic import write_error

            raise write_error(target, exc) from None
    return target


def learn_named_style(painting: str | os.PathLike[str], name: str, options: LearnOptions = LearnOptions(),
                      overwrite: bool = False, display_name: str = "") -> Path:
    """Learn `painting` (or take it from the cache) and keep it as style `name` in the
    learned styles' folder; replacing a learned style of that name needs `overwrite`, and
    the name of a style installed otherwise is refused."""
    if not NAME.fullmatch(name):
        raise StylecamError(f"style name {name!r}: use letters, digits, '_' and '-' (at most 64, first a letter "
                            "or digit)")
    folder = styles.learned_dir()
    target = folder / f"{name}{MODEL_SUFFIX}"
    taken = styles.available_styles().get(name)
    if taken is not None and taken.parent != folder:
        raise StylecamError(f"style name {name!r} is taken by {taken}; choose another --name")
    if target.exists() and not overwrite:
        raise StylecamError(f"a learned style {name!r} exists ({target}); use -y/--overwrite to replace it")
    model = learned_model(painting, options)
    onnx = _onnx("--learn-style")
    _make_folder(folder)
    int8 = model.with_name(variant_file(model.name, INT8))
    copies = [(int8, target.with_name(variant_file(target.name, INT8)))] if int8.is_file() else []
    for src, dst in copies + [(model, target)]:  # the style itself last: it is what the registry finds
        info = replace(styles.read_info(src), name=name, path=None,
                       display_name=display_name or name.replace("_", " ").title())
        proto = onnx.load(str(src))
        del proto.metadata_props[:]
        for key, value in info.to_metadata().items():
            proto.metadata_props.add(key=key, value=value)
        with AtomicOutput(dst, overwrite=overwrite or dst != target) as tmp:
            try:
                onnx.save(proto, str(tmp))
            except OSError as exc:
                from .atomic import write_error

                raise write_error(dst, exc) from None
    return target


def base_checkpoint(given: Path | None = None) -> Path:
    """The net new styles start from: given, STYLECAM_BASE_CHECKPOINT, or the one the
    training package ships (training/checkpoints/starry_night.pt). Its net config is read from it."""
    path = given or (Path(os.environ[BASE_ENV]) if os.environ.get(BASE_ENV) else None)
    if path is None:
        package = _training("learning a style from a painting").__file__ or "."
        path = Path(package).resolve().parent / "checkpoints" / f"{BASE_STYLE}.pt"
        if not path.is_file():
            raise StylecamError(f"no base net to learn from: set {BASE_ENV}=FILE or pass --base-checkpoint FILE "
                                "(a training checkpoint)")
    if not path.is_file():
        raise StylecamError(f"base checkpoint not found: {path}")
    return path


def photos_from(folder: Path | None, source: Path | None, frames: int = 16) -> list[Path | np.ndarray]:
    """Photos to learn on: a folder (or file) given as `folder` or by STYLECAM_LEARN_PHOTOS,
    else the input `source` itself (an image, a folder's images, frames of a video), else
    none (an error)."""
    if folder is not None:
        return _images(folder, "--learn-photos")
    env = os.environ.get(PHOTOS_ENV)
    if env:
        return _images(Path(env), PHOTOS_ENV)
    if source is not None:
        kind = kind_of(source)
        if kind == "video":
            return _frames(source, frames)
        return _images(source, str(source))
    raise StylecamError(f"learning a style needs photos to learn on: pass --learn-photos FOLDER (or set "
                        f"{PHOTOS_ENV}); a few dozen photos like the ones you will stylize")


def _images(path: Path, what: str) -> list[Path | np.ndarray]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise StylecamError(f"photos to learn on not found: {path} ({what})")
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not found:
        raise StylecamError(f"no photos to learn on in {path} ({what})")
    step = max(1, len(found) // MAX_PHOTOS)
    return list(found[::step][:MAX_PHOTOS])


def _frames(video: Path, count: int) -> list[Path | np.ndarray]:
    """Up to `count` frames of a video, spread over its first ~500 frames."""
    from .io.decode import open_video

    source = open_video(video)
    picked: list[Path | np.ndarray] = []
    try:
        for frame in source:
            if frame.index % 30 == 0:
                picked.append(frame.image)
            if len(picked) >= count or frame.index >= 30 * count:
                break
    finally:
        source.close()
    if not picked:
        raise StylecamError(f"no decodable video frames in {video} to learn on")
    return picked


def _style_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:64]
    return name or "painting"


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StylecamError(f"cannot make the folder {folder}: {exc.strerror or first_line(exc)}") from None
    if not os.access(folder, os.W_OK):
        raise StylecamError(f"cannot write to {folder}: permission denied")


def _training(what: str) -> ModuleType:
    """The training package's adaptation module (it imports torch only when it trains)."""
    try:  # by name: the runtime's type check stays out of the training package
        return import_module("training.adapt")
    except ImportError:
        raise StylecamError(f"{what} needs the training extra: {TRAIN_EXTRA}") from None


def _require_torch(what: str) -> None:
    """torch must be installed to learn (looked up, not imported: the runtime never imports it)."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise StylecamError(f"{what} needs the training extra: {TRAIN_EXTRA}")


def _onnx(what: str) -> Any:
    try:
        import onnx
    except ImportError:
        raise StylecamError(f"{what} needs the training extra: {TRAIN_EXTRA}") from None
    return onnx


def _has_torchvision() -> bool:
    try:
        return importlib.util.find_spec("torchvision") is not None
    except (ImportError, ValueError):
        return False

"""Still images: decoded upright (EXIF), alpha and colour profile kept for the output."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .. import defaults, signals
from ..atomic import AtomicOutput, write_error
from ..errors import StylecamError, first_line


@dataclass
class StillImage:
    rgb: np.ndarray
    alpha: np.ndarray | None  # kept and re-attached on output
    icc_profile: bytes | None
    grayscale: bool


def read_image(path: Path, check_size: Callable[[int, int], None] | None = None) -> StillImage:
    """Decode an image upright (EXIF orientation applied), as RGB plus optional alpha.

    `check_size(width, height)` runs on the header's size, before the pixels are decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size limit below says it in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(path)
        with img:
            if check_size is not None:
                check_size(*img.size)
            img = ImageOps.exif_transpose(img)
            img.load()
    except FileNotFoundError:
        raise StylecamError(f"input not found: {path}") from None
    except Image.DecompressionBombError as exc:  # Pillow's guard against a tiny file claiming a huge image
        raise StylecamError(f"cannot read image {path}: {_first_sentence(exc)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # the file system's reason without "[Errno 13] ... 'path'"; Pillow's own text as it is
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise StylecamError(f"cannot read image {path}: {reason}") from None
    icc = img.info.get("icc_profile")
    alpha = None
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3].copy()
        rgb = np.asarray(rgba.convert("RGB"))
    elif mode == "CMYK":
        rgb = np.asarray(img.convert("RGB"))
        icc = None  # the profile describes CMYK, not the RGB we write
    elif mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        gray = np.clip(arr / peak * 255.0, 0, 255).astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"))
    return StillImage(np.ascontiguousarray(rgb), alpha, icc, grayscale=mode in ("L", "LA", "1", "I;16", "I"))


def _first_sentence(exc: BaseException) -> str:
    return first_line(exc).split(", could be")[0]


# formats that cannot hold every size: name, the longest side they take, what to use instead
_SIDE_LIMITS = {".webp": ("WebP", 16383, "PNG or JPEG"), ".jpg": ("JPEG", 65500, "PNG or TIFF"),
                ".jpeg": ("JPEG", 65500, "PNG or TIFF")}


def check_output_size(path: Path, width: int, height: int) -> None:
    """Refuse a size the output format cannot hold, before any work (the encoder would
    fail only at the end, and libjpeg prints its own line to stderr)."""
    limit = _SIDE_LIMITS.get(path.suffix.lower())
    if limit is not None and max(width, height) > limit[1]:
        name, side, instead = limit
        raise StylecamError(f"cannot write {path}: {name} holds at most {side} pixels per side and the image is "
                            f"{width}x{height}; write {instead} instead")


def write_image(path: Path, rgb: np.ndarray, like: StillImage | None = None, quality: int = defaults.JPEG_QUALITY,
                overwrite: bool = False) -> None:
    """Write atomically. Alpha comes back where the format can hold it; JPEG gets none."""
    from PIL import Image

    img = Image.fromarray(rgb, "RGB")
    suffix = path.suffix.lower()
    if like is not None and like.alpha is not None and suffix in (".png", ".webp", ".tif", ".tiff"):
        img.putalpha(Image.fromarray(like.alpha, "L"))
    options: dict[str, Any] = {}
    if suffix in (".jpg", ".jpeg", ".webp"):
        options["quality"] = quality
    if like is not None and like.icc_profile:
        options["icc_profile"] = like.icc_profile
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise StylecamError(f"unsupported image output format {suffix!r}")
    check_output_size(path, img.width, img.height)
    with AtomicOutput(path, overwrite) as tmp:
        # an encoder runs in C for seconds on a large image (WebP: one call), so it runs on a
        # worker a signal need not wait for; the file is opened here, so a worker left
        # behind writes to the removed temp file and can never create it again
        def encode(out: BinaryIO) -> None:
            with out:
                img.save(out, format=fmt, **options)
        try:
            out = open(tmp, "wb")
            signals.interruptible(lambda: encode(out), "stylecam-image-encoder")
        except OSError as exc:
            if exc.errno is None:  # Pillow's own refusal, not the file system's
                raise StylecamError(f"cannot write image {path}: {first_line(exc)}") from None
            raise write_error(path, exc) from None
        except ValueError as exc:  # an encoder's limit
            raise StylecamError(f"cannot write image {path}: {first_line(exc)}") from None

"""The style sheet: one photo in every available style (bundled, learned, each style of a
multi-style net), each tile labelled with the style's display name, laid out in a grid."""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import defaults, styles
from .contract import StyleInfo, style_name_of
from .engine import Stylizer, max_megapixels_default
from .errors import StylecamError
from .io.images import read_image, write_image
from .io.paths import IMAGE_OUTPUT_SUFFIXES, check_output, kind_of

BACKGROUND = (24, 24, 24)
GAP = 4  # px between tiles


@dataclass
class SheetResult:
    output: str
    styles: list[str] = field(default_factory=list)  # in the order of the tiles
    skipped: list[str] = field(default_factory=list)  # styles that could not run (each warned about)
    width: int = 0
    height: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def selector(info: StyleInfo) -> str:
    """What selects a listed style: its own file's name, or its name in a multi-style net."""
    if info.index is None and info.path is not None:
        return style_name_of(info.path.name)
    return info.name


def contact_sheet(photo: np.ndarray, names: Sequence[str] | None = None, *, tile: int = defaults.SHEET_TILE,
                  columns: int | None = None, original: bool = True, warn: Callable[[str], None] | None = None,
                  **engine: Any) -> np.ndarray:
    """`photo` (uint8 HxWx3 RGB) in every available style, or in `names`: a grid of tiles
    whose long side is at most `tile` px, each labelled with the style's display name, the
    photo itself first when `original`. `engine` holds Stylizer options (device, quality,
    strength, ...). A style that cannot run is left out with a warning; none at all is an
    error."""
    return _make(photo, names, tile, columns, original, warn, engine)[0]


def _make(photo: np.ndarray, names: Sequence[str] | None, tile: int, columns: int | None, original: bool,
          warn: Callable[[str], None] | None, engine: dict[str, Any]) -> tuple[np.ndarray, list[str], list[str]]:
    """The sheet, the styles on it and the styles left out."""
    with warnings.catch_warnings(record=True) as caught:  # a model file that cannot be read
        warnings.simplefilter("always")
        infos = styles.list_styles() if names is None else [_info(styles.locate(n)) for n in names]
    for w in caught:
        warn(str(w.message)) if warn else warnings.warn(w.message, stacklevel=3)
    small = _fit(photo, tile)
    tiles: list[tuple[str, np.ndarray]] = [("Original", small)] if original else []
    made, skipped = [], []
    for info in infos:
        name = selector(info)
        try:
            stylizer = Stylizer(name, **engine)
            tiles.append((info.title, stylizer.stylize(small)))
            made.append(name)
        except StylecamError as exc:
            if warn:
                warn(f"style {name} left out of the sheet: {exc}")
            skipped.append(name)
    if not made:
        raise StylecamError("no style could run, so there is no sheet to make; see --list-styles")
    return _grid(tiles, columns), made, skipped


def _info(ref: styles.StyleRef) -> StyleInfo:
    info = styles.read_info(ref.path)
    return info.member(ref.index) if ref.index is not None else info


def _fit(photo: np.ndarray, side: int) -> np.ndarray:
    """The photo with its long side at most `side` px (never enlarged)."""
    from PIL import Image

    h, w = photo.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale == 1.0:
        return np.ascontiguousarray(photo)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))


def _grid(tiles: list[tuple[str, np.ndarray]], columns: int | None) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    h, w = tiles[0][1].shape[:2]
    columns = max(1, min(len(tiles), columns or math.ceil(math.sqrt(len(tiles)))))
    rows = math.ceil(len(tiles) / columns)
    strip = max(18, min(40, w // 12))  # label height
    font = ImageFont.load_default(size=round(strip * 0.6))
    sheet = Image.new("RGB", (columns * (w + GAP) + GAP, rows * (h + strip + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (title, image) in enumerate(tiles):
        x = GAP + (i % columns) * (w + GAP)
        y = GAP + (i // columns) * (h + strip + GAP)
        sheet.paste(Image.fromarray(image), (x, y))
        text = _fitting(draw, title, font, w - 8)
        draw.text((x + w / 2, y + h + strip / 2), text, fill=(240, 240, 240), font=font, anchor="mm")
    return np.asarray(sheet)


def _fitting(draw: Any, text: str, font: Any, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits `width` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…" if text else ""


def write_sheet(photo: Path, output: Path | None = None, names: Sequence[str] | None = None, *,
                overwrite: bool = False, tile: int = defaults.SHEET_TILE, columns: int | None = None,
                original: bool = True, warn: Callable[[str], None] | None = None,
                max_megapixels: float | None = None, **engine: Any) -> SheetResult:
    """Make the sheet of the image file `photo` (see `contact_sheet`) and write it to
    `output` (default PHOTO_sheet.EXT beside it) atomically; an existing output needs
    `overwrite`."""
    from .files import default_output

    if kind_of(photo) != "image":
        raise StylecamError(f"--sheet needs a photo (an image file), not a {kind_of(photo)}: {photo}")
    output = output if output is not None else default_output(photo, "sheet", "image")
    if output.suffix.lower() not in IMAGE_OUTPUT_SUFFIXES:
        raise StylecamError(f"unsupported image output {output.suffix or '(no extension)'}; "
                            f"use one of {', '.join(sorted(IMAGE_OUTPUT_SUFFIXES))}")
    check_output(output, [photo], overwrite)
    limit = max_megapixels if max_megapixels is not None else max_megapixels_default()

    def check_size(width: int, height: int) -> None:  # from the header, before decoding
        if width * height / 1e6 > limit:
            raise StylecamError(f"image {photo} is {width}x{height} ({width * height / 1e6:.1f} megapixels), above "
                                f"the limit of {limit:g} megapixels; raise it with --max-megapixels")

    image = read_image(photo, check_size)
    sheet, made, skipped = _make(image.rgb, names, tile, columns, original, warn,
                                 engine | {"max_megapixels": max_megapixels})
    write_image(output, sheet, overwrite=overwrite)
    return SheetResult(str(output), made, skipped, sheet.shape[1], sheet.shape[0])

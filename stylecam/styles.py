"""Style models: the ONNX contract and the registry of bundled styles.

Contract (version 1), written by `training/export.py`:
  input  `input`:  float32 N,3,H,W, RGB, 0..255; N, H and W dynamic
  output `output`: float32 N,3,H,W, RGB, 0..255 (the runtime clips)
  H and W must be multiples of `stylecam.multiple` (the runtime pads and crops back).
  Optional `stylecam.border`: pixels the runtime mirrors around each frame first.
  `metadata_props` keys `stylecam.*` describe the style (name, painting, artist, ...).

Bundled styles live in `models/` at the repository root, installed as the
`stylecam.models` package data. `STYLECAM_MODELS` (os.pathsep-separated folders) adds more.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import StylecamError

INPUT_NAME = "input"
OUTPUT_NAME = "output"
DEFAULT_MULTIPLE = 4
_VARIANT_SUFFIXES = (".fp16", ".int8", ".fast")  # models/<name><suffix>.onnx are variants of <name>


@dataclass(frozen=True)
class StyleInfo:
    name: str
    path: Path
    display_name: str = ""
    painting: str = ""
    artist: str = ""
    image_source: str = ""
    license: str = ""
    multiple: int = DEFAULT_MULTIPLE
    border: int = 0  # pixels mirrored around each frame before inference (nets with zero-padded convs)
    precision: str = "fp32"
    arch: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def summary(self) -> str:
        """One line for --list-styles."""
        art = " — ".join(p for p in (self.painting, self.artist) if p)
        t = self.training
        recipe = ""
        if t:
            recipe = (f"trained {t.get('trained_steps', '?')} steps, {t.get('image_size', '?')} px crops, "
                      f"batch {t.get('batch_size', '?')}, arch {t.get('arch', '?')}")
        return "  ".join(p for p in (f"{self.name:<16}", art, f"[{recipe}]" if recipe else "") if p)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def read_info(path: str | Path) -> StyleInfo:
    """Read a model's metadata without building an inference session."""
    path = Path(path)
    meta = _metadata_props(path)
    name = meta.get("stylecam.name") or path.name.removesuffix(".onnx")
    try:
        multiple = int(meta.get("stylecam.multiple", DEFAULT_MULTIPLE))
    except ValueError:
        multiple = DEFAULT_MULTIPLE
    try:
        border = min(64, max(0, int(meta.get("stylecam.border", 0))))
    except ValueError:
        border = 0
    return StyleInfo(
        name=name, path=path, display_name=meta.get("stylecam.display_name", ""),
        painting=meta.get("stylecam.painting", ""), artist=meta.get("stylecam.artist", ""),
        image_source=meta.get("stylecam.image_source", ""), license=meta.get("stylecam.license", ""),
        multiple=max(1, multiple), border=border, precision=meta.get("stylecam.precision", "fp32"),
        arch=_json(meta.get("stylecam.arch", "")), training=_json(meta.get("stylecam.training", "")),
        notes=meta.get("stylecam.notes", ""),
    )


def _metadata_props(path: Path) -> dict[str, str]:
    """metadata_props via onnxruntime (always installed), so the runtime needs no `onnx` package."""
    import onnxruntime as ort

    if not path.is_file():
        raise StylecamError(f"model file not found: {path}")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise StylecamError(f"not a valid ONNX model: {path} ({_first_line(exc)})") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:200] if text else type(exc).__name__


def model_dirs() -> list[Path]:
    """Where styles are looked up, in order: STYLECAM_MODELS, then the bundled models."""
    dirs = [Path(p) for p in os.environ.get("STYLECAM_MODELS", "").split(os.pathsep) if p]
    dirs.append(bundled_dir())
    return dirs


def bundled_dir() -> Path:
    try:
        return Path(str(resources.files("stylecam.models")))
    except ModuleNotFoundError:  # running from a source tree without installing
        return Path(__file__).resolve().parent.parent / "models"


def _is_variant(path: Path) -> bool:
    return path.name.removesuffix(".onnx").endswith(_VARIANT_SUFFIXES)


def available_styles() -> dict[str, Path]:
    """Style name -> model path (base models only; variants are picked by the engine)."""
    found: dict[str, Path] = {}
    for folder in model_dirs():
        if folder.is_dir():
            for p in sorted(folder.glob("*.onnx")):
                if not _is_variant(p):
                    found.setdefault(p.name.removesuffix(".onnx"), p)
    return found


def list_styles() -> list[StyleInfo]:
    """Every installed style; a model file that cannot be read is skipped with a warning."""
    import warnings

    infos = []
    for path in available_styles().values():
        try:
            infos.append(read_info(path))
        except StylecamError as exc:
            warnings.warn(f"skipped style {path.name}: {exc}", stacklevel=2)
    return infos


def is_model_path(style: str | os.PathLike[str]) -> bool:
    """True for a path to a model file, False for a style name."""
    text = os.fspath(style)
    return text.endswith(".onnx") or os.sep in text or bool(os.altsep and os.altsep in text)


def resolve(style: str | os.PathLike[str]) -> Path:
    """A style name or a path to an .onnx file -> the model path, or a helpful error."""
    text = os.fspath(style)
    candidate = Path(text).expanduser()
    if is_model_path(text):
        if not candidate.is_file():
            raise StylecamError(f"model file not found: {candidate}")
        return candidate
    styles = available_styles()
    if text in styles:
        return styles[text]
    known = ", ".join(sorted(styles)) or "none installed"
    raise StylecamError(f"unknown style {text!r}; known styles: {known}")


def variant_path(base: Path, suffix: str) -> Path | None:
    """models/mosaic.onnx + '.fp16' -> models/mosaic.fp16.onnx if it exists."""
    p = base.with_name(base.name.removesuffix(".onnx") + suffix + ".onnx")
    return p if p.is_file() else None

"""The registry of styles: where model files are found and what their metadata says.

Bundled styles live in `models/` at the repository root, installed as the
`stylecam.models` package data. `STYLECAM_MODELS` (os.pathsep-separated folders) adds more.
The model contract itself is in `contract.py`.
"""
from __future__ import annotations

import os
import stat
from importlib import resources
from pathlib import Path

from . import contract
from .contract import StyleInfo
from .errors import StylecamError, first_line


def read_info(path: str | Path) -> StyleInfo:
    """Read a model's metadata without building an inference session."""
    path = Path(path)
    return StyleInfo.from_metadata(_metadata_props(path), path)


def _metadata_props(path: Path) -> dict[str, str]:
    """metadata_props via onnxruntime (always installed), so the runtime needs no `onnx` package."""
    import onnxruntime as ort

    check_model_file(path)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # fatal only: the error below says what failed
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise StylecamError(f"not a valid ONNX model: {path} ({first_line(exc, 200)})") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def check_model_file(path: Path) -> None:
    """A model path that is missing, not a regular file or not readable, in one line
    (onnxruntime would say "system error number 13")."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise StylecamError(f"model file not found: {path}") from None
    except OSError as exc:
        raise StylecamError(f"cannot read model {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):  # a folder, or a named pipe that would block the load
        raise StylecamError(f"model {path} is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise StylecamError(f"cannot read model {path}: {exc.strerror or exc}") from None


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


def available_styles(unreadable: list[str] | None = None) -> dict[str, Path]:
    """Style name -> model path (base models only; variants are picked by the engine).
    A style folder that cannot be listed is added to `unreadable` with the reason."""
    found: dict[str, Path] = {}
    for folder in model_dirs():
        if not folder.is_dir():
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            if unreadable is not None:
                unreadable.append(f"{folder} ({exc.strerror or exc})")
            continue
        for name in names:
            if name.endswith(contract.MODEL_SUFFIX) and not name.startswith(".") and not contract.is_variant(name):
                found.setdefault(name.removesuffix(contract.MODEL_SUFFIX), folder / name)
    return found


def list_styles() -> list[StyleInfo]:
    """Every installed style; a model file that cannot be read is skipped with a warning."""
    import warnings

    infos = []
    unreadable: list[str] = []
    found = available_styles(unreadable)
    for folder in unreadable:
        warnings.warn(f"cannot read the style folder {folder}", stacklevel=2)
    for path in found.values():
        try:
            infos.append(read_info(path))
        except StylecamError as exc:
            warnings.warn(f"skipped style {path.name}: {exc}", stacklevel=2)
    return infos


def is_model_path(style: str | os.PathLike[str]) -> bool:
    """True for a path to a model file, False for a style name."""
    text = os.fspath(style)
    return text.endswith(contract.MODEL_SUFFIX) or os.sep in text or bool(os.altsep and os.altsep in text)


def resolve(style: str | os.PathLike[str]) -> Path:
    """A style name or a path to an .onnx file -> the model path, or a helpful error."""
    text = os.fspath(style)
    candidate = Path(text).expanduser()
    if is_model_path(text):
        check_model_file(candidate)
        return candidate
    unreadable: list[str] = []
    styles = available_styles(unreadable)
    if text in styles:
        return styles[text]
    known = ", ".join(sorted(styles)) or "none installed"
    missed = f"; cannot read the style folder {', '.join(unreadable)}" if unreadable else ""
    raise StylecamError(f"unknown style {text!r}; known styles: {known}{missed}")


def variant_path(base: Path, suffix: str) -> Path | None:
    """models/mosaic.onnx + '.fp16' -> models/mosaic.fp16.onnx if it exists."""
    p = base.with_name(contract.variant_file(base.name, suffix))
    return p if p.is_file() else None


def available_files(base: Path) -> set[str]:
    """The names of the files beside `base` that may run in its place, `base` included."""
    return {name for name in contract.candidate_files(base.name) if (base.parent / name).is_file()}


def has_fast_net(info: StyleInfo) -> bool:
    return info.path is not None and variant_path(info.path, contract.FAST) is not None

"""The registry of styles: where model files are found and what their metadata says.

Bundled styles live in `models/` at the repository root, installed as the
`stylecam.models` package data. `STYLECAM_MODELS` (os.pathsep-separated folders) adds more,
and styles learned from the user's paintings live in the user data folder (`learned_dir`).
A multi-style net is one file holding several styles: each of them is a style here, run as
its row of the net (`StyleRef.index`); a style's own file wins over a row of the same name.
The model contract itself is in `contract.py`.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import contract
from .contract import StyleInfo
from .errors import StylecamError, first_line


@dataclass(frozen=True)
class StyleRef:
    """Where a style runs: its own model file, or row `index` of a multi-style net."""

    name: str
    path: Path  # the base model file (the engine picks its fast net or precision copy)
    index: int | None = None


_read: dict[tuple[str, int, int], StyleInfo] = {}  # (path, mtime, size) -> info: a file is read once


def read_info(path: str | Path) -> StyleInfo:
    """Read a model's metadata without building an inference session."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (str(path), st.st_mtime_ns, st.st_size) if st else None
    if key is not None and key in _read:
        return _read[key]
    info = StyleInfo.from_metadata(_metadata_props(path), path)
    if key is not None:
        _read[key] = info
    return info


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
    """Where styles are looked up, in order: STYLECAM_MODELS, the learned styles, the bundled models."""
    dirs = [Path(p) for p in os.environ.get("STYLECAM_MODELS", "").split(os.pathsep) if p]
    dirs += [learned_dir(), bundled_dir()]
    return dirs


def learned_dir() -> Path:
    """Named styles learned from the user's paintings (`stylecam --learn-style`): the
    platform's user data folder (XDG on Linux, Application Support, AppData\\Roaming)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("stylecam", appauthor=False)) / "styles"


def bundled_dir() -> Path:
    try:
        return Path(str(resources.files("stylecam.models")))
    except ModuleNotFoundError:  # running from a source tree without installing
        return Path(__file__).resolve().parent.parent / "models"


def available_styles(unreadable: list[str] | None = None) -> dict[str, Path]:
    """Style name -> model path: its full net, or its fast net where it has only that (the
    engine picks the fast net and precision copies beside it). A style folder that cannot
    be listed is added to `unreadable` with the reason."""
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
        models = [n for n in names if n.endswith(contract.MODEL_SUFFIX) and not n.startswith(".")]
        full = {n.removesuffix(contract.MODEL_SUFFIX): n for n in models if not contract.is_variant(n)}
        only_fast = {contract.style_name_of(n): n for n in models
                     if contract.is_fast_net(n) and contract.style_name_of(n) not in full}
        for style, name in sorted((full | only_fast).items()):
            found.setdefault(style, folder / name)
    return found


def list_styles() -> list[StyleInfo]:
    """Every installed style, each style of a multi-style net included (`index` set); a
    model file that cannot be read is skipped with a warning."""
    import warnings

    own: dict[str, StyleInfo] = {}
    rows: list[StyleInfo] = []
    unreadable: list[str] = []
    found_paths = available_styles(unreadable)
    for folder in unreadable:
        warnings.warn(f"cannot read the style folder {folder}", stacklevel=2)
    for path in found_paths.values():
        try:
            info = read_info(path)
        except StylecamError as exc:
            warnings.warn(f"skipped style {path.name}: {exc}", stacklevel=2)
            continue
        if info.styles:
            rows += [info.member(i) for i in range(len(info.styles))]
        else:
            own[contract.style_name_of(path.name)] = info
    found = list(own.values())
    names = set(own)
    for row in rows:  # a style's own file wins over a row of the same name, and the first net over later ones
        if row.name not in names:
            names.add(row.name)
            found.append(row)
    return found


def _rows() -> dict[str, StyleRef]:
    """The styles of every multi-style net, first net first (model files that cannot be read are left out)."""
    found: dict[str, StyleRef] = {}
    for path in available_styles().values():
        try:
            info = read_info(path)
        except StylecamError:
            continue
        for i, name in enumerate(info.style_names):
            found.setdefault(name, StyleRef(name, path, i))
    return found


def net_holding(names: list[str]) -> Path | None:
    """The first multi-style net that holds every one of `names` (so it can blend them), if any."""
    for path in available_styles().values():
        try:
            held = set(read_info(path).style_names)
        except StylecamError:
            continue
        if held and set(names) <= held:
            return path
    return None


def is_model_path(style: str | os.PathLike[str]) -> bool:
    """True for a path to a model file, False for a style name."""
    text = os.fspath(style)
    return text.endswith(contract.MODEL_SUFFIX) or os.sep in text or bool(os.altsep and os.altsep in text)


def resolve(style: str | os.PathLike[str]) -> Path:
    """A style name or a path to an .onnx file -> the model path, or a helpful error."""
    return locate(style).path


def locate(style: str | os.PathLike[str]) -> StyleRef:
    """A style name or a path to an .onnx file -> where it runs, or a helpful error. A path
    or a style's own file has no row (a multi-style net given so runs its first style)."""
    text = os.fspath(style)
    candidate = Path(text).expanduser()
    if is_model_path(text):
        check_model_file(candidate)
        return StyleRef(contract.style_name_of(candidate.name), candidate)
    unreadable: list[str] = []
    styles = available_styles(unreadable)
    if text in styles:
        return StyleRef(text, styles[text])
    rows = _rows()
    if text in rows:
        return rows[text]
    known = ", ".join(sorted(set(styles) | set(rows))) or "none installed"
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
    return info.path is not None and (contract.is_fast_net(info.path.name)
                                      or variant_path(info.path, contract.FAST) is not None)

"""Style mixes: `mosaic:0.6,candy:0.4` parsed and checked, and planned onto nets.

A mix of styles that one multi-style net holds runs inside that net (its style weights
are the mix). Styles in separate nets run each in its own net and their outputs are mixed,
weighted: a fallback that looks less like one painting in two manners and more like two
pictures laid over each other, so the engine says so once.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import styles
from .contract import style_name_of
from .errors import StylecamError

Mix = dict[str, float]  # style (name or model path) -> weight; the weights sum to 1


def parse_mix(spec: str) -> Mix | None:
    """`a:0.6,b:0.4` -> {a: 0.6, b: 0.4} (normalised to sum to 1; a missing weight is 1);
    None for a single style without a weight (a name or a model path, which may contain
    ':' as in C:\\\\models\\\\x.onnx). Malformed specs raise StylecamError."""
    items = spec.split(",")
    weights: dict[str, float] = {}
    for item in items:
        item = item.strip()
        weight = _weight_of(item)
        name = item.rsplit(":", 1)[0].strip() if weight is not None else item
        if not name:
            raise StylecamError(f"malformed style mix {spec!r}: each part is NAME or NAME:WEIGHT, "
                                "e.g. mosaic:0.6,candy:0.4")
        if weight is None and ":" in item and not styles.is_model_path(item):
            raise StylecamError(f"malformed style mix {spec!r}: {item!r} needs a number after ':', "
                                "e.g. mosaic:0.6,candy:0.4")
        if name in weights:
            raise StylecamError(f"style mix {spec!r} names {name!r} twice")
        weights[name] = 1.0 if weight is None else weight
    if len(items) == 1 and _weight_of(spec) is None:
        return None
    return normalize(weights, spec)


def _weight_of(item: str) -> float | None:
    """The number after the last ':', or None where there is none (or it is not a number)."""
    if ":" not in item:
        return None
    text = item.rsplit(":", 1)[1].strip()
    try:
        return float(text)
    except ValueError:
        return None


def normalize(weights: Mapping[str, float], what: object = None) -> Mix:
    """Check the weights (finite, >= 0, a positive sum) and scale them to sum to 1."""
    what = what if what is not None else ",".join(f"{k}:{v:g}" for k, v in weights.items())
    if not weights:
        raise StylecamError("a style mix needs at least one style")
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise StylecamError(f"style mix {what!r}: the weight of {name!r} must be a number >= 0, got {w}")
    total = float(sum(weights.values()))
    if not total > 0:
        raise StylecamError(f"style mix {what!r}: the weights must add up to a positive number, got {total:g}")
    return {str(name): float(w) / total for name, w in weights.items()}


def as_mix(style: str | os.PathLike[str] | Mapping[str, float]) -> Mix:
    """Any way of naming a style or a mix -> a normalised mix."""
    if isinstance(style, Mapping):
        return normalize(style)
    text = os.fspath(style)
    return parse_mix(text) or {text: 1.0}


def label(mix: Mix) -> str:
    """A short name for a mix, fit for file names: mosaic, or mosaic60_candy40."""
    names = [style_name_of(Path(k).name) if styles.is_model_path(k) else k for k in mix]
    if len(mix) == 1:
        return names[0]
    return "_".join(f"{n}{round(100 * w)}" for n, w in zip(names, mix.values()))


@dataclass
class NetPart:
    """One net of a mix: its base model file, its rows' weights (multi-style nets; summing
    to 1) and its share of the output."""

    path: Path
    by_name: bool  # found by style name (may run its fast net); False for a path given as such
    rows: dict[int, float] = field(default_factory=dict)  # empty: a one-style net (or row 0)
    share: float = 1.0
    names: list[str] = field(default_factory=list)


def plan(mix: Mix) -> list[NetPart]:
    """The nets that run a mix: one multi-style net holding every style if there is one,
    else each style in its own net (rows of the same net share it)."""
    names = list(mix)
    if len(names) > 1 and not any(styles.is_model_path(n) for n in names):
        net = styles.net_holding(names)
        if net is not None:
            held = styles.read_info(net).style_names
            return [NetPart(net, True, {held.index(n): w for n, w in mix.items()}, 1.0, names)]
    parts: dict[Path, NetPart] = {}
    for name, weight in mix.items():
        ref = styles.locate(name)
        part = parts.setdefault(ref.path, NetPart(ref.path, not styles.is_model_path(name), {}, 0.0))
        part.share += weight
        part.names.append(name)
        if ref.index is not None:
            part.rows[ref.index] = part.rows.get(ref.index, 0.0) + weight
    running = [part for part in parts.values() if part.share > 0]  # a style at weight 0 needs no net
    for part in running:
        if part.rows:
            total = sum(part.rows.values())
            part.rows = {i: w / total for i, w in part.rows.items() if w > 0}
    return running

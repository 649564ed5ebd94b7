"""A model soup (Wortsman et al. 2022): the weighted average of the weights of nets
fine-tuned from one state, which paints between them.

A style's temporal fine-tune trades steadiness for style along its temporal weight: a
higher weight cuts more flicker and paints less of the painting. Fine-tunes from the same
state stay close enough in weight space that their average is a net of its own, and a
soup of two weights lands between them on that trade (training/recipes/README.md), where
no single weight of the same fine-tune met both goals.

The soup is an ordinary checkpoint to export or distil: the first part's (its recipe, its
steps) with the averaged weights, its recipe's `soup` entry listing each part's share,
temporal weight and steps, and `trained_seconds` counting the start once and every
fine-tune after it. It is not resumable (no optimizer state): fine-tune the parts instead.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .loop import TrainingError, load_checkpoint, save_atomic
from .nets import NetConfig


def soup(start: str | Path, parts: Sequence[tuple[str | Path, float]], out: str | Path) -> Path:
    """Average the nets of the checkpoints in `parts` (path, share), all fine-tuned from the
    checkpoint `start` (the same net, painting, start and earlier settings, and more steps),
    by their shares (which must sum to 1), into `out`."""
    if len(parts) < 2:
        raise TrainingError("a soup needs at least two fine-tuned nets")
    shares = [share for _, share in parts]
    if any(not math.isfinite(s) or s <= 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise TrainingError(f"the shares must be positive and sum to 1, got {shares}")
    origin = load_checkpoint(start)
    states = [load_checkpoint(path) for path, _ in parts]
    history = origin.get("recipe_history", [])
    for (path, _), state in zip(parts, states):
        if (NetConfig.from_dict(state["net_config"]) != NetConfig.from_dict(origin["net_config"])
                or state["model"].keys() != origin["model"].keys()):
            raise TrainingError(f"{path} is not the net of {start}")
        if (state["step"] <= origin["step"] or state.get("init_from") != origin.get("init_from")
                or state["recipe"].get("style_image") != origin["recipe"].get("style_image")
                or state.get("recipe_history", [])[:len(history)] != history):
            raise TrainingError(f"{path} (step {state['step']}) was not fine-tuned from {start} "
                                f"(step {origin['step']})")
    model = {name: sum(share * state["model"][name].float() for share, state in zip(shares, states))
             for name in origin["model"]}
    first = states[0]
    before = float(origin.get("trained_seconds", 0.0))  # the start's, in every part's count
    spent = sum(float(s.get("trained_seconds", 0.0)) - before for s in states)
    recipe = dict(first["recipe"]) | {"soup": [
        {"share": share, "temporal_weight": s["recipe"].get("temporal_weight", 0.0),
         "steps": s["step"] - origin["step"]} for share, s in zip(shares, states)]}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(first | {"model": {k: v.to(first["model"][k].dtype) for k, v in model.items()},
                         "optimizer": None, "recipe": recipe,
                         "trained_seconds": before + spent}, out)
    return out


def parse_parts(texts: Sequence[str]) -> list[tuple[Path, float]]:
    """["a.pt:0.7", "b.pt:0.3"] -> [(Path("a.pt"), 0.7), (Path("b.pt"), 0.3)]."""
    parts = []
    for text in texts:
        path, _, share = text.rpartition(":")
        try:
            if not path:
                raise ValueError(text)
            parts.append((Path(path), float(share)))
        except ValueError:
            raise TrainingError(f"a soup part is CHECKPOINT:SHARE, e.g. runs/a/last.pt:0.7; got {text!r}") from None
    return parts


__all__ = ["parse_parts", "soup"]

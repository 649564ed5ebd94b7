"""The recipes that made the bundled styles, and styles.json, the one per-style data file:
each style's credits (written into its models), its published reference (the published
net's output and the content photo it was made from, under the shared folder's reference/)
and, under "train", the loss settings in which its training differs from the recipe's
(train_style_cpu.sh reads them)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STYLES_JSON = Path(__file__).with_name("styles.json")


def load_styles() -> dict[str, dict[str, Any]]:
    """Style name -> its entry in styles.json, in the order the multi-style net learns them."""
    return json.loads(STYLES_JSON.read_text())["styles"]


def painting(shared: str | Path, style: str) -> Path:
    """The style image of a bundled style in the shared folder."""
    return Path(shared) / "styles" / f"{style}.jpg"

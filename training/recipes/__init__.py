"""The recipes that made the bundled styles, and styles.json, the one per-style data file:
each style's credits (written into its models) and its published reference (the published
net's output and the content photo it was made from, under the shared folder's reference/)."""
from __future__ import annotations

import json
from pathlib import Path

STYLES_JSON = Path(__file__).with_name("styles.json")


def load_styles() -> dict[str, dict[str, str]]:
    """Style name -> its entry in styles.json, in the order the multi-style net learns them."""
    return json.loads(STYLES_JSON.read_text())["styles"]


def painting(shared: str | Path, style: str) -> Path:
    """The style image of a bundled style in the shared folder."""
    return Path(shared) / "styles" / f"{style}.jpg"

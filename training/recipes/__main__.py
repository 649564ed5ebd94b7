"""`python -m training.recipes setting STYLE KEY DEFAULT`: a style's own training setting
(its `train` entry in styles.json), else DEFAULT; what the recipe scripts read."""
from __future__ import annotations

import sys

from . import load_styles


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] != "setting":
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    _, style, key, default = argv
    print(load_styles()[style].get("train", {}).get(key, default))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Build models/blend.onnx: the bundled styles whose fast nets were fine-tuned from one net
(starry_night's), in one net whose weights the style mix sets (training/blend.py).

    python training/recipes/build_blend_net.py [--models models] [--root starry_night]

export_styles.py runs this after it writes a fast net, so the blend net always holds the
bundled nets as they are. Needs the `onnx` package (the [train] extra), not torch.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from training.blend import BLEND_NAME, build_blend_net, check_blend_net, family  # noqa: E402

ROOT_STYLE = "starry_night"  # the net the bundled styles are fine-tuned from (styles.json "init")


def rebuild(models: Path, root: str = ROOT_STYLE) -> str:
    """Write MODELS/blend.onnx from the family of `root` (or remove it when fewer than two
    nets are left) and say what it holds."""
    out = models / f"{BLEND_NAME}.onnx"
    members = family(models, f"{root}.jpg")
    if len(members) < 2:
        out.unlink(missing_ok=True)
        return f"{out.name}: fewer than two nets from {root}'s, none written"
    info = build_blend_net(members, out)
    error = check_blend_net(out, members)
    if error > 0.01:
        raise SystemExit(f"{out}: a one-hot row differs from its own net by {error:.4f}")
    return f"{out.name}: {', '.join(info.style_names)} (one-hot parity max abs error {error:.4f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--root", default=ROOT_STYLE, help="the style whose net the others were fine-tuned from")
    args = p.parse_args()
    print(rebuild(Path(args.models), args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())

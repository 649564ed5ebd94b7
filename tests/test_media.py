"""Real-media group: every clip in ../shared/clips through the CLI, as a user types it.
Uses the small test net (a full style net on CPU takes ~1 s per 640x360 frame)."""
from __future__ import annotations


import pytest
from PIL import Image

from conftest import probe, run_cli, shared_dir

SHARED = shared_dir()
pytestmark = [pytest.mark.media,
              pytest.mark.skipif(SHARED is None, reason="needs ../shared (set STYLECAM_SHARED)")]
CLIPS = sorted(p.name for p in (SHARED / "clips").iterdir()) if SHARED else []


@pytest.mark.parametrize("clip", CLIPS)
def test_every_shared_clip(clip, tmp_path, cli_env):
    src = SHARED / "clips" / clip
    out = tmp_path / "out.mp4"
    r = run_cli(src, "-o", out, "--style", "testnet", "--batch", "2", env=cli_env)
    assert r.returncode == 0, r.stderr
    a, b = probe(src), probe(out)
    assert (b["width"], b["height"]) == (a["width"], a["height"])
    assert b["frames"] == a["frames"]
    frame = 1 / a["fps"] if a["fps"] else 0.1
    assert abs(b["span"] - a["span"]) <= frame + 1e-6
    assert b["audio_channels"] == a["audio_channels"]
    if clip == "tree.avi":  # truncated on purpose
        assert "warning" in r.stderr and f"read {b['frames']} of" in r.stderr
    else:
        assert "truncated" not in r.stderr


def test_real_photos_folder(tmp_path, cli_env):
    photos = sorted((SHARED / "photos" / "eval").iterdir())[:5]
    src = tmp_path / "in"
    src.mkdir()
    for p in photos:
        (src / p.name).symlink_to(p)
    r = run_cli(src, "-o", tmp_path / "out", "--style", "testnet", env=cli_env)
    assert r.returncode == 0, r.stderr
    for p in photos:
        with Image.open(p) as a, Image.open(tmp_path / "out" / p.name) as b:
            assert b.size == a.size

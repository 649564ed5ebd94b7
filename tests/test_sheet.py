"""The style sheet: every available style on one photo, labelled, in a grid (API and CLI)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import build_multi_style_model, run_cli
from stylecam import StylecamError, Stylizer, contact_sheet, list_styles
from stylecam.sheet import GAP, selector, write_sheet

H, W = 40, 56  # the photo; smaller than a tile, so tiles are the photo's size


@pytest.fixture()
def env(mix_models) -> dict[str, str]:
    return dict(os.environ)


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)).save(path)
    return path


def tile(sheet: np.ndarray, i: int, columns: int, strip: int = 18) -> np.ndarray:
    x, y = GAP + (i % columns) * (W + GAP), GAP + (i // columns) * (H + strip + GAP)
    return sheet[y:y + H, x:x + W]


def label(sheet: np.ndarray, i: int, columns: int, strip: int = 18) -> np.ndarray:
    x, y = GAP + (i % columns) * (W + GAP), GAP + (i // columns) * (H + strip + GAP)
    return sheet[y + H:y + H + strip, x:x + W]


def grid(count: int) -> tuple[int, int]:
    """Columns and rows of a sheet of `count` styles and the original."""
    columns = math.ceil(math.sqrt(count + 1))
    return columns, math.ceil((count + 1) / columns)


def test_sheet_has_every_style_in_a_labelled_grid(env, photo):
    image = np.asarray(Image.open(photo))
    sheet = contact_sheet(image, device="cpu")
    names = [selector(i) for i in list_styles()]
    assert {"alpha", "beta", "gamma", "testnet", "othernet", "mosaic", "candy"} <= set(names)  # bundled too
    columns, rows = grid(len(names))
    assert sheet.shape == (rows * (H + 18 + GAP) + GAP, columns * (W + GAP) + GAP, 3)
    assert np.array_equal(tile(sheet, 0, columns), image)  # the original first
    for i, name in enumerate(names, start=1):
        assert np.array_equal(tile(sheet, i, columns), Stylizer(name, device="cpu").stylize(image)), name
        assert (label(sheet, i, columns) > 128).any()  # a label is drawn under every tile
    assert len({tile(sheet, i, columns).tobytes() for i in range(len(names) + 1)}) == len(names) + 1


def test_sheet_of_chosen_styles_and_columns(env, photo):
    image = np.asarray(Image.open(photo).resize((300, 200)))
    sheet = contact_sheet(image, ["beta", "testnet"], tile=100, columns=1, original=False)
    assert sheet.shape == (2 * (67 + 18 + GAP) + GAP, 100 + 2 * GAP, 3)  # 100x67 tiles, one above the other
    small = np.asarray(Image.fromarray(image).resize((100, 67), Image.Resampling.LANCZOS))
    second = sheet[2 * GAP + 67 + 18:2 * GAP + 2 * 67 + 18, GAP:GAP + 100]
    assert np.array_equal(second, Stylizer("testnet").stylize(small))
    assert contact_sheet(image, ["beta", "testnet"], columns=5).shape[1] == 3 * (300 + GAP) + GAP  # 3 tiles at most
    with pytest.raises(StylecamError, match="unknown style"):
        contact_sheet(image, ["nope"])


def test_broken_styles_are_left_out_with_a_warning(env, photo, tmp_path):
    import onnx

    folder = Path(env["STYLECAM_MODELS"])
    (folder / "broken.onnx").write_bytes(b"not a model")  # the registry cannot read it
    model = onnx.load(str(build_multi_style_model(tmp_path / "net.onnx", ["a", "b"])))
    for prop in model.metadata_props:
        if prop.key == "stylecam.styles":
            prop.value = "[]"  # takes style weights without naming its styles: the engine refuses it
    onnx.save(model, str(folder / "unlisted.onnx"))
    warnings = []
    result = write_sheet(photo, tmp_path / "sheet.png", warn=warnings.append, device="cpu")
    assert Path(result.output).is_file() and result.skipped == ["unlisted"]
    assert "broken" not in result.styles and "unlisted" not in result.styles and "alpha" in result.styles
    assert len(warnings) == 2 and "broken.onnx" in warnings[0] and "unlisted left out" in warnings[1]


def test_cli_sheet_writes_atomically_and_refuses_to_overwrite(env, photo, tmp_path):
    out = tmp_path / "sheet.png"
    r = run_cli("--sheet", photo, "-o", out, env=env)
    assert r.returncode == 0, r.stderr
    count = len(list_styles())
    assert "wrote" in r.stderr and f"{count} styles" in r.stderr
    first = out.read_bytes()
    columns, rows = grid(count)
    with Image.open(out) as im:
        assert im.size == (columns * (W + GAP) + GAP, rows * (H + 18 + GAP) + GAP)
    r = run_cli("--sheet", photo, "-o", out, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "exists" in r.stderr
    assert out.read_bytes() == first
    r = run_cli("--sheet", photo, "-o", out, "-y", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["styles"] == [selector(i) for i in list_styles()]
    r = run_cli("--sheet", photo, env=env)  # default name beside the photo
    assert r.returncode == 0 and (tmp_path / "photo_sheet.png").is_file()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("hello"), "cannot read image"),
    (lambda p: None, "not found"),
])
def test_cli_sheet_bad_photo_is_one_line_exit_2(env, tmp_path, make, match):
    bad = tmp_path / "bad.jpg"
    make(bad)
    out = tmp_path / "sheet.png"
    r = run_cli("--sheet", bad, "-o", out, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and match in r.stderr, r.stderr
    assert not out.exists()

"""The wheel: bundled styles inside, runtime requirements light (no torch)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    if r.returncode and "No module named" in r.stderr and "setuptools" in r.stderr:
        pytest.skip("setuptools is not installed in this environment")
    assert r.returncode == 0, r.stderr
    return next(out.glob("stylecam-*.whl"))


def test_wheel_contains_every_bundled_style(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = sorted(p.name for p in (REPO / "models").glob("*.onnx"))
    for model in bundled:
        assert f"stylecam/models/{model}" in names, model
    assert "stylecam/models/__init__.py" in names


def test_runtime_requirements_do_not_pull_torch(wheel):
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    runtime = [line for line in text.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not any("torch" in line for line in runtime), runtime


def test_wheel_carries_license_and_typing_marker(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "stylecam/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names), [n for n in names if "dist-info" in n]


def test_wheel_carries_the_training_code_and_the_base_net(wheel):
    """--style-image learns with the training package (torch from the [train] extra only)
    from the trained net the wheel ships (starry_night's)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {f"training/{m}.py" for m in ("__init__", "adapt", "nets", "loop", "losses", "vgg", "data", "export")}
    assert code <= names, code - names
    assert "stylecam/learn.py" in names and "training/checkpoints/starry_night.pt" in names
    # the per-style training states beside it are for resuming training, not for users
    assert sorted(n for n in names if n.startswith("training/checkpoints/")) == ["training/checkpoints/starry_night.pt"]
    assert not any(n.startswith("tests/") for n in names)

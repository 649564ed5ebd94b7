"""The model contract: which file runs, variant file names, metadata round trip. Pure, no models."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stylecam.contract import (FAST, FP16, INT8, Key, ModelPick, StyleInfo, candidate_files, is_variant,
                               pick_model_file, style_name_of, variant_file)
from stylecam.upsample import RADIUS

BASE = {"paint.onnx"}
FAST_NET = BASE | {"paint.fast.onnx"}
FAST_INT8 = FAST_NET | {"paint.fast.int8.onnx"}
NO_FAST = BASE | {"paint.int8.onnx", "paint.fp16.onnx"}
EVERY = FAST_NET | {"paint.int8.onnx", "paint.fp16.onnx", "paint.fast.int8.onnx", "paint.fast.fp16.onnx"}

# device, quality, precision, files beside the style, by name -> file that runs, quality used
TABLE = [
    # CPU, auto: the fast net where there is one, then its int8 copy
    ("cpu", "auto", "auto", BASE, True, "paint.onnx", "best"),
    ("cpu", "auto", "auto", FAST_NET, True, "paint.fast.onnx", "fast"),
    ("cpu", "auto", "auto", FAST_INT8, True, "paint.fast.int8.onnx", "fast"),
    ("cpu", "auto", "auto", EVERY, True, "paint.fast.int8.onnx", "fast"),
    ("cpu", "auto", "auto", NO_FAST, True, "paint.int8.onnx", "best"),
    ("cpu", "auto", "fp32", EVERY, True, "paint.fast.onnx", "fast"),
    ("cpu", "auto", "fp16", EVERY, True, "paint.fast.onnx", "fast"),  # no fp16 copies on the CPU
    ("cpu", "auto", "int8", FAST_NET, True, "paint.fast.onnx", "fast"),  # no copy: the file itself
    # CPU, best / fast asked
    ("cpu", "best", "auto", EVERY, True, "paint.int8.onnx", "best"),
    ("cpu", "best", "fp32", EVERY, True, "paint.onnx", "best"),
    ("cpu", "best", "int8", FAST_INT8, True, "paint.onnx", "best"),
    ("cpu", "fast", "auto", EVERY, True, "paint.fast.int8.onnx", "fast"),
    ("cpu", "fast", "fp32", EVERY, True, "paint.fast.onnx", "fast"),
    ("cpu", "fast", "int8", FAST_INT8, True, "paint.fast.int8.onnx", "fast"),
    ("cpu", "fast", "auto", BASE, True, "paint.onnx", "best"),  # no fast net: the full one
    ("cpu", "fast", "int8", NO_FAST, True, "paint.int8.onnx", "best"),
    # GPUs: the full net unless fast is asked, then its fp16 copy
    ("cuda", "auto", "auto", EVERY, True, "paint.fp16.onnx", "best"),
    ("cuda", "auto", "auto", FAST_INT8, True, "paint.onnx", "best"),
    ("cuda", "auto", "fp32", EVERY, True, "paint.onnx", "best"),
    ("cuda", "auto", "int8", EVERY, True, "paint.onnx", "best"),  # no int8 copies on a GPU
    ("cuda", "auto", "fp16", NO_FAST, True, "paint.fp16.onnx", "best"),
    ("cuda", "best", "fp16", EVERY, True, "paint.fp16.onnx", "best"),
    ("cuda", "fast", "auto", EVERY, True, "paint.fast.fp16.onnx", "fast"),
    ("cuda", "fast", "auto", FAST_INT8, True, "paint.fast.onnx", "fast"),
    ("cuda", "fast", "fp32", EVERY, True, "paint.fast.onnx", "fast"),
    ("cuda", "fast", "fp16", BASE, True, "paint.onnx", "best"),
    ("tensorrt", "auto", "auto", EVERY, True, "paint.fp16.onnx", "best"),
    ("tensorrt", "auto", "auto", BASE, True, "paint.onnx", "best"),
    ("tensorrt", "best", "fp32", EVERY, True, "paint.onnx", "best"),
    ("tensorrt", "fast", "fp16", EVERY, True, "paint.fast.fp16.onnx", "fast"),
    ("tensorrt", "fast", "int8", FAST_INT8, True, "paint.fast.onnx", "fast"),
    # a model given by its path runs that net; only its precision copies stand in for it
    ("cpu", "auto", "auto", EVERY, False, "paint.int8.onnx", "best"),
    ("cpu", "fast", "fp32", EVERY, False, "paint.onnx", "best"),
    ("cpu", "auto", "fp32", FAST_NET, False, "paint.onnx", "best"),
    ("cuda", "auto", "auto", EVERY, False, "paint.fp16.onnx", "best"),
    ("cuda", "fast", "auto", EVERY, False, "paint.fp16.onnx", "best"),
    ("tensorrt", "fast", "fp32", EVERY, False, "paint.onnx", "best"),
]


@pytest.mark.parametrize("device, quality, precision, available, by_name, file, used", TABLE)
def test_pick_model_file(device, quality, precision, available, by_name, file, used):
    pick = pick_model_file("paint.onnx", available, device, quality, precision, by_name)
    assert pick == ModelPick(file, used)


def test_pick_model_file_for_a_fast_net_given_by_path():
    """Its int8/fp16 copies are NAME.fast.int8.onnx / NAME.fast.fp16.onnx."""
    assert pick_model_file("paint.fast.onnx", EVERY, "cpu", by_name=False).file == "paint.fast.int8.onnx"
    assert pick_model_file("paint.fast.onnx", EVERY, "cuda", by_name=False).file == "paint.fast.fp16.onnx"


@pytest.mark.parametrize("quality", ["auto", "best", "fast"])
def test_a_style_with_only_its_fast_net_runs_it_for_every_quality(quality):
    only_fast = {"paint.fast.onnx", "paint.fast.int8.onnx"}
    assert pick_model_file("paint.fast.onnx", only_fast, "cpu", quality) == ModelPick("paint.fast.int8.onnx", "fast")
    assert pick_model_file("paint.fast.onnx", only_fast, "cuda", quality) == ModelPick("paint.fast.onnx", "fast")


@pytest.mark.parametrize("kwargs", [{"device": "auto"}, {"device": "gpu"}, {"quality": "fastest"},
                                    {"precision": "bf16"}])
def test_pick_model_file_refuses_unknown_values(kwargs):
    with pytest.raises(ValueError, match="unknown"):
        pick_model_file("paint.onnx", EVERY, **({"device": "cpu"} | kwargs))


def test_variant_file_names():
    assert variant_file("mosaic.onnx", FAST) == "mosaic.fast.onnx"
    assert variant_file("mosaic.fast.onnx", INT8) == "mosaic.fast.int8.onnx"
    assert variant_file("mosaic.onnx", FP16) == "mosaic.fp16.onnx"
    assert [is_variant(n) for n in ("mosaic.onnx", "mosaic.fast.onnx", "mosaic.int8.onnx", "mosaic.fast.fp16.onnx",
                                    "fastmosaic.onnx")] == [False, True, True, True, False]
    assert [style_name_of(n) for n in ("mosaic.onnx", "mosaic.fast.int8.onnx", "my.style.fp16.onnx")] == \
        ["mosaic", "mosaic", "my.style"]
    assert sorted(candidate_files("paint.onnx")) == sorted(EVERY)
    assert candidate_files("paint.onnx")[0] == "paint.onnx"


def test_style_info_metadata_round_trip(tmp_path):
    info = StyleInfo(name="wave", path=tmp_path / "wave.fast.int8.onnx", display_name="The Great Wave",
                     painting="The Great Wave off Kanagawa", artist="Katsushika Hokusai",
                     image_source="https://example.org/wave.jpg", license="public domain", multiple=8, border=8,
                     precision="int8", arch={"channels": [32, 32, 64], "padding": "zero"},
                     training={"trained_steps": 3000, "style_image": "wave.jpg"}, notes="a note", edge_blur=1.5,
                     guide_radius=2)
    meta = info.to_metadata()
    assert all(isinstance(v, str) for v in meta.values())
    assert set(meta) == {v for k, v in vars(Key).items() if k.isupper()}
    assert meta[Key.CONTRACT] == "1" and meta[Key.PRECISION] == "int8"
    assert StyleInfo.from_metadata(meta, info.path) == info
    assert StyleInfo.from_metadata(meta) == replace(info, path=None)
    assert StyleInfo.from_metadata(StyleInfo(name="x").to_metadata()) == StyleInfo(name="x")


def test_style_info_reads_any_metadata_leniently():
    """A model made elsewhere: missing or malformed values take their defaults."""
    path = Path("models/odd.fast.onnx")
    info = StyleInfo.from_metadata({Key.MULTIPLE: "four", Key.BORDER: "1000", Key.ARCH: "[1, 2]",
                                    Key.TRAINING: "{not json"}, path)
    assert info == StyleInfo(name="odd.fast", path=path, border=64)
    assert StyleInfo.from_metadata({Key.MULTIPLE: "0", Key.BORDER: "-3"}).multiple == 1
    assert StyleInfo.from_metadata({Key.BORDER: "-3"}).border == 0
    for bad in ("soft", "-1", "nan", "inf", ""):
        assert StyleInfo.from_metadata({Key.EDGE_BLUR: bad}).edge_blur == 0.0
    for bad in ("two", "1", "4", "2.5", "-2", ""):  # only the radii upsampling offers
        assert StyleInfo.from_metadata({Key.GUIDE_RADIUS: bad}).guide_radius == RADIUS
    assert StyleInfo.from_metadata({Key.GUIDE_RADIUS: "2"}).guide_radius == 2


def test_a_multi_style_net_states_each_styles_upsampling_settings():
    net = StyleInfo(name="pair", styles=(StyleInfo(name="a", edge_blur=1.5, guide_radius=2), StyleInfo(name="b")))
    read = StyleInfo.from_metadata(net.to_metadata())
    assert [s.edge_blur for s in read.styles] == [1.5, 0.0]
    assert [s.guide_radius for s in read.styles] == [2, RADIUS]
    assert read.member(0).edge_blur == 1.5 and read.member(1).edge_blur == 0.0
    assert read.member(0).guide_radius == 2 and read.member(1).guide_radius == RADIUS
    meta = net.to_metadata() | {Key.STYLES: '[{"name": "a", "edge_blur": "wide", "guide_radius": 7}, '
                                            '{"name": "b", "edge_blur": -2, "guide_radius": "x"}]'}
    assert [(s.edge_blur, s.guide_radius) for s in StyleInfo.from_metadata(meta).styles] == [(0.0, RADIUS)] * 2

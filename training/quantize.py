"""int8 static quantization of an exported style net (onnxruntime QDQ), calibrated on
real photos: per-channel int8 weights, uint8 activations. The result keeps the model's
metadata with `stylecam.precision` = int8; saved as NAME.int8.onnx beside NAME.onnx, the
runtime prefers it on CPU (Stylizer precision "auto").
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stylecam.contract import INPUT_NAME, Key

from .export import set_metadata


def quantize_int8(model: str | Path, output: str | Path, photos: Sequence[str | Path | np.ndarray],
                  size: tuple[int, int] = (320, 180)) -> None:
    """Calibrate on `photos` (image files or uint8 HxWx3 RGB arrays) at `size` and write `output`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from PIL import Image

    if not photos:
        raise ValueError("int8 calibration needs photos (none found)")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(photos)

        def get_next(self):
            p = next(self.items, None)
            if p is None:
                return None
            img = (Image.fromarray(p) if isinstance(p, np.ndarray) else Image.open(p)).convert("RGB").resize(size)
            return {INPUT_NAME: np.asarray(img, np.float32).transpose(2, 0, 1)[None].copy()}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns per instance-norm weight; nothing to act on
    try:
        quantize_static(str(model), str(output), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    set_metadata(output, meta | {Key.PRECISION: "int8"})

"""stylecam: real-time neural style transfer for images, video files and live video.

    from stylecam import Stylizer
    stylizer = Stylizer("mosaic")
    styled = stylizer.stylize(frame)   # uint8 HxWx3 RGB in, same shape out
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import StylecamError  # noqa: E402

__all__ = ["Stylizer", "StylecamError", "StyleInfo", "available_devices", "contact_sheet", "list_styles",
           "__version__"]

# numpy and onnxruntime load on first use, so the command line can install its signal
# handlers before the slow imports
_LAZY = {"Stylizer": "engine", "available_devices": "engine", "StyleInfo": "contract", "list_styles": "styles",
         "contact_sheet": "sheet"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

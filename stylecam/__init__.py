"""stylecam: real-time neural style transfer for images, video files and live video.

    from stylecam import Stylizer
    stylizer = Stylizer("mosaic")
    styled = stylizer.stylize(frame)   # uint8 HxWx3 RGB in, same shape out
"""
__version__ = "0.1.0"

from .engine import Stylizer, available_devices  # noqa: E402
from .errors import StylecamError  # noqa: E402
from .styles import StyleInfo, list_styles  # noqa: E402

__all__ = ["Stylizer", "StylecamError", "StyleInfo", "available_devices", "list_styles", "__version__"]

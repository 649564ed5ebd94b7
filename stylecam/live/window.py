"""The preview window: OpenCV highgui, or Tk when OpenCV has no GUI; its hotkeys ask the loop."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import StylecamError, first_line
from ..io.images import write_image
from .sources import LiveFrame

if TYPE_CHECKING:
    from .loop import LiveLoop


class _OpenCVDisplay:
    """OpenCV highgui window (needs opencv-python, not the headless build)."""

    def __init__(self, title: str):
        import cv2

        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)  # cv2.error without GUI support

    def show(self, rgb: np.ndarray) -> str | None:
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return "close"
        return {27: "esc"}.get(key) or (chr(key) if key != 255 else None)

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)


class _TkDisplay:
    """Tk window (standard library + Pillow), used when OpenCV has no GUI support."""

    def __init__(self, title: str):
        import tkinter

        self.root = tkinter.Tk()  # tkinter.TclError without a display
        self.root.title(title)
        self.label = tkinter.Label(self.root)
        self.label.pack()
        self.keys: list[str] = []
        self.closed = False
        self.root.bind("<Key>", lambda e: self.keys.append("esc" if e.keysym == "Escape" else e.char))
        self.root.protocol("WM_DELETE_WINDOW", self._on_close)

    def _on_close(self) -> None:
        self.closed = True

    def show(self, rgb: np.ndarray) -> str | None:
        from PIL import Image, ImageTk

        if self.closed:
            return "close"
        photo = ImageTk.PhotoImage(Image.fromarray(rgb))
        self.label.configure(image=photo)
        self.label.image = photo  # type: ignore[attr-defined]  # keep a reference, or Tk shows nothing
        self.root.update()
        return self.keys.pop(0) if self.keys else ("close" if self.closed else None)

    def close(self) -> None:
        try:
            self.root.destroy()
        except Exception:
            pass


def open_display(title: str) -> _OpenCVDisplay | _TkDisplay:
    import cv2

    try:
        return _OpenCVDisplay(title)
    except cv2.error:
        pass
    try:
        return _TkDisplay(title)
    except Exception as exc:  # no tkinter, or no display (tkinter.TclError)
        reason = first_line(exc)
    raise StylecamError(f"cannot open a preview window ({reason}); use --no-window with --virtual-cam, "
                        "--stream or -o (Tk needs python3-tk; or replace opencv-python-headless with opencv-python)")


class WindowSink:
    """Preview window with an FPS/latency overlay and hotkeys:
    n/p next/previous style, +/- strength, space pause, s snapshot, q/Esc quit.
    Keys other than the snapshot are requests to the loop; `display` stands in for the
    real window (anything with show(rgb) -> key and close())."""

    TITLE = "stylecam"

    def __init__(self, loop: LiveLoop, styles: list[str], snapshot_dir: Path = Path("."),
                 display: Any = None):
        self.display = display or open_display(self.TITLE)
        self.loop, self.styles, self.snapshot_dir = loop, styles, snapshot_dir
        self.times: list[float] = []

    def _switch(self, step: int) -> None:
        if not self.styles:
            return
        current = self.loop.style
        i = self.styles.index(current) if current in self.styles else -1
        self.loop.switch_style(self.styles[(i + step) % len(self.styles)])

    def write(self, image: np.ndarray, frame: LiveFrame) -> None:
        import cv2

        now = time.monotonic()
        self.times = [t for t in self.times if now - t < 1.0] + [now]
        shown = image.copy()
        text = (f"{self.loop.engine.name}  {len(self.times)} fps  latency {1000 * (now - frame.captured):.0f} ms"
                f"  strength {self.loop.engine.strength:.1f}" + ("  PAUSED" if self.loop.paused else ""))
        cv2.putText(shown, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(shown, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        self.handle_key(self.display.show(shown), image)

    def handle_key(self, key: str | None, image: np.ndarray) -> None:
        if key is None:
            return
        if key in ("q", "esc", "close"):
            self.loop.stop()
        elif key == "n":
            self._switch(1)
        elif key == "p":
            self._switch(-1)
        elif key in ("+", "="):
            self.loop.adjust_strength(0.1)
        elif key == "-":
            self.loop.adjust_strength(-0.1)
        elif key == " ":
            self.loop.toggle_pause()
        elif key == "s":
            path = self.snapshot_dir / time.strftime("stylecam_%Y%m%d_%H%M%S.png")
            try:  # never replaces a file (a second snapshot in the same second is refused)
                write_image(path, image)
                self.loop.warn(f"snapshot {path}")
            except (StylecamError, OSError) as exc:
                self.loop.warn(f"snapshot not saved: {exc}")

    def close(self) -> None:
        self.display.close()

"""The encoders' RGB -> YUV 4:2:0 conversion against FFmpeg's own (swscale), which it replaces."""
from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest

from stylecam.io.yuv import rgb_to_i420, video_frame


def detailed_picture(height: int, width: int) -> np.ndarray:
    """Smooth colour gradients with sharp coloured edges and fine stripes: chroma that
    changes within 2x2 pixels, where 4:2:0 conversions differ."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 7 + y / 11)], axis=-1)
    image[height // 3: height // 2, :] = (230, 30, 40)  # a red band with hard edges
    image[:, width // 3: width // 3 + 9: 2] = (20, 40, 220)  # blue stripes one pixel wide
    return np.clip(image, 0, 255).astype(np.uint8)


def swscale_i420(image: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p").to_ndarray()


def round_trip_error(i420: np.ndarray, image: np.ndarray) -> float:
    """Mean error, 0..255 levels, of a 4:2:0 picture decoded back to RGB by FFmpeg."""
    back = av.VideoFrame.from_ndarray(i420.astype(np.uint8), format="yuv420p").to_ndarray(format="rgb24")
    return float(np.abs(back.astype(int) - image).mean())


@pytest.mark.parametrize("shape", [(360, 640), (242, 318)])
def test_i420_matches_ffmpeg_and_keeps_fine_colour(shape):
    image = detailed_picture(*shape)
    height = shape[0]
    ours, theirs = rgb_to_i420(image).astype(int), swscale_i420(image).astype(int)
    assert ours.shape == theirs.shape == (height * 3 // 2, shape[1])
    luma, chroma = np.abs(ours[:height] - theirs[:height]), np.abs(ours[height:] - theirs[height:])
    assert luma.max() <= 1 and luma.mean() < 0.1  # the same BT.601 limited-range luma
    assert chroma.mean() < 1.0, chroma.mean()  # the same chroma, averaged a little differently
    # decoded back to RGB, the 2x2 average is at least as close to the picture as swscale's
    # (OpenCV's own 4:2:0 conversion, one pixel of four, is not)
    assert round_trip_error(ours, image) <= round_trip_error(theirs, image) + 0.05
    assert round_trip_error(ours, image) < round_trip_error(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), image)


@pytest.mark.parametrize("shape", [(2, 2), (6, 8)])
def test_tiny_frames_convert_about_as_well(shape):
    """A few pixels are all edge, where swscale's chroma filter reaches past the picture and
    the 2x2 average does not: the values differ, the pictures they decode to do not much."""
    image = detailed_picture(*shape)
    ours = rgb_to_i420(image)
    assert ours.shape == (shape[0] * 3 // 2, shape[1])
    assert round_trip_error(ours, image) <= round_trip_error(swscale_i420(image), image) + 5


def test_i420_needs_even_sides_and_other_formats_stay_rgb():
    with pytest.raises(ValueError, match="even"):
        rgb_to_i420(np.zeros((5, 4, 3), np.uint8))
    image = detailed_picture(6, 8)
    assert video_frame(image, "yuv420p").format.name == "yuv420p"
    rgb = video_frame(image, "yuv444p")
    assert rgb.format.name == "rgb24" and np.array_equal(rgb.to_ndarray(), image)
    # a strided view (a crop) converts like a copy of itself
    view = detailed_picture(10, 12)[1:9, 2:10]
    assert np.array_equal(rgb_to_i420(view), rgb_to_i420(view.copy()))


def test_encoded_frames_decode_to_the_picture():
    """Through x264 and back: the colours come out where swscale's conversion puts them."""
    image = detailed_picture(120, 160)
    decoded = {}
    for name, frame in (("ours", video_frame(image, "yuv420p")), ("ffmpeg", av.VideoFrame.from_ndarray(image,
                                                                                                         "rgb24"))):
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
            stream.options = {"crf": "0", "preset": "ultrafast"}
            frame.pts = 0
            out.mux(stream.encode(frame))
            out.mux(stream.encode())
        buf.seek(0)
        with av.open(buf) as container:
            decoded[name] = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(decoded["ours"] - decoded["ffmpeg"]).mean() < 1.0
    assert np.abs(decoded["ours"] - image).mean() <= np.abs(decoded["ffmpeg"] - image).mean() + 0.05

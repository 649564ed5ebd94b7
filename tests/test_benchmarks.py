"""Pure logic of the benchmarks package (nothing timed here)."""
from __future__ import annotations

from benchmarks.speed import int8_instructions


def test_int8_instructions_names_the_best_the_cpu_has():
    assert int8_instructions({"avx2", "fma", "avx512bw", "avx512_vnni"}).startswith("AVX-512 VNNI")
    assert int8_instructions({"avx2", "avx_vnni"}).startswith("AVX-VNNI")
    assert int8_instructions({"avx2", "avx512f", "avx512bw"}).startswith("AVX-512BW without VNNI")
    assert int8_instructions({"sse4_2", "avx", "avx2", "fma"}).startswith("AVX2 without VNNI")
    assert int8_instructions(set()).startswith("no AVX2")


def test_live_sizes_parse_and_refuse_nonsense():
    import pytest

    from benchmarks.live import parse_sizes

    assert parse_sizes("640x360,1280x720") == [(640, 360), (1280, 720)]
    assert parse_sizes(" 1920x1080 ") == [(1920, 1080)]
    for bad in ("1280", "1280x", "x720", "8x8", "1280x720,", "axb"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_speed_work_size_rows_paint_at_the_work_shape():
    from benchmarks.speed import work_size_of

    assert work_size_of((1920, 1080), 640) == (640, 360)
    assert work_size_of((1280, 720), 640) == (640, 360)
    assert work_size_of((640, 360), 640) == (640, 360)


def test_pipeline_clip_keeps_the_audio_of_its_span(tmp_path):
    from benchmarks.pipeline import audio_track, make_clip, video_size
    from conftest import make_video, probe

    src = make_video(tmp_path / "src.mp4", frames=24, size=(96, 64), fps=12, audio=True)
    clip = tmp_path / "clip.mp4"
    make_clip(src, clip, 12, (128, 72), audio=True)
    assert video_size(clip) == (128, 72) and probe(clip)["frames"] == 12
    audio = audio_track(clip)
    assert audio is not None and audio["channels"] == 2 and abs(audio["seconds"] - 1.0) < 0.1  # 12 frames at 12 fps
    make_clip(src, tmp_path / "silent.mp4", 12, (128, 72))
    assert audio_track(tmp_path / "silent.mp4") is None

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


def test_live_table_names_the_size_the_net_painted_at():
    from benchmarks.live import painted_shape

    assert painted_shape((1280, 720), 448) == "448x252" and painted_shape((1280, 720), 320) == "320x180"
    assert painted_shape((1280, 720), "full") == "1280x720"
    assert painted_shape((320, 240), 448) == "320x240"  # never enlarged


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


def blurred_edge(sigma: float, angle: float = 0.4, shape: tuple[int, int] = (200, 300)):
    """A straight edge from 40 to 220 levels through the middle of a float32 image, its
    normal at `angle` rad, blurred by a Gaussian of `sigma` px: its profile is an erf, whose
    10-90 % rise is 2 x 1.2816 x sigma."""
    import math

    import numpy as np

    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    distance = (x - shape[1] / 2) * math.cos(angle) + (y - shape[0] / 2) * math.sin(angle)
    erf = np.vectorize(math.erf)
    return (40 + 90 * (1 + erf(distance / (sigma * math.sqrt(2))))).astype(np.float32), distance


def test_worksize_rise_width_of_an_erf_profile_and_what_it_skips():
    import math

    import numpy as np
    import pytest

    from benchmarks.worksize import RADIUS, STEP, rise_widths

    t = np.arange(-RADIUS, RADIUS + STEP / 2, STEP)
    erf = np.vectorize(math.erf)
    rising = np.stack([30 + 100 * (1 + erf(t / (s * math.sqrt(2)))) for s in (1.0, 2.0, 3.0)])
    widths = rise_widths(np.concatenate([rising, rising[::-1, ::-1], np.full((1, t.size), 99.0)]))
    assert widths[:3] == pytest.approx([2.563, 5.126, 7.689], rel=0.03)
    assert widths[3:6] == pytest.approx(widths[2::-1])  # a falling edge measures as a rising one
    assert np.isnan(widths[6])  # no edge


def test_worksize_edges_found_and_measured_in_an_image():
    import numpy as np
    import pytest

    from benchmarks.worksize import edge_measures, edge_points

    measured = {}
    for angle in (0.0, 0.4, 2.0):
        for sigma in (1.0, 2.0):
            image, distance = blurred_edge(sigma, angle)
            points, normals = edge_points(image)
            assert len(points) >= 5
            on_edge = distance[points[:, 1].round().astype(int), points[:, 0].round().astype(int)]
            assert np.abs(on_edge).max() <= 1.0  # at the edge, not on its flank
            measured[angle, sigma] = edge_measures(image, points, normals)
    for angle in (0.0, 0.4, 2.0):
        sharp, soft = measured[angle, 1.0], measured[angle, 2.0]
        # pixel sampling and bilinear profiles add a little to the analytic width
        assert sharp[0] == pytest.approx(2.563, rel=0.15) and soft[0] == pytest.approx(5.126, rel=0.06)
        assert sharp[0] < soft[0] and sharp[1] < 0.5 and soft[1] < 0.5  # no overshoot in a clean edge


def test_worksize_overshoot_sees_a_halo_along_the_edges():
    import numpy as np

    from benchmarks.worksize import edge_measures, edge_points

    image, distance = blurred_edge(2.0)
    points, normals = edge_points(image)
    halo = image + 20 * np.exp(-(distance - 3) ** 2 / 2)  # a bright rim 3 px out on the bright side
    # about 9.6 levels above the plateau in each profile: the erf is 12 below it there
    assert 7 < edge_measures(halo.astype(np.float32), points, normals)[1] < 11


def test_worksize_crop_lands_on_the_detail_and_frames_are_16_9():
    import numpy as np
    from PIL import Image

    from benchmarks.worksize import detail_crop, enlargement, hd_frame

    gray = np.full((540, 960), 100, np.float32)
    gray[300:420, 600:720] = np.random.default_rng(0).uniform(0, 255, (120, 120))
    x, y = detail_crop(gray, size=240)
    assert x <= 600 and x + 240 >= 720 and y <= 300 and y + 240 >= 420
    assert hd_frame(Image.new("RGB", (300, 200))).shape == (1080, 1920, 3)
    assert abs(enlargement((1080, 1080)) - 1920 / 1080) < 1e-9 and enlargement((1280, 720)) == 1.5


def test_learn_goal_needs_the_content_the_style_and_the_peer_beaten():
    from benchmarks.learn import Result

    def result(ours, peer=(1.0, 0.10)):
        return Result("painting", 300.0, ours, (1.0, 0.02), peer, (20.0, 20.0))

    assert result((0.80, 0.06)).meets_goal
    assert not result((0.79, 0.05)).meets_goal  # repaints less than 0.8x Gatys
    assert not result((0.90, 0.061)).meets_goal  # more than 3x Gatys's style loss
    assert not result((0.90, 0.05), peer=(1.0, 0.05)).meets_goal  # not below the peer
    assert "| painting | 5.0 | **0.800 / 0.060** |" in result((0.80, 0.06)).markdown()


def test_temporal_styles_table_keeps_the_rows_this_run_did_not_measure(tmp_path, monkeypatch):
    from benchmarks import temporal

    head = "| style | fast net | cut |\n|---|---|---|"
    old = f"<!-- temporal_styles:start -->\n## T\n\n{head}\n| candy | a | 70% |\n| mosaic | b | 69% |\n\nold text\n\n" \
          "_Measured 2026-01-01 on: x._\n<!-- temporal_styles:end -->\n"
    (tmp_path / "BENCHMARKS.md").write_text(old)
    monkeypatch.setattr(temporal, "BENCHMARKS_MD", tmp_path / "BENCHMARKS.md")
    merged = temporal.with_earlier_rows(f"{head}\n| mosaic | c | 71% |\n| wave | d | 55% |\n\nnew text")
    assert merged == f"{head}\n| candy | a | 70% |\n| mosaic | c | 71% |\n| wave | d | 55% |\n\nnew text"


def test_quality_report_keeps_the_rows_of_styles_this_run_did_not_measure(tmp_path, monkeypatch):
    from benchmarks import quality

    readme = tmp_path / "README.md"
    readme.write_text(f"<!-- quality:start -->\nintro\n\n{quality.HEADER}\n| candy | `a` | 1 |\n| udnie | `b` | 2 |\n"
                      "| udnie | `c` | 3 |\n| wave | `d` | 4 |\n\n_Machine: x._\n<!-- quality:end -->\n")
    monkeypatch.setattr(quality, "MODELS_README", readme)
    merged = quality.with_earlier_rows(f"{quality.HEADER}\n| udnie | `e` | 5 |\n| the_scream | `f` | 6 |",
                                       {"udnie", "the_scream"})
    assert merged.splitlines()[2:] == ["| candy | `a` | 1 |", "| the_scream | `f` | 6 |", "| udnie | `e` | 5 |",
                                       "| wave | `d` | 4 |"]


def test_edge_blur_calibration_rule():
    """The largest edge blur that paints no farther from the painting (style_ratio at both
    sizes), repaints at least 0.9x as much (content_rel) and adds no halo (overshoot)."""
    from benchmarks.worksize import choose_edge_blur

    def row(style_hd=0.8, style_512=0.3, content_512=1.5, overshoot=1.0):
        return {"style_hd": style_hd, "style_512": style_512, "content_512": content_512, "overshoot": overshoot}

    rows = {0.0: row(), 0.5: row(style_hd=0.7, style_512=0.25), 1.0: row(style_hd=0.6, style_512=0.2)}
    assert choose_edge_blur(rows, input_overshoot=2.0) == 1.0
    assert choose_edge_blur(rows | {2.0: row(style_512=0.31)}, 2.0) == 1.0  # farther from the painting at 512 px
    assert choose_edge_blur(rows | {2.0: row(style_hd=0.81)}, 2.0) == 1.0  # ... or at 1080p
    assert choose_edge_blur(rows | {2.0: row(content_512=1.3)}, 2.0) == 1.0  # repaints less
    assert choose_edge_blur(rows | {2.0: row(overshoot=3.1)}, 2.0) == 1.0  # a halo beyond the input's own
    assert choose_edge_blur(rows | {2.0: row(overshoot=3.0, content_512=1.35)}, 2.0) == 2.0
    assert choose_edge_blur({0.0: row(), 1.0: row(style_512=0.4)}, 2.0) == 0.0  # none better: plain


def test_guide_radius_calibration_rule():
    """At the chosen edge blur: the radius with the sharpest edges among those that keep the
    painting by the edge blur's test (against edge blur 0 at the default radius)."""
    from benchmarks.worksize import choose_guide_radius
    from stylecam.upsample import RADIUS

    def row(rise=3.0, style_hd=0.6, style_512=0.2, content_512=1.5, overshoot=1.0):
        return {"rise": rise, "style_hd": style_hd, "style_512": style_512, "content_512": content_512,
                "overshoot": overshoot}

    base = row(style_hd=0.8, style_512=0.3)  # edge blur 0
    assert RADIUS == 3
    assert choose_guide_radius({3: row(), 2: row(rise=2.5)}, base, 2.0) == 2
    assert choose_guide_radius({3: row(), 2: row(rise=3.5)}, base, 2.0) == 3  # softer
    assert choose_guide_radius({3: row(), 2: row(rise=3.0)}, base, 2.0) == 3  # a tie keeps the default
    assert choose_guide_radius({3: row(), 2: row(rise=2.5, style_512=0.31)}, base, 2.0) == 3  # leaves the painting
    assert choose_guide_radius({3: row(), 2: row(rise=2.5, overshoot=3.5)}, base, 2.0) == 3  # a halo
    assert choose_guide_radius({3: row(style_hd=0.9)}, base, 2.0) == 3  # the default needs no test

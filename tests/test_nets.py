"""The nets' export form: the graph the exporter writes computes the trained net's function
exactly, with its full-resolution work moved to lower resolutions."""
from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from training.nets import PRESETS, ConditionalInstanceNorm, TransformerNet, export_form  # noqa: E402


def random_net(config) -> TransformerNet:
    """A net whose norms are not the identity, so every folded weight matters (and, without
    norms, whose convs keep the signal's scale)."""
    torch.manual_seed(0)
    net = TransformerNet(config).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.InstanceNorm2d, ConditionalInstanceNorm)) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if config.norm == "none" and isinstance(m, torch.nn.Conv2d):  # no norm rescales the signal
                m.weight.normal_(0, m.weight[0].numel() ** -0.5)
    return net


CASES = {name: PRESETS[name] for name in ("fast", "fast_up8", "fast_up8_encnorm", "fast_up8_nonorm", "johnson")} | {
    "fast_up8, three styles": replace(PRESETS["fast_up8"], styles=3),
    "johnson, zero padding": replace(PRESETS["johnson"], padding="zero"),
}


@pytest.mark.parametrize("name", CASES)
def test_export_form_is_the_same_function(name):
    config = CASES[name]
    net = random_net(config)
    fast = export_form(net)
    x = torch.rand(2, 3, 36, 52) * 255
    style = torch.softmax(torch.rand(2, config.styles), 1) if config.styles > 1 else None
    with torch.no_grad():
        want, got = net(x, style), fast(x, style)
    assert want.abs().max() > 50  # a real picture, not zeros
    assert (want - got).abs().max() < 5e-3
    if config.stem == "unshuffle":  # the unshuffle's copy is folded into the stem's conv
        assert not any(isinstance(m, torch.nn.PixelUnshuffle) for m in fast.modules())


def test_upsample_decoder_touches_full_resolution_only_at_its_last_shuffle():
    net = export_form(random_net(PRESETS["fast_up8"]))
    full = []
    hooks = [m.register_forward_hook(lambda m, i, o: full.append(type(m).__name__) if o.shape[-1] == 52 else None)
             for m in net.decoder.modules() if not list(m.children())]
    with torch.no_grad():
        net(torch.rand(1, 3, 36, 52) * 255)
    for h in hooks:
        h.remove()
    assert full == ["PixelShuffle"]


def test_a_net_without_norms_has_no_norm_layers_and_refuses_several_styles():
    net = export_form(random_net(PRESETS["fast_up8_nonorm"]))
    names = {type(m).__name__ for m in net.modules()}
    assert not names & {"InstanceNorm2d", "PhaseNorm", "ConditionalInstanceNorm"}
    with pytest.raises(ValueError, match="norms"):
        replace(PRESETS["fast_up8_nonorm"], styles=2)
    with pytest.raises(ValueError, match="unknown norm"):
        replace(PRESETS["fast_up8"], norm="batch")

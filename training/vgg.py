"""VGG16 loss network. The weights' input convention travels with the weights.

Two sources of ImageNet VGG16 weights are in use and they expect different inputs:
  caffe       - the original Oxford/Caffe release: BGR, 0..255, minus the mean pixel.
  torchvision - torchvision's retrained weights: RGB, 0..1, mean/std normalised.
`LossNetwork` always takes RGB in 0..255 and converts to what its weights expect.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

# relu layer name -> index in torchvision's vgg16().features
RELU_INDEX = {
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11, "relu3_2": 13,
    "relu3_3": 15, "relu4_1": 18, "relu4_2": 20, "relu4_3": 22,
}
_CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)


@dataclass(frozen=True)
class InputConvention:
    name: str
    bgr: bool
    scale: float  # multiply 0..255 input by this
    mean: tuple[float, float, float]  # in the weights' channel order and scale
    std: tuple[float, float, float]


CONVENTIONS = {
    "caffe": InputConvention("caffe", bgr=True, scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
    "torchvision": InputConvention("torchvision", bgr=False, scale=1 / 255,
                                   mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
}


class WeightsError(ValueError):
    """A weights file that is not a VGG16 conv1_1..conv4_3 state dict."""


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for c in _CHANNELS:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=False)]
            cin = c
    return nn.Sequential(*layers)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a VGG16 features state dict (torchvision indices), checked for shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"VGG weights not found: {path}") from None
    except Exception as exc:  # pickle / zip errors: not a torch weights file
        raise WeightsError(f"cannot read VGG weights {path}: {exc}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is not a state dict")
    state = {k.removeprefix("features."): v for k, v in state.items()}
    reference = _features().state_dict()
    missing = [k for k in reference if k not in state]
    if missing:
        raise WeightsError(f"{path} is not a VGG16 conv1_1..conv4_3 state dict (missing {missing[:3]})")
    for key, ref in reference.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise WeightsError(f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(ref.shape)}")
    return {k: state[k].float() for k in reference}


class LossNetwork(nn.Module):
    """Frozen VGG16 up to relu4_3 returning the requested relu activations."""

    def __init__(self, state: dict[str, torch.Tensor], convention: str, layers: Sequence[str]):
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown input convention {convention!r}")
        unknown = [name for name in layers if name not in RELU_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; choose from {list(RELU_INDEX)}")
        self.convention = CONVENTIONS[convention]
        self.layers = list(layers)
        last = max(RELU_INDEX[name] for name in self.layers)
        features = _features()
        features.load_state_dict(state)
        self.features = features[: last + 1]
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        c = self.convention
        self.register_buffer("mean", torch.tensor(c.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(c.std).view(1, 3, 1, 1))

    @classmethod
    def from_file(cls, path: str | Path, convention: str, layers: Sequence[str]) -> "LossNetwork":
        return cls(load_state_dict(path), convention, layers)

    @classmethod
    def from_torchvision(cls, layers: Sequence[str]) -> "LossNetwork":
        """torchvision's ImageNet weights (downloaded on first use). torchvision is optional."""
        try:
            from torchvision.models import VGG16_Weights, vgg16
        except Exception as exc:  # ImportError, or torchvision built for another torch
            raise WeightsError(f"torchvision is not usable ({exc}); pass --vgg-weights PATH") from None
        model = vgg16(weights=VGG16_Weights.IMAGENET1K_V1)
        state = {k: v for k, v in model.features.state_dict().items() if int(k.split(".")[0]) <= 21}
        return cls(state, "torchvision", layers)

    def normalize(self, rgb255: torch.Tensor) -> torch.Tensor:
        x = rgb255.flip(1) if self.convention.bgr else rgb255
        return (x * self.convention.scale - self.mean) / self.std

    def forward(self, rgb255: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Activations of `layers` (default: all of this net's); stops at the deepest one."""
        wanted = {RELU_INDEX[name]: name for name in (layers or self.layers)}
        last = max(wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(rgb255)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out

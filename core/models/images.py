"""Layers for image models: raw uint8 pixels in, scaled by the model itself; a small ResNet.

Image data trains as uint8 (a quarter of float32's memory on the device), so the model's first
layer, `Pixels`, turns a batch into floats in [-1, 1]. The same layer makes an exported model take
raw pixels (ONNX, `workbench serve`), and it accepts flat rows too, which is how the explainers
hand it images. Table data with pixel columns (the digits sample) arrives already scaled to [0, 1]
and starts with an Unflatten instead.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn


class Pixels(nn.Module):
    """(n, C, H, W) or flat (n, C*H*W) raw pixel values 0..255, any dtype -> float (n, C, H, W) in [-1, 1].

    An affine map of each value (x * scale + shift): DeepLIFT's rule for it is its own slope.
    """

    graph_safe = True  # device work only (core.training.graphed)
    scale = 2.0 / 255.0
    shift = -1.0

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = tuple(int(v) for v in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.shape).float()
        out = x * self.scale + self.shift
        if out.is_cuda:  # convolutions run faster in NHWC on tensor cores (untested here: no GPU)
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (through a 1x1 conv when the shape changes), then ReLU.

    Each ReLU is its own module and nothing is in-place: shap.DeepExplainer hooks every nonlinearity.
    """

    graph_safe = True

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


def input_layer(data_kind: str, shape: tuple[int, int, int]) -> nn.Module:
    """Raw pixels for image data; a reshape for a table's (already scaled) pixel columns."""
    return Pixels(shape) if data_kind == "image" else nn.Unflatten(1, shape)


def resnet(p: Mapping[str, Any], shape: tuple[int, int, int], n_outputs: int, data_kind: str) -> nn.Sequential:
    """A stem, one stage per entry of `blocks` (each stage after the first halves the image and doubles
    the width), global average pooling and a linear head."""
    channels, height, width = shape
    base = int(p["width"])
    layers: list[nn.Module] = [input_layer(data_kind, shape),
                               nn.Conv2d(channels, base, 3, padding=1, bias=False), nn.BatchNorm2d(base), nn.ReLU()]
    in_ch, side = base, min(height, width)
    for stage, n_blocks in enumerate(p["blocks"]):
        out_ch = base * 2 ** stage
        stride = 2 if stage > 0 and side >= 2 else 1
        side = math.ceil(side / stride)
        for b in range(n_blocks):
            layers.append(ResidualBlock(in_ch, out_ch, stride if b == 0 else 1))
            in_ch = out_ch
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if p["dropout"] > 0:
        layers.append(nn.Dropout(p["dropout"]))
    layers.append(nn.Linear(in_ch, n_outputs))
    return nn.Sequential(*layers)


__all__ = ["Pixels", "ResidualBlock", "input_layer", "resnet"]

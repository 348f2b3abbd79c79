"""A model's layers as boxes: what each is, the shape it takes and gives, its parameter count.

    network_layers(model, example) -> [LayerBox, ...]   a dry forward pass of `example` in eval mode
    network_dot(layers, ...)       -> Graphviz DOT text (st.graphviz_chart draws it in the browser)

The shapes come from running the real torch module once (forward hooks on the Sequential's layers),
so what the diagram says is what trains; the counts are each layer's own parameters, which add up to
sum(p.numel() for p in model.parameters()).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.models.images import Pixels, ResidualBlock
from core.models.sequence import ChannelsFirst, MeanAndLast, RecurrentEncoder

# layers that compute nothing a user tunes: drawn small
_PLAIN = (nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.Dropout, nn.Flatten, nn.Unflatten, ChannelsFirst, MeanAndLast,
          nn.MaxPool2d, nn.MaxPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d, Pixels)


@dataclass(frozen=True)
class LayerBox:
    index: int
    kind: str  # the torch class name
    detail: str  # its settings in words: "4 → 16", "3×3, 8 → 16", "hidden 32 × 2 layers"
    input_shape: tuple[int, ...]  # without the batch dimension
    output_shape: tuple[int, ...]
    parameters: int
    plain: bool  # an activation, a reshape, a pooling, dropout: drawn small

    @property
    def label(self) -> str:
        return f"{self.kind} {self.detail}".strip()


def network_layers(model: nn.Module, example: torch.Tensor) -> list[LayerBox]:
    """One box per layer of an nn.Sequential (a block such as a residual block or an LSTM is one box)."""
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    shapes: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def hook(index: int):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            shapes[index] = (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))
        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return [LayerBox(index=i, kind=type(layer).__name__, detail=_detail(layer), input_shape=shapes[i][0],
                     output_shape=shapes[i][1], parameters=sum(p.numel() for p in layer.parameters()),
                     plain=isinstance(layer, _PLAIN))
            for i, layer in enumerate(layers)]


def _detail(layer: nn.Module) -> str:
    if isinstance(layer, nn.Linear):
        return f"{layer.in_features} → {layer.out_features}"
    if isinstance(layer, (nn.Conv2d, nn.Conv1d)):
        size = "×".join(str(k) for k in layer.kernel_size)
        stride = f", stride {layer.stride[0]}" if layer.stride[0] != 1 else ""
        return f"{size}, {layer.in_channels} → {layer.out_channels}{stride}"
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return f"{layer.num_features}"
    if isinstance(layer, nn.Dropout):
        return f"p={layer.p:g}"
    if isinstance(layer, RecurrentEncoder):
        rnn = layer.rnn
        both = ", both directions" if rnn.bidirectional else ""
        return f"({layer.cell.upper()}) hidden {rnn.hidden_size} × {rnn.num_layers} layer{'s' if rnn.num_layers > 1 else ''}{both}"
    if isinstance(layer, ResidualBlock):
        stride = f", stride {layer.conv1.stride[0]}" if layer.conv1.stride[0] != 1 else ""
        return f"{layer.conv1.in_channels} → {layer.conv1.out_channels}{stride}"
    if isinstance(layer, Pixels):
        return "0-255 → [-1, 1]"
    if isinstance(layer, nn.MaxPool2d):
        return f"{layer.kernel_size}"
    return ""


def shape_text(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape) if shape else "1"


def network_dot(layers: list[LayerBox], input_words: str, output_words: str) -> str:
    """Top-to-bottom boxes: the input, each layer (name, shape out, parameters), the output."""
    total = sum(layer.parameters for layer in layers)
    lines = ["digraph network {", '  graph [rankdir=TB, nodesep=0.25, ranksep=0.22, bgcolor="transparent"];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, '
             'fillcolor="#e8f0fb", color="#1f77b4"];', '  edge [color="#7f7f7f", arrowsize=0.6];',
             f'  input [label="{_esc(input_words)}", fillcolor="#f3f3f3", color="#9e9e9e"];']
    for layer in layers:
        if layer.plain:
            reshaped = f" → {shape_text(layer.output_shape)}" if layer.output_shape != layer.input_shape else ""
            lines.append(f'  l{layer.index} [label="{_esc(layer.label + reshaped)}", shape=box, style="rounded", fontsize=9, '
                         f'color="#b0b0b0", height=0.25];')
        else:
            label = (f"<<b>{_html(layer.label)}</b><br/><font point-size=\"9\">out {_html(shape_text(layer.output_shape))}"
                     f" · {layer.parameters:,} parameters</font>>")
            lines.append(f"  l{layer.index} [label={label}];")
    lines.append(f'  output [label="{_esc(output_words)}\\n{total:,} parameters in all", fillcolor="#fdecea", '
                 'color="#d62728"];')
    chain = ["input", *[f"l{layer.index}" for layer in layers], "output"]
    lines += [f"  {a} -> {b};" for a, b in zip(chain, chain[1:])]
    lines.append("}")
    return "\n".join(lines)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["LayerBox", "network_layers", "network_dot", "shape_text"]

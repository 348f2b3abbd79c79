"""The sequence models: RNN, LSTM, GRU and a 1D convolutional network.

Each takes a float32 batch (n, steps, channels), steps oldest first, and returns raw outputs like the
table models (one value or logit, or K logits). They are `nn.Sequential`s too, so the trainer, the
export and the weight files treat them as any other model; only their first layers read a sequence.
Both read any number of steps: the window length is the data's, not the model's.

On a CUDA device nn.RNN/LSTM/GRU run cuDNN's fused kernels (torch picks them for contiguous float
inputs when torch.backends.cudnn is enabled); nothing here selects a slower path.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentEncoder(nn.Module):
    """A stack of recurrent layers read to the window's end; returns the last hidden state (n, width).

    Bidirectional: the forward direction's state after the last step joined to the backward
    direction's state after the first step, each having read the whole window.
    """

    def __init__(self, cell: str, n_inputs: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.cell, self.hidden_size, self.bidirectional = cell, hidden_size, bidirectional
        self.rnn = _CELLS[cell](n_inputs, hidden_size, num_layers=num_layers, batch_first=True,
                                bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)

    @property
    def width(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (n, steps, hidden * directions)
        if not self.bidirectional:
            return out[:, -1]
        h = self.hidden_size
        return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=1)


class ChannelsFirst(nn.Module):
    """(n, steps, channels) -> (n, channels, steps), as Conv1d reads it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class MeanAndLast(nn.Module):
    """Pools (n, channels, steps) to (n, 2 * channels): the mean over all steps, which finds a pattern
    wherever it is, beside the last step's features, which a forecast leans on most."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=2), x[:, :, -1]], dim=1)


def recurrent(kind: str, p: Mapping[str, Any], n_inputs: int, n_outputs: int) -> nn.Sequential:
    encoder = RecurrentEncoder(kind, n_inputs, p["hidden_size"], p["num_layers"], p["bidirectional"], p["dropout"])
    layers: list[nn.Module] = [encoder]
    if p["dropout"] > 0:
        layers.append(nn.Dropout(p["dropout"]))
    layers.append(nn.Linear(encoder.width, n_outputs))
    return nn.Sequential(*layers)


def cnn1d(p: Mapping[str, Any], n_inputs: int, n_outputs: int) -> nn.Sequential:
    kernel = p["kernel_size"]
    layers: list[nn.Module] = [ChannelsFirst()]
    channels = n_inputs
    for out_channels in p["channels"]:
        # odd kernel, padding k//2: every layer keeps the number of steps, so the last step stays the latest
        layers.append(nn.Conv1d(channels, out_channels, kernel, padding=kernel // 2, bias=not p["batch_norm"]))
        if p["batch_norm"]:
            layers.append(nn.BatchNorm1d(out_channels))
        layers.append(nn.ReLU())
        channels = out_channels
    layers.append(MeanAndLast())
    if p["dropout"] > 0:
        layers.append(nn.Dropout(p["dropout"]))
    layers.append(nn.Linear(2 * channels, n_outputs))
    return nn.Sequential(*layers)


def recurrent_layers(model: nn.Module) -> list[nn.RNNBase]:
    return [m for m in model.modules() if isinstance(m, nn.RNNBase)]


__all__ = ["RecurrentEncoder", "ChannelsFirst", "MeanAndLast", "recurrent", "cnn1d", "recurrent_layers"]

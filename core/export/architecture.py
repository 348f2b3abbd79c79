"""Describe an nn.Sequential as plain JSON layers, so a script without Workbench can rebuild it.

The standalone predict.py only knows torch: it cannot call the model zoo. Writing the
layers that the zoo actually built (type + constructor arguments, in order) keeps the
script independent of how the zoo chooses them, and the safetensors keys ("0.weight",
"3.running_mean", ...) line up with the rebuilt Sequential's indices.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from core.errors import WorkbenchError
from core.models.sequence import ChannelsFirst, MeanAndLast, RecurrentEncoder

# layer type -> the constructor arguments that fully describe it (read back from the module)
_ARGS: dict[type[nn.Module], tuple[str, ...]] = {
    nn.Linear: ("in_features", "out_features"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.ReLU: (),
    nn.Tanh: (),
    nn.SiLU: (),
    nn.GELU: ("approximate",),
    nn.Dropout: ("p",),
    nn.Unflatten: ("dim", "unflattened_size"),
    nn.Flatten: ("start_dim", "end_dim"),
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                "padding_mode"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.Conv1d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                "padding_mode"),
    ChannelsFirst: (),
    MeanAndLast: (),
}
_HAS_BIAS = (nn.Linear, nn.Conv2d, nn.Conv1d)


def _recurrent_args(layer: RecurrentEncoder) -> dict[str, Any]:
    rnn = layer.rnn
    return {"cell": layer.cell, "n_inputs": rnn.input_size, "hidden_size": rnn.hidden_size,
            "num_layers": rnn.num_layers, "bidirectional": rnn.bidirectional, "dropout": rnn.dropout}


def describe_layers(model: nn.Module) -> list[dict[str, Any]]:
    """[{"type": "Linear", "args": {...}}, ...] for every layer of an nn.Sequential of standard layers."""
    if not isinstance(model, nn.Sequential):
        raise WorkbenchError(f"only nn.Sequential models can be exported, not {type(model).__name__}")
    layers = []
    for index, layer in enumerate(model):
        if type(layer) is RecurrentEncoder:
            layers.append({"type": "RecurrentEncoder", "args": _recurrent_args(layer)})
            continue
        names = _ARGS.get(type(layer))
        if names is None:
            raise WorkbenchError(f"layer {index} ({type(layer).__name__}) cannot be described for the "
                                 "standalone predict.py")
        args = {name: _plain(getattr(layer, name)) for name in names}
        if isinstance(layer, _HAS_BIAS):
            args["bias"] = layer.bias is not None
        layers.append({"type": type(layer).__name__, "args": args})
    return layers


def _plain(value: Any) -> Any:
    # tuples (kernel sizes, shapes) become lists in JSON; predict.py turns them back into tuples
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value

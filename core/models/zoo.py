"""Build the torch module for a model kind.

Every model is an `nn.Sequential` taking a batch as the data kind gives it: flat float32
(n, n_features) rows for a table, raw uint8 (n, C, H, W) pixels for images (whose first
layer, core.models.images.Pixels, scales them and also takes flat rows, as the explainers
send them). The batched DeepLIFT-SHAP and the ONNX export walk the layers in order; the CNN
on a table of pixel columns (the digits) unflattens to its image inside the Sequential; the
sequence models (core.models.sequence) take float32 (n, steps, channels).
Activations are modules (not functional calls) and nothing is in-place, which DeepLIFT needs.
Outputs are raw: one value or logit for regression/binary, K logits for
multiclass; the loss applies the sigmoid/softmax.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from torch import nn

from core.errors import ConfigError
from core.models.images import input_layer, resnet
from core.models.sequence import cnn1d, recurrent
from core.models.spec import resolve_params
from core.vocab import LINEAR_KINDS, RECURRENT_KINDS, check_task

_ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


def output_size(task: str, n_classes: int | None = None) -> int:
    """Width of the model's output: 1 for regression and binary (one logit), K for multiclass."""
    if check_task(task) != "multiclass":
        return 1
    if n_classes is None or n_classes < 2:
        raise ConfigError(f"a multiclass target needs at least 2 classes, got {n_classes}")
    return int(n_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(
    kind: str,
    params: Mapping[str, Any] | None,
    n_features: int,
    n_outputs: int,
    image_shape: tuple[int, ...] | None = None,
    data_kind: str = "table",
) -> nn.Sequential:
    """A freshly initialised model; call torch.manual_seed first for a reproducible init.
    `data_kind` (core.vocab.DATA_KINDS) says how the batches come: see the module's docstring."""
    resolved = resolve_params(kind, params)
    if n_features < 1:
        raise ConfigError(f"the model needs at least one input feature, got {n_features}")
    if n_outputs < 1:
        raise ConfigError(f"the model needs at least one output, got {n_outputs}")
    if kind in LINEAR_KINDS:
        # Same layer for both: the task's loss (MSE, BCE-with-logits, cross
        # entropy) is what makes it a linear or a logistic/softmax regression.
        model = nn.Sequential(nn.Linear(n_features, n_outputs))
        # The penalty on the summed loss, times |W|^2, that the trainer adds (divided by the training rows,
        # as its loss is a mean): alpha |w|^2 for Ridge, |w|^2 / 2C for LogisticRegression (no intercept).
        model.weight_penalty = float(resolved["l2"]) * (0.5 if kind == "logistic" else 1.0)
        return model
    if kind == "mlp":
        return _mlp(resolved, n_features, n_outputs)
    if kind == "cnn":
        return _cnn(resolved, n_features, n_outputs, image_shape, data_kind)
    if kind == "resnet":
        return resnet(resolved, _chw(image_shape, n_features), n_outputs, data_kind)
    # sequence models: n_features is the number of input columns (channels) per step
    if kind in RECURRENT_KINDS:
        return recurrent(kind, resolved, n_features, n_outputs)
    if kind == "cnn1d":
        return cnn1d(resolved, n_features, n_outputs)
    raise AssertionError(f"model kind {kind!r} has a spec but no builder")


def _mlp(p: Mapping[str, Any], n_features: int, n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_features
    for size in p["hidden_sizes"]:
        # A bias right before batch norm is cancelled by its mean subtraction.
        layers.append(nn.Linear(width, size, bias=not p["batch_norm"]))
        if p["batch_norm"]:
            layers.append(nn.BatchNorm1d(size))
        layers.append(_ACTIVATION_LAYERS[p["activation"]]())
        if p["dropout"] > 0:
            layers.append(nn.Dropout(p["dropout"]))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def _cnn(
    p: Mapping[str, Any], n_features: int, n_outputs: int, image_shape: tuple[int, ...] | None, data_kind: str
) -> nn.Sequential:
    channels, height, width = _chw(image_shape, n_features)
    kernel = p["kernel_size"]
    layers: list[nn.Module] = [input_layer(data_kind, (channels, height, width))]
    for out_channels in p["channels"]:
        # Odd kernel with padding k//2 keeps H and W, so only pooling shrinks them.
        layers.append(nn.Conv2d(channels, out_channels, kernel, padding=kernel // 2, bias=not p["batch_norm"]))
        if p["batch_norm"]:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        # Stop pooling once the image is a single row or column: pooling a
        # 1-pixel side would leave nothing, and deep stacks on small images
        # (8x8 digits with 5 layers) should still build.
        if height >= 2 and width >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        channels = out_channels
    if p["global_pool"]:
        layers.append(nn.AdaptiveAvgPool2d(1))
        height = width = 1
    layers += [nn.Flatten(), nn.Linear(channels * height * width, p["hidden"]), nn.ReLU()]
    if p["dropout"] > 0:
        layers.append(nn.Dropout(p["dropout"]))
    layers.append(nn.Linear(p["hidden"], n_outputs))
    return nn.Sequential(*layers)


def _chw(image_shape: tuple[int, ...] | None, n_features: int) -> tuple[int, int, int]:
    if image_shape is None:
        raise ConfigError("the CNN needs image data: this dataset has no image shape; pick another model")
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:  # (H, W): a single grey channel
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"image shape must be (channels, height, width), got {tuple(image_shape)}")
    if math.prod(shape) != n_features:
        raise ConfigError(
            f"image shape {shape} holds {math.prod(shape)} values but the data has {n_features} features"
        )
    return shape  # type: ignore[return-value]


__all__ = ["build_model", "count_parameters", "output_size"]

"""Model construction: output shapes per task, CNN reshaping, layers DeepLIFT/ONNX can walk."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import ConfigError
from core.models import MODEL_KINDS, build_model, count_parameters, output_size
from core.models.images import Pixels, ResidualBlock
from core.vocab import SEQUENCE_KINDS

N_FEATURES = 64  # an 8x8 grey image, so the CNN can share every case
IMAGE = (1, 8, 8)
ALLOWED_LAYERS = (
    nn.Linear, nn.Conv2d, nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.BatchNorm1d, nn.BatchNorm2d,
    nn.Dropout, nn.MaxPool2d, nn.Flatten, nn.Unflatten, nn.AdaptiveAvgPool2d, Pixels, ResidualBlock,
)
CASES = [
    (kind, task) for kind, info in MODEL_KINDS.items() for task in info.tasks if kind not in SEQUENCE_KINDS
]
TABLE_KINDS = [kind for kind in MODEL_KINDS if kind not in SEQUENCE_KINDS]  # tests/test_models_sequence.py has the rest


@pytest.mark.parametrize(("kind", "task"), CASES)
def test_every_kind_gives_the_documented_output_shape(kind, task):
    torch.manual_seed(0)
    n_out = output_size(task, 5 if task == "multiclass" else 2)
    model = build_model(kind, {}, N_FEATURES, n_out, IMAGE)
    x = torch.randn(7, N_FEATURES)
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (7, 5 if task == "multiclass" else 1)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("kind", TABLE_KINDS)
def test_models_are_sequentials_of_standard_non_inplace_layers(kind):
    params = {"batch_norm": True, "dropout": 0.2} if kind in ("mlp", "cnn") else {}
    model = build_model(kind, params, N_FEATURES, 3, IMAGE)
    assert isinstance(model, nn.Sequential)
    for layer in model:
        assert isinstance(layer, ALLOWED_LAYERS), type(layer)
    assert not any(getattr(layer, "inplace", False) for layer in model.modules())


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "silu"])
def test_mlp_layers_follow_params(activation):
    model = build_model(
        "mlp", {"hidden_sizes": [32, 16], "activation": activation, "dropout": 0.3, "batch_norm": True}, 10, 1
    )
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 32), (32, 16), (16, 1)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model) == 2
    assert sum(isinstance(m, nn.Dropout) for m in model) == 2
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}[activation]
    assert sum(isinstance(m, act) for m in model) == 2


def test_cnn_on_8x8_digits_trains_a_step():
    torch.manual_seed(0)
    model = build_model("cnn", {"channels": [4, 8], "kernel_size": 5}, 64, 10, (8, 8))
    assert isinstance(model[0], nn.Unflatten)
    x, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_deep_cnn_on_a_small_image_stops_pooling():
    model = build_model("cnn", {"channels": [4] * 5}, 64, 1, IMAGE)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 3  # 8 -> 4 -> 2 -> 1
    assert model(torch.randn(2, 64)).shape == (2, 1)


def test_cnn_with_colour_channels():
    model = build_model("cnn", {}, 3 * 6 * 5, 4, (3, 6, 5))
    assert model(torch.randn(2, 90)).shape == (2, 4)


def test_cnn_needs_a_matching_image_shape():
    with pytest.raises(ConfigError, match="image"):
        build_model("cnn", {}, 64, 1, None)
    with pytest.raises(ConfigError, match="64 values but the data has 63"):
        build_model("cnn", {}, 63, 1, (8, 8))
    with pytest.raises(ConfigError, match="channels, height, width"):
        build_model("cnn", {}, 64, 1, (64,))


def test_build_checks_params_and_sizes():
    with pytest.raises(ConfigError, match="dropout"):
        build_model("mlp", {"dropout": 2}, 4, 1)
    with pytest.raises(ConfigError):
        build_model("linear", {}, 0, 1)
    with pytest.raises(ConfigError):
        build_model("linear", {}, 4, 0)


def test_init_is_deterministic_under_manual_seed():
    def weights() -> list[torch.Tensor]:
        torch.manual_seed(123)
        return [p.detach().clone() for p in build_model("cnn", {}, 64, 3, IMAGE).parameters()]

    assert all(torch.equal(a, b) for a, b in zip(weights(), weights(), strict=True))


def test_count_parameters_and_output_size():
    assert count_parameters(build_model("linear", {}, 10, 1)) == 11
    assert count_parameters(build_model("mlp", {"hidden_sizes": [4]}, 3, 2)) == (3 * 4 + 4) + (4 * 2 + 2)
    assert output_size("regression", None) == 1
    assert output_size("binary", 2) == 1
    assert output_size("multiclass", 7) == 7
    with pytest.raises(ConfigError):
        output_size("multiclass", 1)
    with pytest.raises(ConfigError):
        output_size("ordinal", 3)

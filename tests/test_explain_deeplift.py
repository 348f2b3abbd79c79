"""The batched DeepLIFT-SHAP equals shap.DeepExplainer and is exactly additive, on the zoo's own models."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from core.explain.deeplift import deeplift_shap, supports
from core.models import build_model


def _eval_model(kind: str, params: dict, n_in: int, n_out: int, image=None, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = build_model(kind, params, n_in, n_out, image)
    for module in model.modules():  # trained-looking batch-norm statistics, not the identity
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _shap_deep(model: nn.Module, x: torch.Tensor, bg: torch.Tensor) -> np.ndarray:
    import shap
    from shap.explainers._deep import deep_pytorch

    # shap 0.51 lacks these two: SiLU is an elementwise nonlinearity, Unflatten a reshape
    deep_pytorch.op_handler.setdefault("SiLU", deep_pytorch.nonlinear_1d)
    deep_pytorch.op_handler.setdefault("Unflatten", deep_pytorch.passthrough)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = shap.DeepExplainer(model, bg).shap_values(x)
    return np.asarray(values).reshape(len(x), x.shape[1], -1)


MLPS = {
    "relu": {"hidden_sizes": [16, 8]},
    "relu-batchnorm": {"hidden_sizes": [16, 8], "batch_norm": True, "dropout": 0.2},
    "gelu": {"hidden_sizes": [12], "activation": "gelu"},
    "tanh": {"hidden_sizes": [12], "activation": "tanh"},
    "silu-batchnorm": {"hidden_sizes": [12, 6], "activation": "silu", "batch_norm": True},
}


@pytest.mark.parametrize("name", list(MLPS))
def test_mlp_matches_shap_deep_explainer(name: str) -> None:
    model = _eval_model("mlp", MLPS[name], 6, 3)
    g = torch.Generator().manual_seed(1)
    x, bg = torch.randn(8, 6, generator=g), torch.randn(20, 6, generator=g)
    values, base = deeplift_shap(model, x, bg)
    assert values.shape == (8, 6, 3)
    np.testing.assert_allclose(values, _shap_deep(model, x, bg), atol=1e-4)
    with torch.no_grad():
        out, expected = model(x).numpy(), model(bg).mean(0).numpy()
    np.testing.assert_allclose(base, expected, atol=1e-5)
    np.testing.assert_allclose(base + values.sum(axis=1), out, atol=1e-4)  # exactly additive


def test_cnn_matches_shap_deep_explainer_and_adds_up() -> None:
    model = _eval_model("cnn", {"channels": [4, 6], "hidden": 16, "batch_norm": True}, 64, 4, (1, 8, 8))
    g = torch.Generator().manual_seed(2)
    x, bg = torch.rand(4, 64, generator=g) * 3, torch.rand(10, 64, generator=g) * 3
    values, base = deeplift_shap(model, x, bg, max_elements=20_000)  # forces several row chunks
    np.testing.assert_allclose(values, _shap_deep(model, x, bg), atol=1e-4)
    with torch.no_grad():
        out = model(x).numpy()
    np.testing.assert_allclose(base + values.sum(axis=1), out, atol=1e-4)


def test_chunking_does_not_change_values() -> None:
    model = _eval_model("mlp", MLPS["relu"], 6, 3)
    g = torch.Generator().manual_seed(3)
    x, bg = torch.randn(9, 6, generator=g), torch.randn(7, 6, generator=g)
    whole, _ = deeplift_shap(model, x, bg)
    chunked, _ = deeplift_shap(model, x, bg, max_elements=1)
    np.testing.assert_allclose(whole, chunked, atol=1e-6)


def test_large_layers_use_the_layer_by_layer_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dense Jacobians (big images), the per-layer backward gives the same values."""
    import core.explain.deeplift as dl

    model = _eval_model("cnn", {"channels": [3], "hidden": 8, "batch_norm": True}, 64, 4, (1, 8, 8))
    g = torch.Generator().manual_seed(4)
    x, bg = torch.rand(3, 64, generator=g), torch.rand(6, 64, generator=g)
    dense, _ = deeplift_shap(model, x, bg)
    monkeypatch.setattr(dl, "DENSE_LIMIT", 0)
    layered, _ = deeplift_shap(model, x, bg)
    np.testing.assert_allclose(dense, layered, atol=1e-5)


def test_supports_only_known_layers() -> None:
    assert supports(_eval_model("mlp", MLPS["relu"], 4, 2))
    assert not supports(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 1)).eval())
    assert not supports(_eval_model("mlp", MLPS["relu"], 4, 2).train())  # dropout/batch norm must be in eval

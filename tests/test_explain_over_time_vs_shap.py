"""The importance snapshots compute SHAP in torch (a worker that imports shap pays 5-10 s); here
their values are checked against shap's own explainers on the same model, rows and background."""
from __future__ import annotations

import numpy as np
import pytest
import shap
import torch
from torch import nn

from core.runs import insight


def _data(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_linear_values_equal_shaps_linear_explainer() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3))
    X, bg = _data(40, 5, 1), _data(50, 5, 2)
    ours = insight._linear_values(model, X, bg)  # (n, d, K)
    weight = model[0].weight.detach().double().numpy()
    bias = model[0].bias.detach().double().numpy()
    for k in range(3):
        explainer = shap.LinearExplainer((weight[k], bias[k]), bg.astype(np.float64))
        np.testing.assert_allclose(ours[:, :, k], explainer.shap_values(X.astype(np.float64)), atol=1e-9)


def test_expected_gradients_agree_with_shaps_gradient_explainer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both are Monte Carlo estimates of the same expected gradients, so they agree within sampling
    noise: with many draws each, per-row values within a few percent of the values' scale, and the
    global importance (mean |SHAP| per column) ranks the columns the same."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)).eval()
    with torch.no_grad():  # make the columns matter unequally, so the ranking is a real check
        model[0].weight.mul_(torch.tensor([3.0, 1.0, 0.3, 0.05], dtype=torch.float32))
    X, bg = _data(12, 4, 3), _data(50, 4, 4)
    monkeypatch.setattr(insight, "PAIRS", 2000)
    ours = insight._expected_gradients(model, X, bg, torch.Generator().manual_seed(0), torch.device("cpu"))

    explainer = shap.GradientExplainer(model, torch.from_numpy(bg), batch_size=2000)
    theirs = explainer.shap_values(torch.from_numpy(X), nsamples=2000, rseed=0)
    theirs = np.stack(theirs, axis=-1) if isinstance(theirs, list) else np.asarray(theirs)
    assert theirs.shape == ours.shape

    scale = np.abs(theirs).mean()
    assert np.abs(ours - theirs).mean() < 0.05 * scale
    ours_rank = np.argsort(-np.abs(ours).mean(axis=(0, 2)))
    theirs_rank = np.argsort(-np.abs(theirs).mean(axis=(0, 2)))
    assert list(ours_rank) == list(theirs_rank) == [0, 1, 2, 3]
    # and both add up (in expectation) to the output minus the background's mean output
    with torch.no_grad():
        gap = (model(torch.from_numpy(X)) - model(torch.from_numpy(bg)).mean(0)).double().numpy()
    assert np.abs(ours.sum(axis=1) - gap).mean() < 0.05 * np.abs(gap).mean()

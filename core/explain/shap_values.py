"""SHAP values in the model's encoded input space, by the explainer that fits the model.

  linear / logistic      exact: phi_j = w_j (x_j - E[x_j]), as shap.LinearExplainer
  nets of zoo layers     batched DeepLIFT-SHAP (core.explain.deeplift), on the model's device
  other nets             shap.DeepExplainer
  probability space      shap.KernelExplainer on a k-means summary of the train split (model-agnostic;
                         shap.PermutationExplainer when asked for: exact sampling, but numba compiles
                         it for 15-20 s on first use in a process)

Every result passes the additivity check: base + sum of a row's values equals
the model's output for that row, within shap's own tolerance.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core.errors import WorkbenchError
from core.vocab import LINEAR_KINDS
from core.explain.context import RunContext
from core.explain.deeplift import deeplift_shap, supports

log = logging.getLogger(__name__)

EXPLAINERS = ("auto", "linear", "deeplift", "deep", "permutation", "kernel")
TOLERANCE = 1e-2  # shap's additivity tolerance (shap/explainers/_deep/deep_utils.py), in raw output units
KMEANS_K = 20
AGNOSTIC_CHUNK = 10  # rows per call, so long agnostic work reports progress

Progress = Callable[[float, str], None]


@dataclass
class RawShap:
    values: np.ndarray  # (n, d, K) per encoded input, in the output space
    base: np.ndarray  # (K,)
    outputs: np.ndarray  # (n, K) the model's outputs in the same space
    explainer: str  # the explainer that produced them
    max_additivity_error: float  # in the output space
    references: int  # background rows (or k-means centres) compared against


def choose_explainer(ctx: RunContext, space: str, requested: str = "auto") -> str:
    """The explainer for this model and output space; an impossible request is a clear error."""
    if requested not in EXPLAINERS:
        raise WorkbenchError(f"unknown explainer '{requested}'; choose one of {', '.join(EXPLAINERS)}")
    linear_model = ctx.model_kind in LINEAR_KINDS
    if requested == "auto":
        if space == "probability":
            return "kernel"
        if linear_model:
            return "linear"
        return "deeplift" if supports(ctx.trained.model) else "deep"
    if requested in ("linear", "deeplift", "deep") and space == "probability":
        raise WorkbenchError(f"the {requested} explainer explains logits, not probabilities: "
                             "use permutation or kernel for the probability space")
    if requested == "linear" and not linear_model:
        raise WorkbenchError(f"the exact linear explainer needs a linear or logistic model, not {ctx.model_kind}")
    if requested == "deeplift" and not supports(ctx.trained.model):
        raise WorkbenchError("this model has a layer the batched DeepLIFT does not know: use deep or kernel")
    return requested


def compute_shap(ctx: RunContext, rows: list[int], background_rows: np.ndarray, *, space: str,
                 explainer: str, nsamples: int = 200, seed: int = 0,
                 progress: Progress | None = None) -> RawShap:
    """SHAP values of every output for the rows, checked for additivity."""
    X = ctx.encode(rows)
    bg = ctx.encode(background_rows)
    started = time.perf_counter()
    if explainer in ("linear", "deeplift", "deep"):
        values, base, references = _raw_space(ctx, explainer, X, bg, progress)
        offset, factor = ctx.value_scale(space)  # raw -> target units for regression; identity otherwise
        values, base = values * factor, base * factor + offset
    else:
        values, base, references = _agnostic(ctx, explainer, X, bg, space, nsamples, seed, progress)
        factor = 1.0
    outputs = ctx.in_space(X, space)
    error = float(np.abs(base[None] + values.sum(axis=1) - outputs).max()) if len(X) else 0.0
    log.info("%s SHAP for %d rows in %.3f s, additivity error %.2e", explainer, len(X),
             time.perf_counter() - started, error)
    if not error <= TOLERANCE * factor:
        raise WorkbenchError(f"the {explainer} SHAP values do not add up to the model's output (off by {error:.3g}); "
                             "try another explainer")
    return RawShap(values, base, outputs, explainer, error, references)


def _raw_space(ctx: RunContext, explainer: str, X: np.ndarray, bg: np.ndarray,
               progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    model = ctx.trained.model
    assert isinstance(model, torch.nn.Sequential)  # every zoo model is one
    if explainer == "linear":
        # What shap.LinearExplainer computes with an independent masker, without importing shap:
        # phi_j = w_j (x_j - E[x_j]) over the background, exact, every output at once.
        layer = model[0]
        assert isinstance(layer, torch.nn.Linear)
        weight = layer.weight.detach().cpu().double().numpy()  # (K, d)
        bias = layer.bias.detach().cpu().double().numpy() if layer.bias is not None else np.zeros(len(weight))
        mean = bg.astype(np.float64).mean(axis=0)
        values = (X.astype(np.float64) - mean)[:, :, None] * weight.T[None]
        return values, weight @ mean + bias, len(bg)
    x_t, bg_t = torch.from_numpy(X), torch.from_numpy(bg)
    if explainer == "deeplift":
        values, base = deeplift_shap(model, x_t, bg_t, progress=progress)
        return values.astype(np.float64), base.astype(np.float64), len(bg)
    return (*_shap_deep(model, x_t, bg_t, progress), len(bg))


def _shap_deep(model: torch.nn.Module, x: torch.Tensor, bg: torch.Tensor,
               progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
    """shap.DeepExplainer, taught the zoo's SiLU and Unflatten; shap runs its own additivity check too."""
    import shap
    from shap.explainers._deep import deep_pytorch

    deep_pytorch.op_handler.setdefault("SiLU", deep_pytorch.nonlinear_1d)
    deep_pytorch.op_handler.setdefault("Unflatten", deep_pytorch.passthrough)
    device = next(model.parameters()).device
    explainer = shap.DeepExplainer(model, bg.to(device))
    parts = []
    for start in range(0, len(x), AGNOSTIC_CHUNK):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            part = explainer.shap_values(x[start:start + AGNOSTIC_CHUNK].to(device))
        parts.append(np.asarray(part, dtype=np.float64).reshape(min(AGNOSTIC_CHUNK, len(x) - start), x.shape[1], -1))
        if progress is not None:
            progress(min(1.0, (start + AGNOSTIC_CHUNK) / len(x)), "shap.DeepExplainer")
    values = np.concatenate(parts) if parts else np.zeros((0, x.shape[1], 1))
    return values, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)


def _agnostic(ctx: RunContext, explainer: str, X: np.ndarray, bg: np.ndarray, space: str, nsamples: int,
              seed: int, progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    import shap

    def f(Z: np.ndarray) -> np.ndarray:
        return ctx.in_space(np.asarray(Z, dtype=np.float32), space)

    if explainer == "kernel":
        summary = shap.kmeans(ctx.encode(ctx.split.train), min(KMEANS_K, len(ctx.split.train)))
        kernel = shap.KernelExplainer(f, summary)
        call = lambda part: np.asarray(kernel.shap_values(part, nsamples=nsamples, silent=True))  # noqa: E731
        base_of = lambda: np.asarray(kernel.expected_value, dtype=np.float64).reshape(-1)  # noqa: E731
        references = len(summary.data)
    else:
        perm = shap.PermutationExplainer(f, shap.maskers.Independent(bg, max_samples=len(bg)), seed=seed)
        max_evals = max(nsamples, 2 * X.shape[1] + 1)
        call = lambda part: perm(part, max_evals=max_evals, silent=True).values  # noqa: E731
        base_of = lambda: f(bg).mean(axis=0)  # noqa: E731 - the Independent masker's expectation
        references = len(bg)
    state = np.random.get_state()  # KernelExplainer samples with numpy's global generator
    np.random.seed(seed)
    try:
        parts = []
        for start in range(0, len(X), AGNOSTIC_CHUNK):
            part = X[start:start + AGNOSTIC_CHUNK]
            parts.append(np.asarray(call(part), dtype=np.float64).reshape(len(part), X.shape[1], -1))
            if progress is not None:
                progress(min(1.0, (start + len(part)) / len(X)), f"{explainer} SHAP")
    finally:
        np.random.set_state(state)
    values = np.concatenate(parts) if parts else np.zeros((0, X.shape[1], 1))
    return values, np.asarray(base_of(), dtype=np.float64).reshape(-1), references


__all__ = ["EXPLAINERS", "TOLERANCE", "RawShap", "choose_explainer", "compute_shap"]

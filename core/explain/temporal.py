"""Which steps and columns of a window a sequence model's answer rests on: integrated gradients.

DeepLIFT's rules (core.explain.deeplift) are written for the zoo's feed-forward layers; a recurrent
layer needs its gates' multipliers, which SHAP's DeepExplainer does not provide for nn.LSTM. Integrated
gradients (Sundararajan, Taly & Yan, 2017) needs only gradients, which autograd gives through any
layer: attribution = (x - x') * the mean gradient along the straight path from a reference x' to x.
Here x' is the all-zero window of scaled inputs, i.e. every step at the training average, and the path
integral is a 50-point Gauss-Legendre rule, as captum's IntegratedGradients computes it by default
(tests/test_explain_temporal.py checks the two agree). Completeness holds up to the rule's error:
the attributions of a window add up to f(x) - f(x'), and each explanation reports the largest gap.

Attributions are in the output's units: degrees for a forecast of degrees, logits for a classifier.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.data import Catalog
from core.errors import WorkbenchError
from core.explain import cache
from core.explain.rows import completed
from core.runs.prepare import prepare_data
from core.runs.store import RunStore
from core.runs.trained import TrainedModel

METHOD = "integrated gradients"
DEFAULT_EXAMPLES = 50
MAX_EXAMPLES = 1000
BATCH = 256


@dataclass(frozen=True)
class TemporalParams:
    examples: int = DEFAULT_EXAMPLES  # the first test examples (in time order for a forecast)
    steps: int = 50  # points of the path integral
    output: str | None = None  # a class label; None: each example's predicted class (the value, forecasting)


@dataclass
class TemporalExplanation:
    attributions: np.ndarray  # (examples, steps, channels), in the output's units
    step_labels: list[str]  # "t-13" .. "t", oldest first
    channels: list[str]
    examples: pd.DataFrame  # one row per example: series, time, actual, predicted, the output explained
    reference: np.ndarray  # f(x') per example: the answer for the all-average window
    completeness_gap: float  # max |sum of attributions - (f(x) - f(x'))|
    output_label: str
    method: str = METHOD
    seconds: float = 0.0

    def importance(self) -> np.ndarray:
        """(steps, channels): mean |attribution| over the examples, the heat map's cells."""
        return np.abs(self.attributions).mean(axis=0)

    def by_channel(self) -> pd.Series:
        return pd.Series(self.importance().sum(axis=0), index=self.channels).sort_values(ascending=False)

    def by_step(self) -> pd.Series:
        return pd.Series(self.importance().sum(axis=1), index=self.step_labels)


def integrated_gradients(model: nn.Module, X: torch.Tensor, target: torch.Tensor | None = None,
                         n_steps: int = 50) -> torch.Tensor:
    """Attributions of each input value to output `target` (per example; None: output 0), against the
    all-zero reference. Works for any differentiable model, recurrent layers included."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.as_tensor(0.5 * (nodes + 1.0), dtype=X.dtype, device=X.device)
    w = torch.as_tensor(0.5 * weights, dtype=X.dtype, device=X.device)
    index = torch.zeros(len(X), dtype=torch.long, device=X.device) if target is None else target.to(X.device)
    total = torch.zeros_like(X)
    with _gradients_anywhere(X.device):
        for alpha, weight in zip(alphas, w):
            point = (alpha * X).detach().requires_grad_(True)
            out = model(point).gather(1, index[:, None]).sum()
            (grad,) = torch.autograd.grad(out, point)
            total += weight * grad
    return X * total


class _gradients_anywhere:
    """cuDNN's RNN computes no backward in eval mode; torch's own kernels do, and give the same values."""

    def __init__(self, device: torch.device) -> None:
        self._flags = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else None

    def __enter__(self) -> None:
        if self._flags is not None:
            self._flags.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self._flags is not None:
            self._flags.__exit__(*exc)


def step_labels(window: int) -> list[str]:
    return [f"t-{window - 1 - i}" if i < window - 1 else "t" for i in range(window)]


def explain_sequences(store: RunStore, catalog: Catalog, run_id: str, params: TemporalParams = TemporalParams(),
                      *, use_cache: bool = True) -> TemporalExplanation:
    """Integrated gradients for the first test examples of a completed sequence run (cached)."""
    record = completed(store, run_id)
    run_id = record.run_id
    n = max(1, min(int(params.examples), MAX_EXAMPLES))
    key = cache.cache_key(run_id, "temporal", None, {**asdict(params), "examples": n})
    if use_cache and (hit := cache.load(store, run_id, key)) is not None:
        return _from_parts(*hit)
    run_dir = store.run_dir(run_id)
    trained = TrainedModel.load(run_dir, device="cpu")
    if trained.meta.get("data_kind") != "sequence" or trained.config.sequence is None:
        raise WorkbenchError(f"run {record.name or run_id} is not a sequence model: explain it with SHAP or LIME")
    started = time.perf_counter()
    prepared = prepare_data(trained.config, catalog)
    data = prepared.sequences
    assert data is not None
    X = torch.as_tensor(prepared.X["test"][:n])
    model = trained.model
    with torch.no_grad():
        outputs = model(X).float()
    classes = [str(c) for c in trained.schema.classes or []]
    target, label = _target(trained.task, classes, outputs, params.output)
    attributions = torch.cat([integrated_gradients(model, X[i:i + BATCH], target[i:i + BATCH], params.steps)
                              for i in range(0, len(X), BATCH)]).detach()
    with torch.no_grad():
        explained = outputs.gather(1, target[:, None])[:, 0]
        reference = model(torch.zeros_like(X[:1])).float().expand(len(X), -1).gather(1, target[:, None])[:, 0]
    scale = prepared.preprocessor.target_scale[1] if trained.task == "regression" else 1.0
    attr = attributions.numpy().astype(np.float64) * scale
    gap = float(np.abs(attr.sum(axis=(1, 2)) - (explained - reference).numpy() * scale).max()) if len(attr) else 0.0
    examples = pd.DataFrame({"series": data.keys["test"][:n]})
    if data.layout.mode == "forecast":
        examples["time"] = pd.to_datetime(data.times["test"][:n], unit="s").astype(str) \
            if data.layout.spacing and not data.layout.spacing.endswith("per step") else data.times["test"][:n]
        examples["actual"] = prepared.preprocessor.decode_target(prepared.y["test"][:n])
        examples["predicted"] = prepared.preprocessor.decode_target(outputs[:, 0].numpy())
        ref_out = prepared.preprocessor.decode_target(reference.numpy())
    else:
        examples["actual"] = prepared.preprocessor.decode_target(prepared.y["test"][:n]).astype(str)
        examples["predicted"] = np.asarray(classes, dtype=object)[outputs.argmax(dim=1).numpy()] \
            if trained.task == "multiclass" else np.asarray(classes, dtype=object)[(outputs[:, 0] > 0).long().numpy()]
        ref_out = reference.numpy()
    examples["explained"] = label if isinstance(label, str) else [label[i] for i in range(len(examples))]
    result = TemporalExplanation(attr, step_labels(data.layout.window), list(data.layout.channels), examples,
                                 np.asarray(ref_out, dtype=np.float64), gap,
                                 "the forecast" if trained.task == "regression" else
                                 (label if isinstance(label, str) else "each example's predicted class"),
                                 seconds=time.perf_counter() - started)
    if use_cache:
        cache.save(store, run_id, key, {"attributions": result.attributions, "reference": result.reference},
                   result.examples, {"step_labels": result.step_labels, "channels": result.channels,
                                     "completeness_gap": result.completeness_gap,
                                     "output_label": result.output_label, "method": result.method,
                                     "seconds": result.seconds})
    return result


def _target(task: str, classes: list[str], outputs: torch.Tensor, output: str | None) -> tuple[torch.Tensor, Any]:
    """Which output to explain per example, and its words: the value, a chosen class, or the predicted one.
    A binary model has one logit (for the second class): its attribution for the first class is minus it."""
    n = len(outputs)
    if task == "regression":
        return torch.zeros(n, dtype=torch.long), "the forecast"
    if task == "binary":
        if output is not None and output not in classes:
            raise WorkbenchError(f"no class {output!r}; the classes are {', '.join(classes)}")
        return torch.zeros(n, dtype=torch.long), f"the logit of '{classes[1]}' (against '{classes[0]}')"
    if output is not None:
        if output not in classes:
            raise WorkbenchError(f"no class {output!r}; the classes are {', '.join(classes)}")
        return torch.full((n,), classes.index(output), dtype=torch.long), output
    predicted = outputs.argmax(dim=1)
    return predicted, [classes[int(k)] for k in predicted]


def _from_parts(arrays: dict[str, np.ndarray], table: pd.DataFrame, meta: dict[str, Any]) -> TemporalExplanation:
    return TemporalExplanation(arrays["attributions"], list(meta["step_labels"]), list(meta["channels"]),
                               table.reset_index(drop=True), arrays["reference"], float(meta["completeness_gap"]),
                               str(meta["output_label"]), str(meta["method"]), float(meta.get("seconds", 0.0)))


__all__ = ["METHOD", "TemporalParams", "TemporalExplanation", "integrated_gradients", "step_labels",
           "explain_sequences"]

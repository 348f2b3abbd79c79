"""How long an explanation will take, told before it starts.

A tiny timed probe runs the same explainer on 1 and then 3 rows (nothing is
cached); the two timings give a fixed cost and a cost per row, and the
estimate is fixed + per_row * rows. Explainers that work on every output at
once (linear, DeepLIFT) cost the same per row whatever the number of outputs;
the agnostic ones pay per model evaluation, which the probe measures too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from core.explain.context import RunContext
from core.explain.lime_explain import lime_image, lime_tabular
from core.explain.service import LimeParams, ShapParams, resolve_space
from core.explain.shap_values import choose_explainer, compute_shap

PROBE_ROWS = (1, 3)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    fixed_s: float
    per_row_s: float
    explainer: str

    def text(self) -> str:
        if self.seconds < 1:
            return f"under a second ({self.explainer})"
        if self.seconds < 90:
            return f"about {self.seconds:.0f} s ({self.explainer})"
        return f"about {self.seconds / 60:.0f} min ({self.explainer})"


def estimate_shap(ctx: RunContext, n_rows: int, params: ShapParams = ShapParams()) -> Estimate:
    space = resolve_space(ctx, params.space)
    explainer = choose_explainer(ctx, space, params.explainer)
    background = ctx.background_rows(params.background, params.seed)
    probe = _probe_rows(ctx)

    def run(rows: list[int]) -> None:
        compute_shap(ctx, rows, background, space=space, explainer=explainer, nsamples=params.nsamples,
                     seed=params.seed)

    return _fit(run, probe, n_rows, explainer)


def estimate_lime(ctx: RunContext, n_rows: int, params: LimeParams = LimeParams()) -> Estimate:
    image = params.kind == "image" or (params.kind == "auto" and ctx.image_shape is not None)
    space = resolve_space(ctx, params.shap.space)
    explain_rows = lime_image if image else lime_tabular
    probe = _probe_rows(ctx)

    def run(rows: list[int]) -> None:
        explain_rows(ctx, rows, [0] * len(rows), space, num_samples=params.num_samples, seed=params.seed)

    lime = _fit(run, probe, n_rows, "lime_image" if image else "lime_tabular")
    shap = estimate_shap(ctx, n_rows, params.shap)
    return Estimate(lime.seconds + shap.seconds, lime.fixed_s + shap.fixed_s, lime.per_row_s + shap.per_row_s,
                    f"{lime.explainer} + {shap.explainer} SHAP")


def _probe_rows(ctx: RunContext) -> list[int]:
    test = sorted(int(r) for r in ctx.split.test) or list(range(min(3, len(ctx.frame))))
    return (test * PROBE_ROWS[-1])[: PROBE_ROWS[-1]]


def _fit(run: Callable[[list[int]], None], probe: list[int], n_rows: int, explainer: str) -> Estimate:
    timings = []
    for n in PROBE_ROWS:
        started = time.perf_counter()
        run(probe[:n])
        timings.append(time.perf_counter() - started)
    (n1, n2), (t1, t2) = PROBE_ROWS, timings
    per_row = max((t2 - t1) / (n2 - n1), t2 / n2 / 4, 0.0)  # timing noise must not make rows free
    fixed = max(t1 - per_row * n1, 0.0)
    return Estimate(fixed + per_row * n_rows, fixed, per_row, explainer)


__all__ = ["Estimate", "estimate_shap", "estimate_lime"]

"""Explain a run: SHAP, LIME and PDP/ICE, each answered from the cache when asked before.

    explain_shap(store, catalog, run_id, rows, ShapParams())  -> ShapExplanation
    explain_lime(store, catalog, run_id, rows, LimeParams())  -> LimeExplanation (with SHAP beside it)
    partial_dependence(store, catalog, run_id, PdpParams(column)) -> PartialDependence

A cache hit reads files only: no model, no data. Pass a loaded RunContext
(`context=`) to share one between calls (the page keeps one per run).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from core.data import Catalog
from core.errors import WorkbenchError
from core.explain import cache
from core.explain.context import RunContext, space_text
from core.explain.lime_explain import lime_image, lime_tabular, rank_agreement
from core.explain.pdp import GRID_POINTS, ice_curves
from core.explain.results import LimeExplanation, PartialDependence, ShapExplanation, group_columns
from core.explain.rows import test_rows
from core.explain.shap_values import choose_explainer, compute_shap
from core.runs.store import RunStore

log = logging.getLogger(__name__)

DEFAULT_ROWS = 100
DEFAULT_LIME_ROWS = 5
IMAGE_BACKGROUND = 20  # training images an image run's SHAP compares against (at most)
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ShapParams:
    explainer: str = "auto"  # auto | linear | deeplift | deep | permutation | kernel
    space: str | None = None  # None: logit for a classifier, value for a regressor; or probability
    background: int = 100  # training rows sampled as the reference
    nsamples: int = 200  # model evaluations per row for permutation / kernel
    seed: int = 0


@dataclass(frozen=True)
class LimeParams:
    num_samples: int = 1000
    output: str | None = None  # a class label; None: each row's predicted class
    kind: str = "auto"  # auto (image LIME for image data) | tabular | image
    top_k: int = 5  # features compared in the agreement
    seed: int = 0
    shap: ShapParams = field(default_factory=ShapParams)


@dataclass(frozen=True)
class PdpParams:
    column: str
    output: str | None = None  # a class label; None: the second class of a binary task, else the first
    points: int = GRID_POINTS
    max_rows: int = 100


def explain_shap(store: RunStore, catalog: Catalog, run_id: str, rows: list[int] | None = None,
                 params: ShapParams = ShapParams(), *, context: RunContext | None = None,
                 progress: Progress | None = None, use_cache: bool = True) -> ShapExplanation:
    run_id = store.get(run_id).run_id
    rows = [int(r) for r in rows] if rows is not None else test_rows(store, run_id, DEFAULT_ROWS)
    key = cache.cache_key(run_id, "shap", rows, asdict(params))
    if use_cache and (hit := cache.load(store, run_id, key)) is not None:
        return ShapExplanation.from_parts(*hit)
    ctx = context or RunContext.load(store, catalog, run_id)
    rows = ctx.check_rows(rows)
    space = resolve_space(ctx, params.space)
    explainer = choose_explainer(ctx, space, params.explainer)
    # an image has thousands of inputs: DeepLIFT's multipliers grow with references x activations
    background = ctx.background_rows(min(params.background, IMAGE_BACKGROUND) if ctx.data_kind == "image"
                                     else params.background, params.seed)
    started = time.perf_counter()
    warnings = list(ctx.warnings)
    try:
        raw = compute_shap(ctx, rows, background, space=space, explainer=explainer, nsamples=params.nsamples,
                           seed=params.seed, progress=progress)
    except Exception as exc:  # noqa: BLE001 - on auto, a failing library explainer falls back to an agnostic one
        if params.explainer != "auto" or explainer != "deep":
            raise
        log.warning("shap.DeepExplainer failed on run %s (%s); falling back to Kernel SHAP", run_id, exc)
        warnings.append(f"shap.DeepExplainer could not explain this model ({type(exc).__name__}); "
                        "used the model-agnostic Kernel SHAP instead")
        raw = compute_shap(ctx, rows, background, space=space, explainer="kernel",
                           nsamples=params.nsamples, seed=params.seed, progress=progress)
    labels = ctx.output_labels(space)
    result = ShapExplanation(
        run_id=run_id, key=key, explainer=raw.explainer, space=space, output_labels=labels,
        output_texts=[space_text(space, label, ctx.task) for label in labels], columns=ctx.columns,
        feature_names=ctx.feature_names, rows=rows, values=group_columns(raw.values, ctx.groups),
        encoded=raw.values, base=raw.base, outputs=raw.outputs, data=ctx.features(rows),
        seconds=time.perf_counter() - started, max_additivity_error=raw.max_additivity_error,
        params=asdict(params), background_rows=[int(r) for r in background], references=raw.references,
        task=ctx.task, image_shape=list(ctx.image_shape) if ctx.image_shape else None, warnings=warnings,
        data_kind=ctx.data_kind)
    cache.save(store, run_id, key, *result.to_parts())
    return result


def explain_lime(store: RunStore, catalog: Catalog, run_id: str, rows: list[int] | None = None,
                 params: LimeParams = LimeParams(), *, context: RunContext | None = None,
                 progress: Progress | None = None, use_cache: bool = True) -> LimeExplanation:
    run_id = store.get(run_id).run_id
    rows = [int(r) for r in rows] if rows is not None else test_rows(store, run_id, DEFAULT_LIME_ROWS)
    key = cache.cache_key(run_id, "lime", rows, asdict(params))
    if use_cache and (hit := cache.load(store, run_id, key)) is not None:
        return LimeExplanation.from_parts(*hit)
    ctx = context or RunContext.load(store, catalog, run_id)
    rows = ctx.check_rows(rows)
    started = time.perf_counter()
    shap = explain_shap(store, catalog, run_id, rows, params.shap, context=ctx, use_cache=use_cache,
                        progress=_part(progress, 0.0, 0.3))
    outputs = _lime_outputs(shap, params.output)
    image = params.kind == "image" or (params.kind == "auto" and ctx.image_shape is not None)
    if image and ctx.image_shape is None:
        raise WorkbenchError("image LIME needs image data; this run's data is a table")
    explain_rows = lime_image if image else lime_tabular
    found = explain_rows(ctx, rows, outputs, shap.space, num_samples=params.num_samples, seed=params.seed,
                         progress=_part(progress, 0.3, 1.0))
    shap_same = np.stack([shap.values[i, :, k] for i, k in enumerate(outputs)]) if rows else np.zeros((0, 0))
    agreement = [rank_agreement(shap_same[i], found.weights[i], params.top_k) for i in range(len(rows))]
    result = LimeExplanation(
        run_id=run_id, key=key, explainer="lime_image" if image else "lime_tabular", space=shap.space,
        output_labels=shap.output_labels, output_texts=shap.output_texts, columns=shap.columns, rows=rows,
        explained_output=outputs, weights=found.weights, intercept=found.intercept, score=found.score,
        prediction=found.prediction, rules=found.rules, shap=shap_same, agreement=[a for a, _ in agreement],
        shared_top=[s for _, s in agreement], top_k=params.top_k, data=shap.data,
        seconds=time.perf_counter() - started, params=asdict(params), task=shap.task,
        image_shape=shap.image_shape, warnings=list(shap.warnings), data_kind=shap.data_kind)
    cache.save(store, run_id, key, *result.to_parts())
    return result


def partial_dependence(store: RunStore, catalog: Catalog, run_id: str, params: PdpParams,
                       rows: list[int] | None = None, *, context: RunContext | None = None,
                       use_cache: bool = True) -> PartialDependence:
    run_id = store.get(run_id).run_id
    rows = [int(r) for r in rows][: params.max_rows] if rows is not None else test_rows(store, run_id, params.max_rows)
    key = cache.cache_key(run_id, "pdp", rows, asdict(params))
    if use_cache and (hit := cache.load(store, run_id, key)) is not None:
        return PartialDependence.from_parts(*hit)
    ctx = context or RunContext.load(store, catalog, run_id)
    rows = ctx.check_rows(rows)
    space = "value" if ctx.task == "regression" else "probability"
    labels = ctx.output_labels(space)
    default = labels[-1] if ctx.task == "binary" else labels[0]
    output = _label_index(labels, params.output or default)
    started = time.perf_counter()
    grid, categorical, ice = ice_curves(ctx, params.column, rows, output, space, params.points)
    current = ctx.frame.iloc[rows][params.column].tolist()
    result = PartialDependence(
        run_id=run_id, key=key, column=params.column, categorical=categorical, grid=grid, ice=ice,
        pdp=ice.mean(axis=0), space=space, output_label=labels[output],
        output_text=space_text(space, labels[output], ctx.task), rows=rows,
        current=[v if isinstance(v, (int, float, str)) or v is None else str(v) for v in current],
        seconds=time.perf_counter() - started, params=asdict(params))
    cache.save(store, run_id, key, *result.to_parts())
    return result


def lookup(store: RunStore, run_id: str, method: str, rows: list[int],
           params: ShapParams | LimeParams | PdpParams) -> ShapExplanation | LimeExplanation | PartialDependence | None:
    """The cached answer to exactly this question, or None; never computes."""
    if isinstance(params, PdpParams):
        rows = rows[: params.max_rows]
    hit = cache.load(store, run_id, cache.cache_key(run_id, method, [int(r) for r in rows], asdict(params)))
    if hit is None:
        return None
    if method == "shap":
        return ShapExplanation.from_parts(*hit)
    return LimeExplanation.from_parts(*hit) if method == "lime" else PartialDependence.from_parts(*hit)


def resolve_space(ctx: RunContext, space: str | None) -> str:
    if space is None:
        return ctx.default_space()
    allowed = ("value",) if ctx.task == "regression" else ("logit", "probability")
    if space not in allowed:
        raise WorkbenchError(f"a {ctx.task} model is explained in {' or '.join(allowed)} space, not {space}")
    return space


def summary(result: ShapExplanation | LimeExplanation) -> dict[str, Any]:
    """What `workbench explain --json` prints: method, explainer, rows, timing, checks, importances."""
    out: dict[str, Any] = {"run_id": result.run_id, "method": result.method, "explainer": result.explainer,
                           "rows": len(result.rows), "space": result.space, "outputs": result.output_labels,
                           "compute_seconds": round(result.seconds, 4), "key": result.key}
    if isinstance(result, ShapExplanation):
        out["max_additivity_error"] = result.max_additivity_error
        out["base_values"] = [float(b) for b in result.base]
        out["importances"] = result.importances()
    else:
        mean = np.abs(result.weights).mean(axis=0) if len(result.rows) else np.zeros(len(result.columns))
        order = np.argsort(-mean, kind="stable")
        out["importances"] = {result.columns[i]: float(mean[i]) for i in order}
        known = [a for a in result.agreement if a is not None]
        out["agreement"] = float(np.mean(known)) if known else None
    return out


def _lime_outputs(shap: ShapExplanation, output: str | None) -> list[int]:
    if output is not None:
        return [_label_index(shap.output_labels, output)] * len(shap.rows)
    if shap.outputs.shape[1] == 1:
        return [0] * len(shap.rows)
    return [int(k) for k in shap.outputs.argmax(axis=1)]  # each row's predicted class


def _label_index(labels: list[str], label: str) -> int:
    if str(label) not in labels:
        raise WorkbenchError(f"no output '{label}'; this model's outputs are {', '.join(labels)}")
    return labels.index(str(label))


def _part(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, message)


__all__ = ["ShapParams", "LimeParams", "PdpParams", "explain_shap", "explain_lime", "partial_dependence",
           "lookup", "resolve_space", "summary", "DEFAULT_ROWS"]

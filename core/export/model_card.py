"""The model card: what a bundle holds, what it was trained on, how well it does, where it fails.

Plain Markdown so it reads well on GitHub, in an editor, or printed. The top features come
from the run's cached explanations (runs/<id>/explain/, written by `workbench explain` or
the Explain page); a card never computes explanations itself, which may take minutes.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from core.config import RunConfig
from core.runs.store import RunRecord, RunStore
from core.runs.trained import TrainedModel
from core.vocab import OPTIMIZER_LABELS, resolve_optimizer, uses_learning_rate

log = logging.getLogger(__name__)

TOP_FEATURES = 10


def global_importance(store: RunStore, run_id: str) -> tuple[str, int, list[tuple[str, float]]] | None:
    """(method, rows explained, [(column, mean |attribution|), ...] largest first) from the run's
    cached explanations: SHAP over the most rows, else LIME. None when the run is not explained."""
    try:
        from core.explain import cache, summary
        from core.explain.results import LimeExplanation, ShapExplanation
    except ImportError as exc:  # explanations are optional to a bundle; a card without them is still whole
        log.warning("explanations unavailable for the model card: %s", exc)
        return None
    kinds = {"shap": ShapExplanation, "lime": LimeExplanation}
    best: tuple[tuple[bool, int], ShapExplanation | LimeExplanation] | None = None
    for key in cache.cached_keys(store, run_id):
        method = key.split("-", 1)[0]
        hit = cache.load(store, run_id, key) if method in kinds else None
        if hit is None:
            continue
        try:
            result = kinds[method].from_parts(*hit)
        except (TypeError, KeyError, ValueError) as exc:
            log.warning("skipping explanation %s of run %s: %s", key, run_id, exc)
            continue
        rank = (method == "shap", len(result.rows))
        if best is None or rank > best[0]:
            best = (rank, result)
    if best is None:
        return None
    result = best[1]
    return result.method.upper(), len(result.rows), list(summary(result)["importances"].items())


def render_model_card(record: RunRecord, trained: TrainedModel, store: RunStore, *, onnx: bool = False) -> str:
    schema, config = trained.schema, trained.config
    summary = record.summary
    rows = summary.get("rows", {})
    roles = schema.roles
    numeric = [c for c in schema.features if roles[c] == "numeric"]
    categorical = [c for c in schema.features if roles[c] == "categorical"]
    ignored = [c for c, r in roles.items() if r == "ignore"]
    lines = [
        f"# Model card: {record.name}",
        "",
        f"Exported from Workbench run `{record.run_id}`: a **{_model_label(trained)}** for **{schema.task}** "
        f"prediction of **{schema.target}**.",
        "",
        "## Data",
        "",
        f"- Source: `{config.data.source}` (sha256 `{(config.data.content_hash or summary.get('data_hash') or '?')[:16]}...`)",
        f"- Rows: {rows.get('train', '?')} train, {rows.get('val', '?')} validation, {rows.get('test', '?')} test "
        f"(seeded split, seed {config.train.seed})",
        f"- Target: `{schema.target}` ({schema.task})" + (f", classes: {', '.join(map(str, schema.classes))}"
                                                         if schema.classes else ""),
        (f"- Inputs: an image file, decoded to {' x '.join(map(str, schema.image_shape or ()))} (channels x height "
         "x width) as the training images were" if trained.data_kind == "image" else
         f"- Inputs: {_columns(numeric, 'numeric')}, {_columns(categorical, 'categorical')}"
         + (f"; ignored: {', '.join(ignored)}" if ignored else "")),
        "",
        "## Model and training",
        "",
        f"- Model: {trained.meta['kind']} {json.dumps(trained.meta['params'])}, "
        f"{summary.get('n_parameters', '?')} parameters",
        _optimizer_line(config),
        f"- Epochs: {summary.get('epochs_run', '?')} of {config.train.epochs} (best epoch {summary.get('best_epoch', '?')}),"
        f" batch size {config.train.batch_size}, device {record.device or '?'}",
        "",
        "## Metrics",
        "",
        *_metrics_table(record.metrics),
        "",
        "## Top features",
        "",
        *_top_features(store, record.run_id),
        "",
        "## Known limits",
        "",
        f"- Learned from {rows.get('train', '?')} rows of one dataset: it has not been checked on data from "
        "elsewhere, later dates or other populations, nor for fairness across groups.",
        "- Missing or non-numeric values are filled with the training median (numbers) or the most "
        "frequent training level (categories); levels never seen in training all share one '(other)' input.",
        "- Inputs far outside the training range give extrapolated, unreliable predictions.",
    ]
    if schema.task != "regression":
        lines.append("- Probabilities come from the model's softmax/sigmoid and are not calibrated.")
    lines += ["", *_usage(record, onnx, trained.data_kind == "image")]
    return "\n".join(lines) + "\n"


def _model_label(trained: TrainedModel) -> str:
    kind = trained.meta["kind"]
    return {"mlp": "multilayer perceptron", "cnn": "convolutional network", "logistic": "logistic regression",
            "linear": "linear regression"}.get(kind, kind)


def _columns(names: list[str], kind: str, shown: int = 12) -> str:
    listed = ", ".join(f"`{n}`" for n in names[:shown]) + (", ..." if len(names) > shown else "")
    return f"{len(names)} {kind} ({listed})" if names else f"0 {kind}"


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    names = sorted({k for split in metrics.values() if isinstance(split, dict) for k in split})
    if not names:
        return ["No metrics were recorded."]
    out = ["| metric | validation | test |", "|---|---|---|"]
    for name in names:
        cells = [_number(metrics.get(part, {}).get(name)) for part in ("val", "test")]
        out.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return out


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _top_features(store: RunStore, run_id: str) -> list[str]:
    found = global_importance(store, run_id)
    if found is None:
        return [f"Not explained yet: run `workbench explain {run_id}`, then export again."]
    method, rows, pairs = found
    out = [f"Mean absolute {method} attribution per column over {rows} explained test rows (largest first):", "",
           "| column | importance |", "|---|---|"]
    out += [f"| {name} | {value:.4g} |" for name, value in pairs[:TOP_FEATURES]]
    return out


def _usage(record: RunRecord, onnx: bool, image: bool = False) -> list[str]:
    out = [
        "## Use",
        "",
        "```",
        "pip install -r requirements.txt",
        ("python predict.py photo.jpg ... > predictions.csv  # image files, any size" if image
         else "python predict.py rows.csv > predictions.csv   # columns by their original names"),
        "workbench serve .                               # REST server, docs at http://127.0.0.1:8000/docs",
        "workbench train --config config.yaml           # retrain: same data + seed + CPU = same metrics",
        "```",
    ]
    if onnx:
        out += [
            "",
            "## ONNX",
            "",
            "`model.onnx` has the preprocessing inside: one input per column, shape `[batch, 1]` "
            "(numbers as double, NaN for missing; categories as strings, `''` for missing). Outputs: `logits`, "
            "then `probabilities` and `label` (classifier) or `prediction` (regressor). It was checked against "
            "the torch model on the test rows (see `bundle.json`).",
        ]
    return out


def _optimizer_line(config: RunConfig) -> str:
    name = resolve_optimizer(config.optim.name, config.model.kind)
    rate = f", learning rate {config.optim.lr:g}" if uses_learning_rate(name, config.model.kind) else \
        " (step sizes from a line search)"
    return f"- Optimizer: {OPTIMIZER_LABELS.get(name, name)}{rate}, weight decay {config.optim.weight_decay:g}"

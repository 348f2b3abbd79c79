"""Plain functions behind one run's view: its summary numbers, plots and config.

Every plot comes with one sentence saying how to read it; pages/runs.py draws them as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import yaml

from core.config import RunConfig
from core.errors import WorkbenchError
from core.evaluation import (
    calibration_figure,
    confusion_figure,
    pr_figure,
    residuals_figure,
    roc_figure,
)
from core.runs.compare import run_metric
from core.runs.store import RunRecord
from core.vocab import METRIC_DIRECTION, is_classification, metric_label


@dataclass(frozen=True)
class Plot:
    key: str  # a stable widget key part, so a redrawn chart updates in place
    figure: go.Figure
    caption: str  # one plain sentence: how to read it


@dataclass(frozen=True)
class Number:
    label: str
    value: str
    help: str = ""


# --- summary numbers ---------------------------------------------------------------------
def summary_numbers(run: RunRecord) -> list[Number]:
    """The few numbers worth a glance: test and val score, time, speed, epochs, model size."""
    metric = run_metric(run)
    test, val = run.metrics.get("test") or {}, run.metrics.get("val") or {}
    numbers: list[Number] = []
    if metric:
        better = "higher" if METRIC_DIRECTION.get(metric) == "max" else "lower"
        numbers.append(Number(f"Test {metric}", _fmt(test.get(metric)),
                              f"On the test rows the model never saw while training; {better} is better."))
        numbers.append(Number(f"Val {metric}", _fmt(val.get(metric)),
                              "On the validation rows used to pick the best epoch."))
    if run.task and not is_classification(run.task) and "rmse" in test:
        numbers.append(Number("Test RMSE", _fmt(test["rmse"]), "Typical size of an error, in the target's units."))
    elif "roc_auc" in test:
        numbers.append(Number("Test ROC AUC", _fmt(test["roc_auc"]),
                              "How well the model ranks each class above the others (1.0 is perfect, 0.5 is chance)."))
    duration = run.summary.get("duration_s", run.duration_s)
    numbers.append(Number("Duration", _duration(duration), "Wall-clock training time."))
    speed = run.summary.get("samples_per_s") or run.progress.get("samples_per_s")
    if speed:
        numbers.append(Number("Samples / s", f"{speed:,.0f}", "Training rows processed per second."))
    epochs_run, best = run.summary.get("epochs_run"), run.summary.get("best_epoch")
    if epochs_run and best:
        numbers.append(Number("Best epoch", f"{best} / {epochs_run}",
                              "The epoch whose model was kept (early stopping), out of the epochs trained."))
    elif epochs_run:
        numbers.append(Number("Epochs", f"{epochs_run}", "Epochs trained; the model kept is the last one."))
    if run.summary.get("n_parameters"):
        numbers.append(Number("Parameters", f"{run.summary['n_parameters']:,}", "Weights the model learned."))
    return numbers


def _fmt(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return f"{value:.4f}"
    return "–"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds != seconds or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"  # short: st.metric truncates


# --- evaluation plots (of core.runs.compare.load_evaluation's data) ---------------------
CAPTIONS = {
    "confusion": "Each cell counts test rows by true class (row) and predicted class (column), with the share of "
                 "its row; the diagonal is correct predictions.",
    "roc": "For each class against the rest: how many of its rows are caught (up) against how many other rows are "
           "wrongly flagged (right) as the threshold moves; closer to the top-left corner is better, the dotted "
           "diagonal is guessing.",
    "pr": "For each class: of the rows flagged as that class, how many really are (precision, up), against how many "
          "of the class are found (recall, right); higher is better, the dotted line is guessing.",
    "calibration": "Points on the diagonal mean the model's confidence is honest (when it says 80 %, it is right "
                   "80 % of the time); points below the diagonal mean it is over-confident.",
    "residuals": "Each dot is one test row: its predicted value (across) against the error, true minus predicted "
                 "(up); dots scattered evenly around the zero line, with no pattern, mean the errors are random.",
}


def evaluation_plots(evaluation: dict[str, Any] | None) -> list[Plot]:
    """Classification: confusion matrix, ROC, precision-recall, calibration; regression: residuals."""
    if not evaluation:
        return []
    plots: list[Plot] = []
    if evaluation.get("task") and not is_classification(evaluation["task"]):
        if evaluation.get("residuals"):
            plots.append(Plot("residuals", residuals_figure(evaluation["residuals"]), CAPTIONS["residuals"]))
        return plots
    if evaluation.get("confusion"):
        figure = confusion_figure(evaluation["confusion"])
        n_classes = len(evaluation["confusion"].get("labels", []))
        if n_classes > 5:  # room for every cell's count and share
            figure.update_layout(height=min(900, 380 + 40 * (n_classes - 5)))
        plots.append(Plot("confusion", figure, CAPTIONS["confusion"]))
    if evaluation.get("roc"):
        plots.append(Plot("roc", roc_figure(evaluation["roc"]), CAPTIONS["roc"]))
    if evaluation.get("pr"):
        plots.append(Plot("pr", pr_figure(evaluation["pr"]), CAPTIONS["pr"]))
    calibration = evaluation.get("calibration")
    if calibration and calibration.get("mean_predicted"):
        plots.append(Plot("calibration", calibration_figure(calibration), CAPTIONS["calibration"]))
    return plots


def curve_caption(metric: str, several: bool) -> str:
    """How to read a learning-curve plot of `metric`."""
    who = "one run's" if several else "the run's"
    better = {"min": "lower is better", "max": "higher is better"}.get(METRIC_DIRECTION.get(metric, ""), "")
    return (f"Each colour is {who} {metric_label(metric)} per epoch: solid on the training rows, dashed on the "
            f"validation rows{'; ' + better if better else ''}. A dashed line drifting away from the solid one "
            "means the model is memorising the training rows (overfitting).")


# --- config ---------------------------------------------------------------------------
def config_yaml(run: RunRecord) -> str:
    """The run's full config as YAML, in RunConfig's order (as stored if it no longer validates)."""
    try:
        return RunConfig.from_dict(run.config).to_yaml()
    except WorkbenchError:
        return yaml.safe_dump(run.config, sort_keys=False)


__all__ = [
    "Plot", "Number", "summary_numbers", "evaluation_plots",
    "CAPTIONS", "curve_caption", "config_yaml",
]

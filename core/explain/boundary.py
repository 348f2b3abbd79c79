"""Decision boundary: the model's prediction over a grid of two columns, the training points on top.

    decision_boundary(trained, frame, train_rows, x="petal_length", y="petal_width") -> Boundary
    decision_boundary(trained, frame, train_rows, projection=True)                  -> Boundary on PCA axes

On two columns, every other column is held at its training median (numbers) or most frequent value
(categories), so the picture is one slice through the model, said in words under it. With the 2-D
projection the grid lies in the plane of the first two principal components of the encoded training
inputs (sklearn PCA), each grid point mapped back to the inputs by the PCA's inverse, so the other
directions sit at their mean.

live_model(run_dir): a run still training, from the weights core.runs.insight.LiveWeights writes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import safe_open

from core.data import Catalog, drop_missing_target, load_dataset
from core.data.split import SPLIT_FILE, Split, load_split
from core.errors import WorkbenchError
from core.evaluation import outputs_to_proba
from core.runs.insight import LIVE_DIR
from core.runs.trained import TrainedModel

RESOLUTION = 80  # grid points per axis
MAX_POINTS = 600  # training points drawn on top


@dataclass
class Boundary:
    task: str
    x_name: str
    y_name: str
    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    predicted: np.ndarray  # (ny, nx): class index, or the value in the target's units
    confidence: np.ndarray  # (ny, nx): probability of the predicted class (1 for regression)
    classes: list[str]
    points: pd.DataFrame  # x, y, label (the true class or value), row
    held: dict[str, str] = field(default_factory=dict)  # the other columns and the value they are held at
    projection: bool = False
    explained: tuple[float, float] | None = None  # PCA's explained variance ratios

    def words(self) -> str:
        if self.projection:
            share = sum(self.explained or (0.0, 0.0))
            return (f"The axes are the two directions along which the training data varies most (PCA of the "
                    f"model's inputs, {share:.0%} of their variance); every other direction is held at its mean.")
        if not self.held:
            return "The model has just these two columns: the picture is the whole model."
        shown = [f"{c} = {v}" for c, v in list(self.held.items())[:6]]
        more = f" and {len(self.held) - 6} more" if len(self.held) > 6 else ""
        return ("Every other column is held at its training median (numbers) or most frequent value "
                f"(categories): {', '.join(shown)}{more}.")


def numeric_columns(trained: TrainedModel, frame: pd.DataFrame) -> list[str]:
    """The model's columns that can be an axis: numbers, not categories or flags."""
    return [c for c in trained.preprocessor.feature_groups if c in frame.columns
            and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def decision_boundary(trained: TrainedModel, frame: pd.DataFrame, train_rows: np.ndarray, x: str | None = None,
                      y: str | None = None, *, projection: bool = False, resolution: int = RESOLUTION,
                      seed: int = 0) -> Boundary:
    if trained.data_kind != "table":
        raise WorkbenchError("the decision boundary is drawn for tables: this run's inputs are "
                             f"{trained.data_kind} data")
    train = frame.iloc[np.asarray(train_rows, dtype=np.int64)]
    if len(train) == 0:
        raise WorkbenchError("the run has no training rows to draw")
    shown = train.iloc[np.sort(np.random.default_rng(seed).choice(len(train), MAX_POINTS, replace=False))] \
        if len(train) > MAX_POINTS else train
    labels = shown[trained.schema.target]
    if projection:
        return _projected(trained, train, shown, labels, resolution)
    axes = numeric_columns(trained, frame)
    for name in (x, y):
        if name not in axes:
            raise WorkbenchError(f"'{name}' cannot be an axis: pick two numeric columns of the model "
                                 f"({', '.join(axes) or 'it has none'}), or the 2-D projection")
    if x == y:
        raise WorkbenchError("pick two different columns for the axes")
    xs, ys = _axis(train[x], resolution), _axis(train[y], resolution)
    typical = _typical_row(trained, train)
    held = {c: _text(v) for c, v in typical.items() if c not in (x, y)}
    grid = pd.DataFrame({c: [v] * (len(xs) * len(ys)) for c, v in typical.items()})
    gx, gy = np.meshgrid(xs, ys)
    grid[x], grid[y] = gx.ravel(), gy.ravel()
    predicted, confidence = _predict(trained, trained.preprocessor.transform(grid), (len(ys), len(xs)))
    points = pd.DataFrame({"x": shown[x].to_numpy(dtype=float), "y": shown[y].to_numpy(dtype=float),
                           "label": _labels(trained, labels), "row": shown.index.to_numpy()})
    return Boundary(trained.task, x, y, xs, ys, predicted, confidence, _classes(trained), points, held)


def _projected(trained: TrainedModel, train: pd.DataFrame, shown: pd.DataFrame, labels: pd.Series,
               resolution: int) -> Boundary:
    from sklearn.decomposition import PCA

    encoded = trained.preprocessor.transform(train)
    if encoded.shape[1] < 2:
        raise WorkbenchError("the model has a single input: there is no plane to project onto")
    pca = PCA(n_components=2, random_state=0).fit(encoded)
    projected = pca.transform(encoded)
    xs, ys = _axis(pd.Series(projected[:, 0]), resolution), _axis(pd.Series(projected[:, 1]), resolution)
    gx, gy = np.meshgrid(xs, ys)
    inputs = pca.inverse_transform(np.column_stack([gx.ravel(), gy.ravel()])).astype(np.float32)
    predicted, confidence = _predict(trained, inputs, (len(ys), len(xs)))
    points_2d = pca.transform(trained.preprocessor.transform(shown))
    points = pd.DataFrame({"x": points_2d[:, 0], "y": points_2d[:, 1], "label": _labels(trained, labels),
                           "row": shown.index.to_numpy()})
    ratio = pca.explained_variance_ratio_
    return Boundary(trained.task, "first principal component", "second principal component", xs, ys, predicted,
                    confidence, _classes(trained), points, projection=True,
                    explained=(float(ratio[0]), float(ratio[1])))


def _axis(values: pd.Series, resolution: int) -> np.ndarray:
    known = values.dropna().to_numpy(dtype=float)
    lo, hi = (float(known.min()), float(known.max())) if known.size else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.5
    return np.linspace(lo - pad, hi + pad, resolution)


def _typical_row(trained: TrainedModel, train: pd.DataFrame) -> dict[str, object]:
    out: dict[str, object] = {}
    for column in trained.preprocessor.feature_groups:
        series = train[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            out[column] = float(series.median()) if series.notna().any() else np.nan
        else:
            mode = series.mode(dropna=True)
            out[column] = mode.iloc[0] if len(mode) else None
    return out


def _predict(trained: TrainedModel, inputs: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    outputs = trained.outputs(inputs)
    if trained.task == "regression":
        value = trained.preprocessor.decode_target(outputs[:, 0]).astype(float)
        return value.reshape(shape), np.ones(shape)
    proba = outputs_to_proba(trained.task, outputs)
    return proba.argmax(axis=1).reshape(shape), proba.max(axis=1).reshape(shape)


def _classes(trained: TrainedModel) -> list[str]:
    return [str(c) for c in trained.schema.classes or []]


def _labels(trained: TrainedModel, labels: pd.Series) -> list:
    if trained.task == "regression":
        return labels.to_numpy(dtype=float).tolist()
    return labels.astype(str).tolist()


def _text(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table_frame(trained: TrainedModel, catalog: Catalog) -> pd.DataFrame:
    """The run's rows with a target, numbered as its split numbers them (as RunContext reads them)."""
    data = trained.config.data
    return drop_missing_target(load_dataset(catalog.resolve(data.source)), data.target).reset_index(drop=True)


# --- a run still training ---------------------------------------------------------------------
@dataclass
class LiveModel:
    trained: TrainedModel
    split: Split
    epoch: int


def live_model(run_dir: Path) -> LiveModel | None:
    """The weights a training run last wrote, or None before its first write (or for a kind without them)."""
    folder = Path(run_dir) / LIVE_DIR
    weights = folder / "model.safetensors"
    if not weights.is_file() or not (folder / SPLIT_FILE).is_file():
        return None
    try:
        trained = TrainedModel.load(folder)
        with safe_open(str(weights), framework="pt") as handle:
            epoch = int((handle.metadata() or {}).get("epoch", 0))
        return LiveModel(trained, load_split(folder / SPLIT_FILE), epoch)
    except (WorkbenchError, OSError, ValueError, json.JSONDecodeError):
        return None  # a write in between: the next poll reads it whole


__all__ = ["Boundary", "LiveModel", "RESOLUTION", "decision_boundary", "live_model", "numeric_columns",
           "table_frame"]

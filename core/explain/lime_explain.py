"""LIME for one row at a time, on the user's columns, with the predict function SHAP explains.

Tabular LIME perturbs the original columns (a categorical column as one
feature, sampled among its levels) and feeds them through the run's own
preprocessor and model, so its weights name the user's columns. Image LIME
(for image data) switches groups of pixels off, one segment per pixel on small
images, and reads the same predict function. Both fit LIME's local linear model
to the output SHAP explains (a logit or a value), so the two can be compared.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from core.data.columns import as_labels, numeric_values
from core.data.preprocess import OTHER
from core.explain.context import RunContext

log = logging.getLogger(__name__)

MAX_TRAIN_ROWS = 5000  # LIME only needs the columns' spread and level frequencies
MAX_SEGMENTS = 64  # image LIME: about this many pixel blocks

Progress = Callable[[float, str], None]


@dataclass
class LimeRows:
    weights: np.ndarray  # (n, C)
    intercept: np.ndarray  # (n,)
    score: np.ndarray  # (n,)
    prediction: np.ndarray  # (n,)
    rules: list[list[str]]  # n x C


class ColumnCoder:
    """Original columns <-> the numeric matrix LIME works in (a categorical column as its level code)."""

    def __init__(self, ctx: RunContext):
        pre = ctx.trained.preprocessor
        self.columns = ctx.columns
        stats = pre.numeric_ or {}
        self.numeric = {c: stats[c].median for c in self.columns if c in stats}
        self.levels = {c: [*pre.categorical_[c].levels, OTHER] for c in self.columns if c not in self.numeric}
        self.fill = {c: pre.categorical_[c].fill for c in self.levels}

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c in self.levels]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(frame), len(self.columns)), dtype=np.float64)
        for j, col in enumerate(self.columns):
            if col in self.numeric:
                values = numeric_values(frame[col])
                out[:, j] = np.where(np.isnan(values), self.numeric[col], values)
            else:
                labels = as_labels(frame[col]).fillna(self.fill[col]).to_numpy()
                codes = pd.Index(self.levels[col][:-1], dtype=object).get_indexer(labels)
                out[:, j] = np.where(codes < 0, len(self.levels[col]) - 1, codes)
        return out

    def decode(self, Z: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, col in enumerate(self.columns):
            if col in self.numeric:
                data[col] = Z[:, j]
            else:
                codes = np.clip(np.rint(Z[:, j]).astype(np.int64), 0, len(self.levels[col]) - 1)
                data[col] = np.asarray(self.levels[col], dtype=object)[codes]
        return pd.DataFrame(data)


def lime_tabular(ctx: RunContext, rows: list[int], outputs: list[int], space: str, *, num_samples: int,
                 seed: int, progress: Progress | None = None) -> LimeRows:
    from lime.lime_tabular import LimeTabularExplainer

    coder = ColumnCoder(ctx)
    train = np.sort(ctx.split.train)
    if len(train) > MAX_TRAIN_ROWS:
        train = np.sort(np.random.default_rng(seed).choice(train, MAX_TRAIN_ROWS, replace=False))
    explainer = LimeTabularExplainer(
        coder.encode(ctx.frame.iloc[train]), mode="regression", feature_names=coder.columns,
        categorical_features=coder.categorical_indices,
        categorical_names={i: coder.levels[c] for i, c in enumerate(coder.columns) if c in coder.levels},
        discretize_continuous=True, feature_selection="none", random_state=seed)
    encoded = coder.encode(ctx.frame.iloc[rows])
    n, C = len(rows), len(coder.columns)
    out = LimeRows(np.zeros((n, C)), np.zeros(n), np.zeros(n), np.zeros(n), [[""] * C for _ in range(n)])
    for i, k in enumerate(outputs):
        def predict(Z: np.ndarray, k: int = k) -> np.ndarray:
            return ctx.predict_frame(coder.decode(Z), space)[:, k]

        exp = explainer.explain_instance(encoded[i], predict, num_features=C, num_samples=num_samples)
        for (j, weight), (rule, _) in zip(exp.local_exp[1], exp.as_list(label=1)):
            out.weights[i, j] = weight
            out.rules[i][j] = rule
        out.intercept[i], out.score[i] = float(exp.intercept[1]), float(exp.score)
        out.prediction[i] = float(exp.predicted_value)
        if progress is not None:
            progress((i + 1) / n, "LIME")
    return out


def lime_image(ctx: RunContext, rows: list[int], outputs: list[int], space: str, *, num_samples: int,
               seed: int, progress: Progress | None = None) -> LimeRows:
    from lime import lime_image as lime_image_module

    # lime 0.2 draws a tqdm bar on stderr for every row, with no switch: pass the samples through quietly
    lime_image_module.tqdm = lambda iterable, *args, **kwargs: iterable
    shape = ctx.image_shape
    assert shape is not None
    channels, height, width = (1, *shape) if len(shape) == 2 else shape

    def as_frame(images: np.ndarray) -> pd.DataFrame:
        chw = images[..., :channels].transpose(0, 3, 1, 2) if channels > 1 else images[..., 0][:, None]
        return pd.DataFrame(chw.reshape(len(images), -1), columns=ctx.columns)

    explainer = lime_image_module.LimeImageExplainer(feature_selection="none", random_state=seed)
    pixels = ctx.features(rows).to_numpy(dtype=np.float64)
    n, C = len(rows), len(ctx.columns)
    out = LimeRows(np.zeros((n, C)), np.zeros(n), np.zeros(n), np.zeros(n), [[""] * C for _ in range(n)])
    for i, k in enumerate(outputs):
        chw = pixels[i].reshape(channels, height, width)
        image = chw[0] if channels == 1 else chw.transpose(1, 2, 0)
        seg_map = superpixels(image, ctx.data_kind == "image")
        exp = explainer.explain_instance(
            image, lambda imgs: ctx.predict_frame(as_frame(np.asarray(imgs, dtype=np.float64)), space),
            labels=(k,), top_labels=None, hide_color=0, num_features=int(seg_map.max()) + 1,
            num_samples=num_samples, batch_size=num_samples, segmentation_fn=lambda _img: seg_map,
            random_seed=seed)
        per_segment = np.zeros(int(seg_map.max()) + 1)
        for segment, weight in exp.local_exp[k]:
            per_segment[int(segment)] = weight
        heat = per_segment[seg_map]  # (H, W)
        out.weights[i] = np.broadcast_to(heat, (channels, height, width)).reshape(-1)
        out.intercept[i], out.score[i] = float(exp.intercept[k]), float(exp.score)
        out.prediction[i] = float(ctx.predict_frame(ctx.features([rows[i]]), space)[0, k])
        out.rules[i] = [f"{col} shown" for col in ctx.columns]
        if progress is not None:
            progress((i + 1) / n, "LIME image")
    return out


def superpixels(image: np.ndarray, photo: bool) -> np.ndarray:
    """(H, W) segment ids: SLIC superpixels (regions of like colour that follow edges) on a user's image,
    a regular grid of blocks on a table's few pixels (8x8 digits are too small for regions)."""
    height, width = image.shape[:2]
    if photo and min(height, width) >= 12:
        from skimage.segmentation import slic  # lime's own dependency

        grey = image.ndim == 2
        seg = slic(image.astype(np.float64) / 255.0, n_segments=MAX_SEGMENTS, compactness=0.1 if grey else 10.0,
                   start_label=0, channel_axis=None if grey else -1)
        _, seg = np.unique(seg, return_inverse=True)  # ids 0..k-1 with none missing
        return seg.reshape(height, width)
    block = max(1, math.ceil(math.sqrt(height * width / MAX_SEGMENTS)))
    return (np.arange(height)[:, None] // block) * math.ceil(width / block) + np.arange(width)[None] // block


def rank_agreement(shap: np.ndarray, lime: np.ndarray, k: int = 5) -> tuple[float | None, int]:
    """Spearman correlation of SHAP and LIME over the union of each one's top-k features, and the overlap.

    Signed values: a feature both push the same way ranks alike. None when fewer
    than three features are in play or one side is constant.
    """
    from scipy.stats import spearmanr

    top_s = set(np.argsort(-np.abs(shap), kind="stable")[:k].tolist())
    top_l = set(np.argsort(-np.abs(lime), kind="stable")[:k].tolist())
    union = sorted(top_s | top_l)
    shared = len(top_s & top_l)
    a, b = shap[union], lime[union]
    if len(union) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, shared
    rho = float(spearmanr(a, b).statistic)
    return (rho if math.isfinite(rho) else None), shared


__all__ = ["ColumnCoder", "LimeRows", "lime_tabular", "lime_image", "rank_agreement"]

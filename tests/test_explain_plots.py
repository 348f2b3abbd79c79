"""Figures from plain data: each names its output space, and the views give every figure a caption."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.explain import plots, views
from core.explain.results import ShapExplanation

SPACE = "log-odds (logit) of class 'M'"


def _all_text(fig) -> str:
    layout = fig.layout
    parts = [str(layout.title.text), str(layout.title.subtitle.text), str(layout.xaxis.title.text),
             str(layout.yaxis.title.text)]
    parts += [str(a.text) for a in layout.annotations]
    for axis in ("xaxis2", "yaxis2"):
        if axis in layout:
            parts.append(str(layout[axis].title.text))
    return " ".join(parts)


def test_every_figure_states_the_output_space() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 3))
    colour = np.column_stack([rng.uniform(size=12), rng.uniform(size=12), np.full(12, np.nan)])
    hover = [["1.0", "2.0", "a"]] * 12
    figures = [
        plots.importance_bar(["a", "b", "c"], [0.3, 0.1, 0.2], SPACE),
        plots.beeswarm(["a", "b", "c"], values, colour, hover, SPACE),
        plots.dependence(list(rng.normal(size=12)), values[:, 0], "a", SPACE),
        plots.waterfall(0.5, [0.2, -0.1, 0.05], ["a = 1", "b = 2", "c = x"], SPACE),
        plots.lime_vs_shap(["a", "b", "c"], [0.2, -0.1, 0.05], [0.1, -0.2, 0.0], SPACE, 0.5, 2, 3),
        plots.pdp_ice([1.0, 2.0, 3.0], rng.uniform(size=(5, 3)), [0.2, 0.4, 0.6], "a", SPACE, False),
        plots.image_maps(rng.uniform(size=(8, 8)), {"SHAP": rng.normal(size=(8, 8))}, SPACE),
    ]
    for fig in figures:
        assert SPACE in _all_text(fig) or any(SPACE[:30] in str(getattr(t.marker, "colorbar", "")) or
                                              SPACE[:30] in str(getattr(t, "colorbar", "")) for t in fig.data)
    for view in plots.CAPTIONS:
        assert SPACE in plots.caption(view, SPACE, "a")


def test_waterfall_ends_at_the_rows_output() -> None:
    contrib = [0.4, -0.3, 0.2, 0.01, -0.02]
    fig = plots.waterfall(1.0, contrib, [f"c{i}" for i in range(5)], SPACE, top=3)
    bars = fig.data[0]
    assert bars.base[0] == pytest.approx(1.0) and bars.y[0] == "2 other columns"
    assert list(bars.y)[-1] == "c0"  # the largest contribution ends at the output, at the top
    assert bars.base[-1] + bars.x[-1] == pytest.approx(1.0 + sum(contrib))
    for start, step, following in zip(bars.base, bars.x, list(bars.base[1:]) + [None]):
        if following is not None:
            assert start + step == pytest.approx(following)  # each bar starts where the last one ended
    assert any(f"this row {1.0 + sum(contrib):.4g}" == a.text for a in fig.layout.annotations)


def test_categorical_dependence_and_pdp_use_category_axes() -> None:
    assert plots.dependence(["Sat", "Sun", "Sat"], [0.1, -0.2, 0.3], "day", SPACE).layout.xaxis.type == "category"
    assert plots.pdp_ice(["Sat", "Sun"], np.ones((2, 2)), [1, 1], "day", SPACE, True).layout.xaxis.type == "category"


def _explanation() -> ShapExplanation:
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x": rng.normal(size=6), "kind": list("abcabc")}, index=[3, 5, 7, 9, 11, 13])
    values = rng.normal(size=(6, 2, 2))
    return ShapExplanation(
        run_id="r", key="k", explainer="deeplift", space="logit", output_labels=["A", "B"],
        output_texts=["logit of class 'A' (before softmax)", "logit of class 'B' (before softmax)"],
        columns=["x", "kind"], feature_names=["x", "kind=a", "kind=b", "kind=(other)"], rows=list(data.index),
        values=values, encoded=np.zeros((6, 4, 2)), base=np.array([0.1, -0.1]),
        outputs=values.sum(axis=1) + [0.1, -0.1], data=data, seconds=0.1, max_additivity_error=0.0, params={},
        background_rows=[0, 1], references=2, task="multiclass")


def test_views_give_each_figure_its_caption() -> None:
    exp = _explanation()
    shown = [views.importance_view(exp), views.beeswarm_view(exp, 1), views.dependence_view(exp, "kind", 0, "x"),
             views.waterfall_view(exp, 2, 1)]
    for fig, caption in shown:
        assert fig.data and caption.strip().endswith(".")
    assert "averaged over the 2 classes" in shown[0][1]
    assert "class 'B'" in shown[1][1]
    colours = views.colour_matrix(exp.data, exp.columns)
    assert np.isnan(colours[:, 1]).all() and colours[:, 0].min() == 0 and colours[:, 0].max() == 1
    assert views.image_view(exp, 0, 0) is None  # not image data


def test_lime_beside_shap_keeps_its_axis_titles_short() -> None:
    long_space = "log-odds (logit) of class 'Adelie Penguin (Pygoscelis adeliae)'"
    fig = plots.lime_vs_shap(["a", "b"], [0.2, -0.1], [0.1, -0.2], long_space, 0.5, 2, 2)
    titles = [fig.layout.xaxis.title.text, fig.layout.xaxis2.title.text]
    assert titles == ["SHAP value", "LIME weight"]  # side by side, two long titles ran into each other
    assert long_space in fig.layout.title.subtitle.text

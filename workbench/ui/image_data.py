"""The Data page for images: decode settings, the profile (classes, sizes, samples, problems), the choice.

Figures are plain functions of core's ImageProfile (unit-tested); `draw` lays them out.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.data.images.dataset import DEFAULT_MAX_SIDE, MAX_SIDE, MIN_SIDE, DecodeOptions, ImageDataset, load_images
from core.data.images.profile import ImageProfile, as_picture, profile_images, samples_per_class
from core.errors import WorkbenchError
from core.vocab import CLASSIFICATION_TASKS, IMAGE_COLORS
from workbench.ui import state as ui_state
from workbench.ui.datasets import dataset_label as ds_label
from workbench.ui.common import md_escape, page_link

HEIGHT = 320
_COLOR = "#1f77b4"
COLOR_LABELS = {"auto": "Automatic (grey if every image is grey)", "grayscale": "Grayscale", "rgb": "Colour (RGB)"}


@st.cache_resource(show_spinner="Decoding the images (once: they are cached by content)…", max_entries=4)
def decoded(path: str, sha256: str, size: int | None, color: str, workspace: str, name: str) -> ImageDataset:
    """One decoded copy per (file, settings) for the whole server, never pickled."""
    from pathlib import Path

    return load_images(Path(path), sha256, DecodeOptions(size, color), Path(workspace), name)


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title={"text": title}, xaxis_title=x, yaxis_title=y, template="plotly_white", height=HEIGHT,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, showlegend=False)
    return fig


def classes_figure(p: ImageProfile) -> go.Figure:
    share = [100 * n / max(p.n_images, 1) for n in p.counts.values()]
    fig = go.Figure(go.Bar(x=list(p.counts), y=list(p.counts.values()), marker_color=_COLOR, customdata=share,
                           text=[f"{s:.0f}%" for s in share], textposition="auto",
                           hovertemplate="%{x}: %{y} images (%{customdata:.1f}%)<extra></extra>"))
    fig.update_xaxes(type="category")
    return _layout(fig, "Images per class", "Class (folder)", "Images")


def sizes_figure(p: ImageProfile) -> go.Figure:
    """Each file's stored width and height, one dot per distinct size (bigger: more files)."""
    pairs: dict[tuple[int, int], int] = {}
    for w, h in zip(p.widths, p.heights):
        pairs[(w, h)] = pairs.get((w, h), 0) + 1
    sizes = list(pairs)
    counts = np.array(list(pairs.values()), dtype=float)
    fig = go.Figure(go.Scatter(x=[w for w, _ in sizes], y=[h for _, h in sizes], mode="markers",
                               marker={"size": 6 + 14 * np.sqrt(counts / counts.max()), "color": _COLOR, "opacity": 0.6},
                               customdata=counts, hovertemplate="%{x} x %{y} px: %{customdata} files<extra></extra>"))
    return _layout(fig, "Stored sizes (width x height)", "Width (px)", "Height (px)")


def aspects_figure(p: ImageProfile) -> go.Figure:
    fig = go.Figure(go.Histogram(x=p.aspects, nbinsx=30, marker_color=_COLOR,
                                 hovertemplate="aspect %{x}: %{y} files<extra></extra>"))
    return _layout(fig, "Aspect ratios (width / height)", "Width / height", "Files")


def problems(p: ImageProfile) -> list[tuple[str, str, str]]:
    """(level, message, advice) for the checks box: what can hurt training on these images."""
    out = []
    if p.across_classes:
        file, classes = p.across_classes[0]
        out.append(("warning", f"{len(p.across_classes)} picture(s) are in more than one class, such as {file} "
                               f"({', '.join(classes)}).", "The model cannot tell them apart: keep each in one class."))
    if p.duplicate_files:
        out.append(("info", f"{p.duplicate_files} file(s) repeat another one byte for byte "
                            f"({p.duplicate_groups} group(s)).",
                    "Copies can land in both the training and the test split and make the test score look better."))
    if p.imbalance >= 3:
        small = min(p.counts, key=p.counts.get)
        out.append(("warning", f"The classes are unbalanced: '{small}' has {p.counts[small]} images, "
                               f"{p.imbalance:.0f}x fewer than the largest.",
                    "Add images of the small classes, or read balanced accuracy rather than accuracy."))
    if min(p.counts.values(), default=0) < 10:
        out.append(("warning", "Some classes have fewer than 10 images.",
                    "With so few, the validation and test scores swing a lot from split to split."))
    if p.skipped:
        out.append(("info", f"{len(p.skipped)} file(s) in the archive were skipped (listed below).",
                    "System files and non-images are expected; broken images are worth replacing."))
    return out


def draw(engine: Any, ref: Any, choice: Any, look: Any, predict: Any, checks_box: Any) -> None:
    """The whole image branch of the Data page."""
    same = choice is not None and choice.source == ref.source
    with predict:
        st.subheader("3. What to predict")
        st.info("Each image's class is the name of the folder it is in (the target is **label**). Images are "
                "decoded once at the size below and cached, so training starts at once.", icon=":material/image:")
        a, b, c = st.columns(3)
        size = a.number_input("Image size (longer side, px; 0 = from the images)", min_value=0, max_value=MAX_SIDE,
                              value=int(choice.image_size or 0) if same else 0, step=4, key=f"img_size::{ref.name}",
                              help=f"Default: the images' median size, at most {DEFAULT_MAX_SIDE} px. Smaller "
                                   f"trains faster; at least {MIN_SIDE} px.")
        color = b.selectbox("Colour", IMAGE_COLORS, format_func=COLOR_LABELS.get, key=f"img_color::{ref.name}",
                            index=IMAGE_COLORS.index(choice.image_color) if same else 0)
    if 0 < size < MIN_SIDE:
        st.error(f"The image size must be at least {MIN_SIDE} px, or 0 for automatic.", icon=":material/error:")
        st.stop()
    try:
        data = decoded(str(ref.path), ref.sha256, int(size) or None, color, str(engine.catalog.workspace), ref.name)
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        st.stop()
    prof = profile_images(data)
    task_options = list(CLASSIFICATION_TASKS) if len(prof.counts) == 2 else ["multiclass"]
    with predict:
        task = c.selectbox("Task", task_options, index=0,
                           key=f"img_task::{ref.name}",
                           help="binary: two classes; multiclass: more. Images are classified, not regressed.")
    ui_state.set_choice(st.session_state, ui_state.DataChoice(
        source=ref.source, target="label", task=task, name=ds_label(ref), image=True, data_kind="image",
        image_size=int(size) or None, image_color=color))

    with look:
        st.subheader("2. Look at it")
        channels, height, width = prof.shape
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Images", f"{prof.n_images:,}")
        m2.metric("Classes", f"{len(prof.counts):,}")
        m3.metric("Decoded to", f"{width} x {height} {'grey' if channels == 1 else 'RGB'}")
        m4.metric("Files skipped", f"{len(prof.skipped):,}")
        samples, classes_tab, sizes_tab, skipped_tab = st.tabs(
            ["Samples", "Classes", "Sizes", "Skipped and duplicates"], key="img_tab", on_change="rerun")
        if samples.open:
            with samples:
                picks = samples_per_class(data, per_class=8)
                for label, rows in picks.items():
                    st.markdown(f"**{md_escape(label)}** · {prof.counts[label]:,} images")
                    st.image([as_picture(data.X[i]) for i in rows], width=72,
                             caption=[data.names[i].rsplit("/", 1)[-1] for i in rows])
                st.caption(f"A seeded sample of each class, as the model sees it: decoded to {width} x {height}.")
        if classes_tab.open:
            with classes_tab:
                st.plotly_chart(classes_figure(prof), key="img_classes_fig")
                st.caption("How many images each class has. A class with few images is hard to learn.")
        if sizes_tab.open:
            with sizes_tab:
                left, right = st.columns(2)
                left.plotly_chart(sizes_figure(prof), key="img_sizes_fig")
                right.plotly_chart(aspects_figure(prof), key="img_aspects_fig")
                st.caption("The files' own sizes before decoding. Every image is resized to the one size above; "
                           "very different aspects get stretched. Formats: "
                           + ", ".join(f"{k} {v:,}" for k, v in prof.formats.items()) + ".")
        if skipped_tab.open:
            with skipped_tab:
                if prof.skipped:
                    st.dataframe([{"file": n, "why": why} for n, why in prof.skipped], hide_index=True, width="stretch")
                else:
                    st.caption("Nothing was skipped.")
                if prof.across_classes:
                    st.dataframe([{"file": f, "classes": ", ".join(cs)} for f, cs in prof.across_classes],
                                 hide_index=True, width="stretch")

    with checks_box:
        st.subheader("4. Data checks")
        found = problems(prof)
        if not found:
            st.success("No problems found: the images are ready to train on.", icon=":material/check_circle:")
        shows = {"warning": (st.warning, ":material/warning:"), "info": (st.info, ":material/info:")}
        for level, message, advice in found:
            show, icon = shows[level]
            show(f"**{md_escape(message)}**  \n{md_escape(advice)}", icon=icon)
        page_link("train", "Continue to Train", icon=":material/arrow_forward:")


__all__ = ["aspects_figure", "classes_figure", "decoded", "draw", "problems", "sizes_figure"]

"""The Train page's image settings: augmentation, with a preview of what training batches will look like."""
from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from core.data.images.profile import as_picture
from core.errors import WorkbenchError
from core.training.augment import LIMITS, preview
from core.vocab import AUGMENTATIONS
from workbench.ui.common import md_escape
from workbench.ui.image_data import decoded

LABELS = {"crop": "Crop (zoom, shift)", "flip": "Flip left-right", "rotation": "Rotate (degrees)",
          "color": "Colour jitter", "cutout": "Cutout"}
PREVIEW_IMAGES, PREVIEW_COPIES = 4, 5


def augment_inputs(prefix: str) -> dict[str, Any]:
    """One switch per augmentation, with its strength; returns TrainConfig.augment (only what is on)."""
    chosen: dict[str, Any] = {}
    st.markdown("**Augmentation**: random changes to each training batch, on the training device, so the "
                "model sees new variations every epoch. Off by default; a flip is wrong for digits and text.")
    for name in AUGMENTATIONS:
        default, low, high, words = LIMITS[name]
        on_col, value_col = st.columns([1, 1], vertical_alignment="center")
        on = on_col.checkbox(LABELS[name], key=f"{prefix}aug_{name}", help=words[0].upper() + words[1:] + ".")
        if name == "flip":
            if on:
                chosen[name] = True
            continue
        step = 1.0 if name == "rotation" else 0.05
        strength = value_col.slider(LABELS[name], float(low), float(high), float(default), step=step,
                                    key=f"{prefix}aug_{name}_v", label_visibility="collapsed", disabled=not on)
        if on and strength > 0:
            chosen[name] = float(strength)
    return chosen


def preview_images(engine: Any, source: str, image_size: int | None, image_color: str, augment: dict[str, Any],
                   seed: int) -> tuple[np.ndarray, list[str]] | None:
    """A few training images, each as `PREVIEW_COPIES` augmented batches would show it."""
    ref = engine.catalog.resolve(source)
    data = decoded(str(ref.path), ref.sha256, image_size, image_color, str(engine.catalog.workspace), ref.name)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data.labels), size=min(PREVIEW_IMAGES, len(data.labels)), replace=False))
    return preview(data.X[rows], augment, copies=PREVIEW_COPIES, seed=seed), [data.labels[i] for i in rows]


def draw_preview(engine: Any, source: str, image_size: int | None, image_color: str, augment: dict[str, Any],
                 seed: int) -> None:
    if not augment:
        st.caption("Switch an augmentation on to see what it does to the training images.")
        return
    try:
        found = preview_images(engine, source, image_size, image_color, augment, seed)
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return
    if found is None:
        return
    copies, labels = found
    for label, versions in zip(labels, copies):
        st.image([as_picture(v) for v in versions], width=64, caption=[f"class {label}"] + [""] * (len(versions) - 1))
    st.caption("Each row: one training image, then as random training batches would show it (seeded like the run).")


__all__ = ["augment_inputs", "draw_preview", "preview_images"]

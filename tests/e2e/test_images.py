"""The image flow in a real browser: upload a zip of class folders, see its profile, train a CNN on it,
and see its pixels explained."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, settle
from tests.e2e.test_app import RUN_S, nav, type_into
from tests.imagezips import class_zip

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def test_upload_a_zip_train_a_cnn_explain_it(page: Page, server: str, tmp_path: Path) -> None:
    zipped = class_zip(tmp_path / "shapes.zip", classes=3, per_class=12, formats=("PNG", "JPEG", "BMP"),
                       extra={"__MACOSX/._a": b"junk", "notes.txt": b"hello"})
    page.goto(server)
    nav(page, "Data")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(zipped))
    settle(page)
    expect(page.get_by_text(re.compile(r"Stored shapes\.zip"))).to_be_visible()
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("shapes.zip (uploaded)")
    expect(page.get_by_test_id("stMetricValue").filter(has_text=re.compile(r"^36$"))).to_be_visible()  # images
    expect(page.get_by_text(re.compile(r"^a · 12 images$"))).to_be_visible()  # the sample grid, per class
    expect(page.get_by_test_id("stMetricValue").filter(has_text=re.compile(r"^2$"))).to_be_visible()  # skipped
    screenshot(page, "data_images")

    nav(page, "Train")
    expect(page.get_by_text(re.compile(r"Data: shapes\.zip \(uploaded\) · predict label · task multiclass"))).to_be_visible()
    expect(page.get_by_role("combobox", name="Model")).to_have_value("Convolutional network (CNN)")
    page.get_by_text("Image augmentation").click()
    settle(page)
    page.get_by_text("Colour jitter", exact=True).first.click()  # the checkbox; the slider has the label too
    settle(page)
    expect(page.get_by_text(re.compile("as random training batches would show it"))).to_be_visible()
    type_into(page, "Epochs", "8")
    type_into(page, "Learning rate", "0.01")
    type_into(page, "Run name", "e2e-images")
    page.get_by_role("combobox", name="Device").click()
    page.get_by_role("option", name=re.compile(r"^CPU")).click()
    settle(page)
    page.get_by_role("button", name="Start training").click()
    settle(page)
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=2 * RUN_S)
    screenshot(page, "train_images")

    nav(page, "Explain")
    expect(page.get_by_role("heading", name="Explain", exact=True)).to_be_visible()
    page.get_by_role("button", name="Explain with SHAP").click()
    settle(page)
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".some(el => (el.data || []).some(t => t.type === 'image'))", timeout=RUN_S)
    screenshot(page, "explain_images")
    assert list(page.console_errors) == [], "browser console errors:\n" + "\n".join(page.console_errors)

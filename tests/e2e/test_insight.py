"""Insight in the browser, as cheaply as it goes: repeats give mean ± std, a confusion-matrix cell opens
its rows, try-it follows a typed value, and a live run pauses, takes a new learning rate, resumes and
completes. One iris logistic run (the CLI, in the server's workspace) serves the gallery and try-it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app_server import ROOT
from tests.e2e.conftest import _SERVER, screenshot, settle
from tests.e2e.test_app import nav, type_into

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

RUN = "e2e-insight"
WAIT = 90_000  # ms: a worker's start (it imports torch) and a few seconds of training, on a slow machine


@pytest.fixture(scope="module")
def trained(server: str) -> str:
    """An iris logistic run (L-BFGS: under a second of training) for the gallery and try-it."""
    home = _SERVER["log"].parent
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "train", "--data", "iris", "--model", "logistic",
                          "--device", "cpu", "--name", RUN, "--json", "--quiet", "--workspace", str(home)],
                         cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "WORKBENCH_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])["run_id"]


def pick_iris(page: Page) -> None:
    nav(page, "Data")
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="iris", exact=True).click()
    settle(page)
    nav(page, "Train")
    expect(page.get_by_text(re.compile(r"Data: iris · predict species"))).to_be_visible()


def choose(page: Page, box: str, option: str | re.Pattern[str]) -> None:
    page.get_by_role("combobox", name=box).click()
    page.get_by_role("option", name=option).first.click()
    settle(page)
    if box == "Selected runs":  # a multiselect stays open for more
        page.keyboard.press("Escape")
        settle(page)


def test_gallery_and_try_it(page: Page, server: str, trained: str) -> None:
    page.goto(server)
    nav(page, "Runs")
    choose(page, "Selected runs", re.compile(RUN))
    expect(page.get_by_role("heading", name=re.compile(RUN))).to_be_visible()
    # a click on a confusion-matrix cell (the marker over it carries [true, predicted]) lists its test rows
    chart = page.locator(".js-plotly-plot").filter(has=page.locator("text=Predicted")).first
    chart.scroll_into_view_if_needed()
    point = chart.locator("g.scatterlayer path.point").first
    box = point.bounding_box()
    assert box, "the confusion matrix has no clickable markers"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page)
    expect(page.get_by_role("heading", name="Error gallery")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text(re.compile(r"True \w+, predicted \w+: \d+ test rows? \((right|wrong)\)"))).to_be_visible()

    # try it: a typed petal length moves the prediction
    nav(page, "Export")
    choose(page, "Run", re.compile(RUN))
    expect(page.get_by_role("heading", name="Try it")).to_be_visible()
    answer = page.get_by_test_id("stMetric").filter(has_text="Predicted species")
    type_into(page, "petal_length", "1")
    type_into(page, "petal_width", "0.2")
    expect(answer).to_contain_text("setosa")
    type_into(page, "petal_length", "6.5")
    type_into(page, "petal_width", "2.3")
    expect(answer).to_contain_text("virginica")


def test_repeats_then_pause_change_lr_and_resume(page: Page, server: str) -> None:
    t0 = time.monotonic()

    def step(what: str) -> None:  # shown with -s: where the time goes
        print(f"[e2e {time.monotonic() - t0:6.1f} s] {what}")

    page.goto(server)
    pick_iris(page)
    page.get_by_role("combobox", name="Device").click()
    page.get_by_role("option", name=re.compile(r"^CPU")).click()
    settle(page)
    page.get_by_text("Early stopping", exact=True).click()
    settle(page)
    type_into(page, "Batch size", "8")
    # three seeds of the default MLP, 5 epochs each: mean ± std for the group
    type_into(page, "Epochs", "5")
    page.get_by_text("Repeat with several seeds", exact=True).click()
    settle(page)
    type_into(page, "Seeds", "3")
    page.get_by_role("button", name="Start training").click()
    settle(page)
    stats = page.get_by_test_id("stDataFrame").filter(has_text="mean ± std")
    expect(page.get_by_text(re.compile(r"3 seeds \(.*\) on one split: 3 of 3 done · completed"))).to_be_visible(
        timeout=3 * WAIT)
    expect(stats.locator("[data-testid^='glide-cell']").filter(has_text=re.compile(r"^\d\.\d{4} ± \d\.\d{4}$"))
           .first).to_be_attached()
    screenshot(page, "train_repeats")
    step("repeats done")

    # a long run: pause it, change its learning rate while paused, resume, and it completes
    page.get_by_text("Repeat with several seeds", exact=True).click()
    settle(page)
    type_into(page, "Epochs", "120")
    type_into(page, "Learning rate", "0.01")
    type_into(page, "Run name", "e2e-steer")
    page.get_by_role("button", name="Start training").click()
    settle(page)
    page.wait_for_function("() => /Epoch [1-9]\\d* \\/ 120/.test(document.body.innerText)", timeout=WAIT)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text(re.compile(r"Paused at epoch \d+ of 120"))).to_be_visible(timeout=WAIT)
    step("paused")
    new_lr = page.get_by_label("New learning rate", exact=True)
    new_lr.fill("0.002")
    new_lr.press("Enter")
    page.get_by_role("button", name="Change learning rate").click()
    expect(page.get_by_text(re.compile(r"learning rate 0\.01 → 0\.002 from the step after"))).to_be_visible(
        timeout=WAIT)
    screenshot(page, "train_paused")
    step("learning rate changed")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=2 * WAIT)
    step("completed")
    settle(page)
    # the change is marked on the curves: a dotted line at the epoch it applied
    marked = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".filter(el => (el.layout.shapes || []).length > 0).length")
    assert marked >= 1
    assert not [e for e in page.console_errors if "Failed to load resource" not in e], page.console_errors

"""The whole app once in a real browser: Data -> Train (live curves) -> a second run -> Runs -> Home."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, settle

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

RUN_S = 90_000  # ms: worker start (imports torch) plus a few seconds of training, with room for a slow machine


def nav(page: Page, title: str) -> None:
    settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    settle(page)


def type_into(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")  # Streamlit commits a typed value on Enter or blur
    settle(page)
    expect(page.get_by_label(label, exact=True)).to_have_value(value)


def run_card_title(page: Page, name: str):
    """A run's name in bold at the top of its card in the live panel."""
    return page.locator("strong").get_by_text(name, exact=True)


def live_epoch(page: Page) -> int:
    """The epoch the live progress bar shows (0 before the first one)."""
    text = " ".join(page.get_by_test_id("stProgress").all_inner_texts())
    match = re.search(r"Epoch (\d+) / \d+", text)
    return int(match.group(1)) if match else 0


def chart_points(page: Page) -> int:
    """Points drawn in all plotly charts on the page (Plotly keeps the traces on the chart's div)."""
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".reduce((n, el) => n + (el.data || []).reduce((m, t) => m + (t.x ? t.x.length : 0), 0), 0)")


def start_run(page: Page, name: str, lr: str, epochs: str) -> None:
    type_into(page, "Epochs", epochs)
    type_into(page, "Learning rate", lr)
    type_into(page, "Run name", name)
    page.get_by_role("button", name="Start training").click()
    settle(page)
    expect(run_card_title(page, name)).to_be_visible()


def test_data_train_live_runs(page: Page, server: str) -> None:
    t0 = time.monotonic()

    def step(what: str) -> None:  # shown with -s: where the time goes
        print(f"[e2e {time.monotonic() - t0:6.1f} s] {what}")

    page.goto(server)
    expect(page.get_by_role("heading", name="Workbench", exact=True)).to_be_visible()
    expect(page.get_by_text("Training device")).to_be_visible()
    expect(page.get_by_text("No runs yet")).to_be_visible()
    step("home")

    # Data: the iris sample, predicting species (its default target)
    nav(page, "Data")
    expect(page.get_by_role("heading", name="4. Data checks")).to_be_visible()
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="iris", exact=True).click()
    settle(page)
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("iris")
    expect(page.get_by_role("combobox", name="Target column")).to_have_value("species")
    expect(page.get_by_test_id("stCaptionContainer").filter(has_text="Fisher's iris flowers")).to_be_visible()
    screenshot(page, "data")
    step("data")

    # Train: a small MLP, long enough to watch it learn
    nav(page, "Train")
    expect(page.get_by_text(re.compile(r"Data: iris · predict species"))).to_be_visible()
    type_into(page, "Hidden layer sizes", "16, 16")
    type_into(page, "Batch size", "8")
    page.get_by_text("Early stopping", exact=True).click()
    settle(page)
    expect(page.get_by_label("Patience (epochs)", exact=True)).to_have_count(0)
    # 400 epochs of 13 steps on the CPU: several seconds on an idle machine, so the live panel has
    # time to move (a GPU would be too quick for a model this small)
    page.get_by_role("combobox", name="Device").click()
    page.get_by_role("option", name=re.compile(r"^CPU")).click()
    settle(page)
    start_run(page, "e2e-first", "0.001", "400")

    step("first run started")
    # the live panel gains points while the run goes
    page.wait_for_function("() => /Epoch [1-9]\\d* \\/ 400/.test(document.body.innerText)", timeout=RUN_S)
    first_epoch, first_points = live_epoch(page), chart_points(page)
    page.wait_for_function(
        f"() => {{ const m = document.body.innerText.match(/Epoch (\\d+) \\/ 400/);"
        f" return m && Number(m[1]) > {first_epoch}; }}", timeout=RUN_S)
    assert live_epoch(page) > first_epoch
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('.js-plotly-plot')).reduce((n, el) => n + (el.data || [])"
        f".reduce((m, t) => m + (t.x ? t.x.length : 0), 0), 0) > {first_points}", timeout=RUN_S)
    expect(page.get_by_text("Time left")).to_be_visible()
    expect(page.get_by_text("Samples / s")).to_be_visible()
    expect(page.locator(".js-plotly-plot")).to_have_count(2)  # loss and accuracy
    screenshot(page, "train_live")

    step(f"live panel moved past epoch {first_epoch}")
    # completed: test metric cards and the way to its evaluation
    expect(page.get_by_text("Test accuracy")).to_be_visible(timeout=2 * RUN_S)
    expect(page.get_by_role("button", name="Open its evaluation on the Runs page")).to_be_visible()
    screenshot(page, "train")
    step("first run completed")

    # a second run with another learning rate, short: it only has to exist. Waiting for it to end
    # keeps the page switches below free of live polling (Streamlit can misplace a late fragment
    # tick that races a page switch).
    start_run(page, "e2e-second", "0.01", "15")
    expect(page.get_by_role("button", name="Open its evaluation on the Runs page")).to_have_count(2, timeout=RUN_S)
    step("second run completed")

    # the first run's button selects it and opens the Runs page (finished cards: newest first)
    settle(page)
    page.get_by_role("button", name="Open its evaluation on the Runs page").nth(1).click()
    settle(page)
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"e2e-first"))).to_be_visible()
    table = page.get_by_test_id("stDataFrame").first
    for name in ("e2e-first", "e2e-second"):
        # the grid draws on a canvas; its hidden accessible cells carry the text
        cells = table.locator("[data-testid^='glide-cell']").filter(has_text=re.compile(f"^{re.escape(name)}$"))
        expect(cells).to_have_count(1)
    screenshot(page, "runs_selected")  # runs.png belongs to the Runs page's own shots
    step("runs")

    # back on Train, the finished runs are still there (state lives in the store and the session)
    nav(page, "Train")
    expect(run_card_title(page, "e2e-first")).to_be_visible()

    # Home lists the latest runs
    nav(page, "Home")
    expect(page.get_by_role("heading", name="Latest runs")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").locator("[data-testid^='glide-cell']")
           .filter(has_text=re.compile(r"^e2e-second$"))).to_have_count(1)
    screenshot(page, "home")
    step("home again")

    assert list(page.console_errors) == [], "browser console errors:\n" + "\n".join(page.console_errors)

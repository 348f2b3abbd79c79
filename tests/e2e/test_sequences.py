"""A time series in a real browser: Data (read as a daily series) -> Train (an LSTM) -> Runs (beside the
baselines, the forecast drawn) -> Explain (the step x column heat map) -> Export (a window of rows)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, settle
from tests.e2e.test_app import nav, type_into

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

RUN_S = 120_000  # ms: the worker's start (torch imports) and a few epochs of an LSTM on 2 busy cores


def pick(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)
    expect(page.get_by_role("combobox", name=label)).to_have_value(option)


def test_forecast_a_daily_series_in_the_browser(page: Page, server: str) -> None:
    page.goto(server)
    nav(page, "Data")
    pick(page, "Dataset", "seattle_weather")
    expect(page.get_by_role("combobox", name="Target column")).to_have_value("temp_max")  # the sample's target
    expect(page.get_by_role("combobox", name="Time column")).to_have_value("date")
    expect(page.get_by_text("Training windows")).to_be_visible()
    expect(page.get_by_text(re.compile("no window reaches across two of them"))).to_be_visible()
    screenshot(page, "data_sequences")

    nav(page, "Train")
    expect(page.get_by_text(re.compile(r"Data: seattle_weather · predict temp_max"))).to_be_visible()
    pick(page, "Model", "LSTM")
    page.get_by_role("combobox", name="Device").click()
    page.get_by_role("option", name=re.compile(r"^CPU")).click()
    settle(page)
    type_into(page, "Epochs", "3")
    type_into(page, "Run name", "e2e-lstm")
    page.get_by_role("button", name="Start training").click()
    settle(page)
    expect(page.get_by_role("button", name="Open its evaluation on the Runs page")).to_be_visible(timeout=RUN_S)
    screenshot(page, "train_sequences")

    page.get_by_role("button", name="Open its evaluation on the Runs page").first.click()
    settle(page)
    expect(page.get_by_role("heading", name="Against the baselines (test)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"The network (beats|does not beat) persistence"))).to_be_visible()
    forecast = page.locator(".js-plotly-plot").filter(has=page.locator("text=this network"))
    expect(forecast.first).to_be_visible()
    screenshot(page, "runs_forecast")

    nav(page, "Explain")
    expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile("^e2e-lstm"))  # the latest run
    expect(page.get_by_role("heading", name="Which steps and columns matter")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile("integrated gradients"))).to_be_visible()
    screenshot(page, "explain_sequences")

    nav(page, "Export")
    expect(page.get_by_text(re.compile("leaves as the bundle"))).to_be_visible()
    expect(page.get_by_role("button", name="Download bundle (.zip)")).to_be_visible()
    screenshot(page, "export_sequences")
    assert list(page.console_errors) == [], "browser console errors:\n" + "\n".join(page.console_errors)

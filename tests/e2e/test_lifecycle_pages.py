"""After training, in the browser: optimise a digits MLP, monitor it while `workbench serve` answers
200 rows with two shifted columns and their labels, check a batch of new rows, fine-tune on them,
and see the new run's parent on the Runs page."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from core.runs.store import RunStore
from core.vocab import ACTIVE
from tests.e2e.app_server import ROOT, free_port
from tests.e2e.conftest import _SERVER, screenshot, settle
from tests.e2e.test_app import nav
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

SHIFTED = ("px_2_3", "px_5_4")
RUN = "e2e-digits"


def _cli(home: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "workbench.cli", *args, "--workspace", str(home)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "WORKBENCH_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _serve_and_feed(home: Path, run_id: str, rows: pd.DataFrame, labels: pd.Series) -> None:
    """`workbench serve RUN` in its own process: 200 rows to /predict, then their labels to /feedback."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", run_id, "--port", str(port),
                             "--workspace", str(home)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "WORKBENCH_HOME": str(home)}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    assert json.loads(answer.read())["recording"] is True
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "workbench serve did not answer within 90 s"
                time.sleep(0.3)
        ids = []
        for start in range(0, len(rows), 100):
            ids += _post(f"{url}/predict", {"records": rows.iloc[start:start + 100].to_dict("records")})["ids"]
        stored = _post(f"{url}/feedback", {"feedback": [{"id": i, "label": str(y)} for i, y in zip(ids, labels)]})
        assert stored["stored"] == len(rows)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_optimize_monitor_feed_back(page: Page, server: str, tmp_path: Path) -> None:
    home = _SERVER["log"].parent
    made = _cli(home, "train", "--data", "digits", "--model", "mlp", "--epochs", "15", "--device", "cpu", "--name", RUN,
                "--quiet", "--json")
    run_id = json.loads(made.strip().splitlines()[-1])["run_id"]
    digits = pd.read_csv(ROOT / "sample_data" / "digits.csv")
    rows = digits.sample(200, random_state=3).reset_index(drop=True)
    labels = rows.pop("label")
    for column in SHIFTED:
        rows[column] = np.clip(rows[column] + 8, 0, 16)
    _serve_and_feed(home, run_id, rows, labels)

    # Optimize: 50% pruning with 3 fine-tune epochs and int8, in the background; the table fills in
    page.goto(server)
    nav(page, "Optimize")
    expect(page.get_by_role("heading", name="Optimize", exact=True)).to_be_visible()
    expect(page.get_by_text("No variants yet")).to_be_visible()
    page.get_by_role("button", name="Optimise").click()
    settle(page)
    expect(page.get_by_role("heading", name="Trade-offs")).to_be_visible(timeout=180_000)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)  # the trade-off table (drawn on a canvas)
    expect(page.get_by_role("heading", name=re.compile("against sparsity"))).to_be_visible()
    # the chart's one line: the float32 model at 0% and the pruned variant at 50%
    page.wait_for_function("() => { const el = document.querySelector('.js-plotly-plot');"
                           " return el && el.data && el.data.length === 1 && el.data[0].x.length === 2"
                           " && Math.round(el.data[0].x[1]) === 50; }", timeout=30_000)
    screenshot(page, "optimize")

    # Monitor: what the server recorded
    nav(page, "Monitor")
    expect(page.get_by_text(re.compile(r"2 of 64 columns have drifted: px_2_3, px_5_4|2 of 64 columns have drifted: "
                                       r"px_5_4, px_2_3"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Live accuracy")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("200")
    screenshot(page, "monitor")

    # a batch of new labelled rows: predictions and the same drift report, then fine-tune on them
    batch = tmp_path / "new_digits.csv"
    digits.sample(300, random_state=4).to_csv(batch, index=False)
    page.get_by_role("tab", name="Check new rows").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(batch))
    settle(page)
    expect(page.get_by_role("heading", name="Predictions for 300 rows")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("None of the 64 columns has drifted")).to_be_visible()
    page.get_by_role("tab", name="Feed back").click()
    page.get_by_role("button", name="Fine-tune on the uploaded rows").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"Run e2e-digits-ft is queued"))).to_be_visible()

    # Runs: the new run names its parent
    nav(page, "Runs")
    table = page.get_by_test_id("stDataFrame").first
    expect(table.locator("[data-testid^='glide-cell']").filter(has_text=re.compile(r"^e2e-digits-ft$"))) \
        .to_have_count(1)
    expect(table.locator("[data-testid^='glide-cell']").filter(has_text=re.compile(r"^e2e-digits$"))) \
        .not_to_have_count(0)
    # let the fine-tune finish, so no worker outlives the test's checks (read in this process: a `workbench
    # runs` per poll would cost seconds of start-up each, and the CLI's listing is tests/test_cli_train.py's)
    store = RunStore(home)
    try:
        child = wait_for(lambda: next((r for r in store.list_runs() if r.name == "e2e-digits-ft"
                                       and r.status not in ACTIVE), None), 120, interval_s=0.5,
                         what="the fine-tune run ending")
        assert child.status == "completed", (child.status, child.status_reason)
    finally:
        store.close()
    assert list(page.console_errors) == [], "browser console errors:\n" + "\n".join(page.console_errors)

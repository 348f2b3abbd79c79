"""User strings never render as HTML: script and img payloads in a CSV's column names and cells,
in the uploaded file's name, and in a run's name (made with the CLI's --name).

The real server in a real browser. It has a workspace of its own (not the shared e2e server's),
so the hostile run and upload cannot show up in other browser tests.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.app_server import ROOT, VIEWPORT, start_app
from tests.e2e.conftest import settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

MARK = "wbxss"
SCRIPT = f"<script>alert('{MARK}-script')</script>"
IMG = f"<img src=x onerror=alert('{MARK}-img')>"
RUN_NAME = f"<img src=x onerror=alert('{MARK}-run')>run"
FILE_NAME = f"<img src=x onerror=alert('{MARK}-file')>.csv"


def hostile_csv() -> bytes:
    header = ["x1", SCRIPT, IMG, "always", "y"]
    rows = [",".join(header)]
    for i in range(60):
        cell = IMG if i % 2 else SCRIPT
        rows.append(f"{i * 0.37:.2f},{i % 5},\"{cell}\",\"{IMG}\",{'yes' if (i * 7) % 3 else 'no'}")
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server with its own workspace, holding one run named with a payload (made by the CLI)."""
    home = tmp_path_factory.mktemp("xss-home")
    data = home / "hostile.csv"
    data.write_bytes(hostile_csv())
    app = start_app(home)
    try:
        made = subprocess.run([sys.executable, "-m", "workbench.cli", "train", "--data", str(data), "--target", "y",
                               "--epochs", "1", "--quiet", "--name", RUN_NAME, "--json"], cwd=ROOT,
                              env={**os.environ, "WORKBENCH_HOME": str(home)}, capture_output=True, text=True,
                              timeout=240)
        assert made.returncode == 0, made.stderr
        app.wait_healthy(120)
        yield app.url, home
    finally:
        app.stop()


@pytest.fixture
def watched(browser) -> Iterator[tuple[object, list[str]]]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()
    page.on("dialog", on_dialog)
    yield page, dialogs
    context.close()


def injected(page) -> dict[str, int]:
    """Elements a payload would have made had it been rendered as HTML."""
    return page.evaluate("""(mark) => ({
        img_src_x: document.querySelectorAll('img[src="x"]').length,
        onerror: document.querySelectorAll('[onerror]').length,
        scripts: Array.from(document.querySelectorAll('script')).filter(s => s.textContent.includes(mark)).length,
        iframes: Array.from(document.querySelectorAll('iframe')).filter(f => (f.srcdoc || '').includes(mark)).length,
    })""", MARK)


def assert_safe(page, dialogs: list[str], where: str) -> None:
    settle(page)
    assert dialogs == [], f"{where}: a payload ran: {dialogs}"
    assert injected(page) == {"img_src_x": 0, "onerror": 0, "scripts": 0, "iframes": 0}, where


def nav(page, title: str) -> None:
    settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    settle(page)


def test_payloads_render_as_text(hostile: tuple[str, Path], watched) -> None:
    url, _ = hostile
    page, dialogs = watched
    page.goto(url)
    settle(page)
    assert_safe(page, dialogs, "home")

    nav(page, "Data")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": FILE_NAME, "mimeType": "text/csv", "buffer": hostile_csv()})
    settle(page)
    page.get_by_text("Stored", exact=False).first.wait_for()
    assert_safe(page, dialogs, "data page after the upload")
    # The payloads are on the page as text: in the upload message and the data checks (the column
    # of payloads is free text, so it starts ignored and its findings sit in the 'left out' expander)
    page.get_by_text("Left out of training", exact=False).first.click()
    settle(page)
    assert_safe(page, dialogs, "data page with the left-out findings open")
    body = page.inner_text("body")
    assert f"onerror=alert('{MARK}-img')" in body, "the column names should show, as text"
    assert "<img src=x" in body

    nav(page, "Runs")
    page.get_by_role("combobox", name="Selected runs").click()
    page.get_by_role("option").filter(has_text=f"{MARK}-run").first.click()
    settle(page)
    page.keyboard.press("Escape")
    settle(page)
    assert_safe(page, dialogs, "runs page with the run open")
    assert f"onerror=alert('{MARK}-run')" in page.inner_text("body"), "the run name should show, as text"

    nav(page, "Home")
    assert_safe(page, dialogs, "home with the run listed")


MD_IMAGE = f"![{MARK}-md](x)"


def test_markdown_in_user_strings_makes_no_elements(hostile: tuple[str, Path], watched) -> None:
    """Markdown is a second way in: st.error, st.header and st.markdown render it, so a column
    named ![a](x) would become <img src=x> (a request the page never meant to make)."""
    from core.runs.store import RunStore

    url, home = hostile
    store = RunStore(home)
    store.create_run({"data": {"source": "iris", "target": "species"}}, name=MD_IMAGE, status="failed")
    store.close()
    page, dialogs = watched
    page.goto(url)
    nav(page, "Data")
    data = (f"x,{MD_IMAGE},y\n" + "".join(f"{i},7,{i % 2}\n" for i in range(40))).encode()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": f"{MD_IMAGE}.csv", "mimeType": "text/csv", "buffer": data})
    settle(page)
    page.get_by_text("Stored", exact=False).first.wait_for()
    assert_safe(page, dialogs, "data page, Markdown in a column name")
    assert f"{MARK}-md" in page.inner_text("body"), "the column name should show, as text"
    nav(page, "Runs")
    page.get_by_role("combobox", name="Selected runs").click()
    page.get_by_role("option").filter(has_text=f"{MARK}-md").first.click()
    settle(page)
    page.keyboard.press("Escape")
    assert_safe(page, dialogs, "runs page, Markdown in a run name")
    assert f"{MARK}-md" in page.inner_text("body"), "the run name should show, as text"

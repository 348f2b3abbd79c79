"""Screenshots of the insight views (importance over time, compare runs, decision boundary, network,
the live boundary): `python tests/e2e/shoot_insight_views.py` writes them to docs/screenshots/.
Not a test (the browser suite is over its budget); run it after changing these views."""
import os, re, sys, tempfile
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WORKBENCH_SCREENSHOTS", "docs/screenshots")
from playwright.sync_api import expect
from tests.e2e.app_server import app_page
from tests.e2e.conftest import screenshot, settle
from core.config import *
from core.engine import Engine
from core.runs.execute import execute_run

home = Path(tempfile.mkdtemp(prefix="wb-shots-"))
os.environ["WORKBENCH_HOME"] = str(home)
e = Engine(home)
for kind, name, params, epochs in (("logistic", "iris-logistic", {}, 40), ("mlp", "iris-mlp-2-epochs", {"hidden_sizes": [16, 16]}, 2), ("mlp", "iris-mlp", {"hidden_sizes": [16, 16]}, 40)):
    c = RunConfig(data=DataConfig(source="iris", target="species"), model=ModelConfig(kind=kind, params=params),
                  optim=OptimConfig(lr=0.01), train=TrainConfig(epochs=epochs, device="cpu", early_stopping=False), name=name)
    r = e.store.create_run(c.to_dict(), model=kind, dataset="iris", name=name)
    assert execute_run(e.store, e.catalog, r) == "completed"
e.close()
with app_page(home, timeout_ms=90_000) as page:
    def nav(title):
        settle(page); page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click(); settle(page)
    def choose(label, option):
        page.get_by_role("combobox", name=label).click(); page.get_by_role("option", name=option, exact=True).click(); settle(page)
    settle(page)
    if not os.environ.get("ONLY_LIVE"):
      nav("Explain")
      page.get_by_role("tab", name="Over time").click(); settle(page)
      expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
      screenshot(page, "explain_over_time"); print("over time")
      page.get_by_role("tab", name="Compare runs").click(); settle(page)
      page.get_by_role("button", name="Explain both").click(); settle(page)
      expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)
      screenshot(page, "explain_compare"); print("compare")
      page.get_by_role("tab", name="Decision boundary").click(); settle(page)
      choose("Across", "petal_length"); choose("Up", "petal_width")
      expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
      screenshot(page, "explain_boundary"); print("boundary")
    nav("Train")
    page.get_by_text("The network", exact=True).click(); settle(page)
    screenshot(page, "train_network"); print("network")
    page.get_by_text("The network", exact=True).click(); settle(page)
    for label, value in (("Epochs", "1500"), ("Batch size", "8"), ("Run name", "live-boundary")):
        box = page.get_by_label(label, exact=True); box.fill(value); box.press("Enter"); settle(page)
    page.get_by_text("Early stopping", exact=True).click(); settle(page)
    page.get_by_role("combobox", name="Device").click(); page.get_by_role("option", name=re.compile(r"^CPU")).click(); settle(page)
    page.get_by_role("button", name="Start training").click(); settle(page)
    page.get_by_text("Show the decision boundary", exact=True).click(); settle(page)
    page.wait_for_function("() => /Epoch [1-9]\\d* \\/ 1500/.test(document.body.innerText)")
    choose("Across", "petal_length"); choose("Up", "petal_width")
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(el => /Decision boundary at epoch (\\d\\d+) \\(training\\)/.test(((el.layout || {}).title || {}).text || ''))")
    screenshot(page, "train_boundary_live"); print("live")

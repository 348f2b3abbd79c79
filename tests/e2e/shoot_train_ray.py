"""The Train page with a Ray cluster configured (WORKBENCH_RAY_ADDRESS; no head needed to draw it):
`python tests/e2e/shoot_train_ray.py` writes docs/screenshots/train_ray.png. Not a test (the browser suite is
over its budget; tests/test_pages_train.py checks the choice)."""
import os, shutil, sys, tempfile
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["WORKBENCH_SCREENSHOTS"] = "docs/screenshots"
from playwright.sync_api import expect
from tests.e2e.app_server import app_page
from tests.e2e.conftest import screenshot, settle
home = Path(tempfile.mkdtemp(prefix="wb-shots-"))
try:
    with app_page(home, {"WORKBENCH_RAY_ADDRESS": "http://ray-head:8265"}, timeout_ms=180_000) as page:
        settle(page)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train", exact=True).click(); settle(page)
        expect(page.get_by_text("Train on", exact=True)).to_be_visible(timeout=120_000); settle(page)
        screenshot(page, "train_ray"); print("shot")
finally:
    shutil.rmtree(home, ignore_errors=True)

"""The Train page with a Ray cluster configured (WORKBENCH_RAY_ADDRESS; no head needed to draw it):
`python tests/e2e/shoot_train_ray.py` writes docs/screenshots/train_ray.png. Not a test (the browser suite is
over its budget; tests/test_pages_train.py checks the choice)."""
import os, shutil, signal, subprocess, sys, tempfile, time, socket, urllib.request
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["WORKBENCH_SCREENSHOTS"] = "docs/screenshots"
from playwright.sync_api import sync_playwright, expect
from tests.e2e.conftest import CHROMIUM_ARGS, VIEWPORT, screenshot, settle
home = Path(tempfile.mkdtemp(prefix="wb-shots-"))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
url = f"http://127.0.0.1:{port}"
env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONUNBUFFERED": "1", "WORKBENCH_RAY_ADDRESS": "http://ray-head:8265"}
proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "ui", "--headless", "--port", str(port)], cwd=str(ROOT),
                        env=env, stdout=open(home / "server.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
def healthy():
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200
    except OSError:
        return False
try:
    t = time.monotonic()
    while not healthy():
        assert time.monotonic() - t < 180; time.sleep(0.3)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = b.new_context(viewport=VIEWPORT).new_page(); page.set_default_timeout(120_000)
        page.goto(url); settle(page)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train", exact=True).click(); settle(page)
        expect(page.get_by_text("Train on", exact=True)).to_be_visible(timeout=120_000); settle(page)
        screenshot(page, "train_ray"); print("shot")
        b.close()
finally:
    os.killpg(proc.pid, signal.SIGTERM); proc.wait(10); shutil.rmtree(home, ignore_errors=True)

"""`workbench ui` (and plain `workbench`): the browser app on 127.0.0.1."""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import threading
import time
import urllib.request
import webbrowser
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
UPLOAD_MB = 200


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="open the workbench in the browser (default)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="bind address; anything but loopback exposes the app")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.add_argument("--workspace")


def streamlit_args(host: str, port: int, headless: bool) -> list[str]:
    """Safe server flags: loopback by default, XSRF on, no usage stats, no tracebacks to the browser."""
    return [
        "run", str(APP),
        "--server.address", host, "--server.port", str(port),
        # always headless: a non-headless first start asks for an e-mail on stdin and blocks `make run`;
        # the browser is opened by open_browser_when_ready instead
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        # Streamlit's gc.collect(2) after every script run walks the whole heap (torch, shap, plotly):
        # it was two thirds of the server's CPU per page switch; Python's own collector still runs
        "--runner.postScriptGC", "false",
        "--server.enableXsrfProtection", "true",
        "--server.maxUploadSize", str(UPLOAD_MB),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
        "--theme.base", "light",
    ]


def open_browser_when_ready(host: str, port: int, timeout_s: float = 60.0) -> None:
    """Open the user's browser once the server answers (no-op where there is no browser)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    else:
        return
    print(f"Workbench is running at {url}", file=sys.stderr)
    webbrowser.open(url)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host):
        print(f"workbench: warning: serving on {args.host} makes the workbench reachable from other machines; "
              "it has no login", file=sys.stderr)
    if args.workspace:
        os.environ["WORKBENCH_HOME"] = str(Path(args.workspace).resolve())
    from streamlit.web import cli as stcli

    if not args.headless:
        threading.Thread(target=open_browser_when_ready, args=(args.host, args.port), daemon=True).start()
    sys.argv = ["streamlit", *streamlit_args(args.host, args.port, args.headless)]
    return int(stcli.main() or 0)

"""Load test: 8 browser sessions click through every page while a run trains.

Starts the real server (`workbench ui --headless`, its own temp workspace) and trains runs
the way the UI does (RunManager -> worker process). First a run trains alone; its
throughput is measured over a window once it is warm. Then a second, identical run trains
while N Playwright contexts (one headless Chromium) each load every page in turn, with a
short think time, and its throughput is measured over a window while they do. Prints:

- every page answered: page loads that finished without an exception box, out of all;
- page load time: p50 / p95 / max, per page and overall (navigation until the Streamlit
  script run is over and nothing on the page is stale);
- training throughput under load vs alone (samples/s from the run's own progress).

The browsers run on the same machine as the server and the training (as they do for a
local workbench), so their CPU counts against both.

    python bench/load_test.py                      # 8 sessions, digits MLP 256x256, batch 32
    python bench/load_test.py --sessions 4 --window-s 30

Not part of `make test`: it takes a few minutes and its figures depend on the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (url path, the page's title); "" is Home
PAGES = (("", "Workbench"), ("data", "Data"), ("train", "Train"), ("runs", "Runs"), ("explain", "Explain"),
         ("export", "Export"), ("tune", "Tune"))
NAV_TITLES = {"": "Home"}  # the sidebar link's text where it differs from the page title
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
# the new page's title is drawn, its script run is over and nothing left from the last page is stale
SETTLED = ("(title) => { const app = document.querySelector('[data-testid=stApp]');"
           " const h1 = document.querySelector('[data-testid=stMain] h1');"
           " return app && app.getAttribute('data-test-script-state') === 'notRunning'"
           " && h1 && h1.textContent.trim().startsWith(title)"
           " && !document.querySelector('[data-stale=true]'); }")


@dataclass
class Loads:
    times: dict[str, list[float]] = field(default_factory=dict)
    first: list[float] = field(default_factory=list)  # opening the app: a full page load
    failures: list[str] = field(default_factory=list)

    def add(self, page: str, seconds: float) -> None:
        self.times.setdefault(page or "home", []).append(seconds)

    @property
    def all(self) -> list[float]:
        return [t for ts in self.times.values() for t in ts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def trained_samples(store, run_id: str) -> tuple[float, float]:
    """(samples trained so far, the trainer's own elapsed seconds) from the run's heartbeat."""
    p = store.get(run_id).progress
    done = ((p.get("epoch", 1) or 1) - 1) * p.get("steps_per_epoch", 0) + p.get("step", 0)
    return done * p.get("batch_size", 0), p.get("elapsed_s") or 0.0


def wait_warm(store, run_id: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while (store.get(run_id).progress.get("epoch") or 0) < 2:
        if time.monotonic() > deadline or store.get(run_id).status not in ("queued", "running"):
            raise SystemExit(f"the run did not get going: {store.get(run_id).status_reason}")
        time.sleep(0.2)  # polling the run's progress


CPU_GROUPS = (("browsers", "chrom"), ("server", "workbench.cli ui"), ("training", "core.runs.worker"))


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the browsers, the app server and the training worker (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {name: 0.0 for name, _ in CPU_GROUPS}
    used["everything"] = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        used["everything"] += seconds
        for name, marker in CPU_GROUPS:
            if marker in cmdline:
                used[name] += seconds
                break
    return used


def throughput(store, run_id: str, window_s: float) -> float:
    """Samples per second over the next `window_s` seconds of the trainer's own clock."""
    s0, t0 = trained_samples(store, run_id)
    time.sleep(window_s)  # the measurement window itself
    s1, t1 = trained_samples(store, run_id)
    return (s1 - s0) / (t1 - t0) if t1 > t0 else float("nan")


async def settled(page, title: str) -> None:
    """Wait until the page titled `title` has finished its script run and shows nothing stale."""
    await page.wait_for_function(SETTLED, arg=title)


async def session(browser, url: str, number: int, stop: asyncio.Event, loads: Loads, think_s: float) -> None:
    """One person: opens the app once (a full load), then moves between pages with the sidebar."""
    rng = random.Random(number)  # seeded think times: the same click rhythm on every run
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(120_000)
    order = PAGES[number % len(PAGES):] + PAGES[: number % len(PAGES)]  # sessions spread over the pages
    try:
        start = time.monotonic()
        await page.goto(f"{url}/{order[0][0]}")
        await settled(page, order[0][1])
        loads.first.append(time.monotonic() - start)
        while not stop.is_set():
            for path, title in order[1:] + order[:1]:
                if stop.is_set():
                    break
                if think_s:  # a person reads the page before the next click
                    try:
                        await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 1.5) * think_s)
                        break
                    except asyncio.TimeoutError:
                        pass
                start = time.monotonic()
                try:
                    await page.locator("[data-testid=stSidebarNav] a", has_text=NAV_TITLES.get(path, title)).first.click()
                    await settled(page, title)
                    crashed = await page.locator("[data-testid=stException]").count()
                except Exception as exc:  # noqa: BLE001 - a failed load is a figure, not a crash of the bench
                    if not stop.is_set():
                        loads.failures.append(f"session {number} /{path}: {type(exc).__name__}: {exc}"[:300])
                    continue
                if crashed:
                    text = await page.locator("[data-testid=stException]").first.inner_text()
                    loads.failures.append(f"session {number} /{path}: an exception box: {text[:400]}")
                    continue
                loads.add(path, time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001 - the first load failed: count it and end this session
        if not stop.is_set():
            loads.failures.append(f"session {number} first load: {type(exc).__name__}: {exc}"[:300])
    finally:
        await context.close()


def renice_clients(level: int) -> None:
    """Put every Chromium process, and its scheduler autogroup, at nice `level`.

    Chromium starts sessions of its own (its zygotes call setsid), and with Linux's autogroup the
    scheduler shares the CPU between sessions before it looks at processes, so the process nice
    alone would not hold the browsers back: the group's nice is set too."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"chrom" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            os.setpriority(os.PRIO_PROCESS, int(pid), level)
            Path(f"/proc/{pid}/autogroup").write_text(str(level))
        except OSError:  # ended meanwhile, or no autogroup on this kernel
            continue


async def keep_clients_niced(level: int, stop: asyncio.Event) -> None:
    while not stop.is_set():  # renderers start as sessions open pages
        renice_clients(level)
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def browse_while(url: str, args: argparse.Namespace, measure) -> tuple[Loads, float, dict[str, float]]:
    """N sessions browse; after `warm_s` the training throughput is measured, then they stop."""
    from playwright.async_api import async_playwright

    loads, stop = Loads(), asyncio.Event()
    async with async_playwright() as p:
        # --client-nice: the browsers stand in for people on their own machines, so they may be made to
        # take only the CPU the workbench leaves (the default, 0, lets them compete as a local user's would)
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tasks = [asyncio.create_task(session(browser, url, i, stop, loads, args.think_s))
                 for i in range(args.sessions)]
        if args.client_nice:
            tasks.append(asyncio.create_task(keep_clients_niced(args.client_nice, stop)))
        await asyncio.sleep(args.warm_s)  # let every session open its first page
        before, started = cpu_seconds(), time.monotonic()
        rate = await asyncio.to_thread(measure)
        after, wall = cpu_seconds(), time.monotonic() - started
        cores = {name: (after[name] - before[name]) / wall for name in after}
        stop.set()
        await asyncio.gather(*tasks)
        await browser.close()
    return loads, rate, cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--window-s", type=float, default=60.0, help="throughput window while browsing")
    parser.add_argument("--alone-window-s", type=float, default=20.0)
    parser.add_argument("--warm-s", type=float, default=10.0, help="browsing before the window opens")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="run the browsers at this nice level (e.g. 10: clients that stand in for other machines)")
    parser.add_argument("--think-s", type=float, default=2.0,
                        help="mean pause between page loads per session (0: load pages back to back)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--omp-wait-policy", choices=("worker", "default", "active", "passive"), default="worker",
                        help="worker: what the worker sets (passive); default: libgomp's own, as before it did")
    args = parser.parse_args()
    if args.omp_wait_policy != "worker":  # the worker only sets it when unset; "" means libgomp's default
        os.environ["OMP_WAIT_POLICY"] = "" if args.omp_wait_policy == "default" else args.omp_wait_policy.upper()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")

    home = Path(tempfile.mkdtemp(prefix="wb-load-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.engine import Engine

    config = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [256, 256]}),
                       train=TrainConfig(epochs=100_000, batch_size=args.batch_size, early_stopping=False,
                                         device="cpu", seed=0))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "workbench.cli", "ui", "--headless", "--port", str(port)],
                              cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    engine = Engine(home)
    loads = Loads()
    try:
        alone_id = engine.manager.submit(config, name="alone")
        wait_warm(engine.store, alone_id)
        alone = throughput(engine.store, alone_id, args.alone_window_s)
        engine.manager.stop(alone_id)
        engine.manager.wait(alone_id, 60)
        deadline = time.monotonic() + 120
        while not healthy(url):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start: {(home / 'server.log').read_text()[-1500:]}")
            time.sleep(0.2)  # polling the server's health
        loaded_id = engine.manager.submit(config, name="under-load")
        wait_warm(engine.store, loaded_id)
        started = time.monotonic()
        loads, loaded, cores = asyncio.run(browse_while(
            url, args, lambda: throughput(engine.store, loaded_id, args.window_s)))
        wall = time.monotonic() - started
        engine.manager.stop(loaded_id)
        engine.manager.wait(loaded_id, 60)
    finally:
        engine.close()
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        server_log = (home / "server.log").read_text(errors="replace")
        if loads.failures or "Traceback" in server_log:  # the browser is not told (tracebacks stay on the server)
            first = server_log.find("Traceback")
            print("server log:\n" + (server_log[first:first + 4000] if first >= 0 else server_log[-4000:]))
        shutil.rmtree(home, ignore_errors=True)

    times = loads.all
    total = len(times) + len(loads.failures)
    policy = {"worker": "PASSIVE (set by the worker)", "default": "libgomp default"}.get(
        args.omp_wait_policy, args.omp_wait_policy.upper())
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
          f"{args.sessions} browser sessions, think time ~{args.think_s:g} s, browsers on the same machine; "
          f"training: digits MLP 256x256, batch {args.batch_size}, CPU worker, OMP_WAIT_POLICY {policy}")
    print(f"page loads answered: {len(times)} / {total} ({len(loads.failures)} failed) in {wall:.0f} s")
    for failure in loads.failures[:10]:
        print(f"  failed: {failure}")
    print(f"page load time: p50 {statistics.median(times) if times else float('nan'):.2f} s, "
          f"p95 {percentile(times, 0.95):.2f} s, max {max(times, default=float('nan')):.2f} s")
    first = loads.first
    print(f"opening the app (full load, {len(first)} sessions): p50 "
          f"{statistics.median(first) if first else float('nan'):.2f} s, max {max(first, default=float('nan')):.2f} s")
    for path, ts in loads.times.items():
        print(f"  {path:<8} n={len(ts):<4} p50 {statistics.median(ts):.2f} s  p95 {percentile(ts, 0.95):.2f} s")
    print("CPU used during the window, in cores: " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()))
    print(f"training throughput: alone {alone:,.0f} samples/s, with {args.sessions} sessions {loaded:,.0f} "
          f"samples/s (ratio {loaded / alone:.2f})")
    print(json.dumps({"sessions": args.sessions, "loads": len(times), "failed": len(loads.failures),
                      "p50_s": statistics.median(times) if times else None, "p95_s": percentile(times, 0.95),
                      "max_s": max(times, default=None),
                      "first_load_max_s": max(first, default=None), "samples_per_s_alone": alone,
                      "samples_per_s_loaded": loaded, "throughput_ratio": loaded / alone,
                      "cores": {k: round(v, 3) for k, v in cores.items()}, "client_nice": args.client_nice,
                      "think_s": args.think_s}))


if __name__ == "__main__":
    main()

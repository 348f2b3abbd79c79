"""Load on the server, not on browsers: N Streamlit sessions over the app's own websocket protocol.

  python bench/load_protocol.py [--sessions 16] [--rounds 3] [--pages data,train,runs] [--train]
  python bench/load_protocol.py --url http://127.0.0.1:8501 ...   (a server already running)

Each session is what a browser tab is to the server: a websocket on /_stcore/stream speaking
BackMsg/ForwardMsg protobufs (streamlit.proto). It asks for the app, then for each page in turn
(rerun_script with the page's script hash, as the frontend does on navigation) and times each
request until the server's script_finished; it also reruns fragments when the server asks
(auto_rerun: the live panels' run_every), as the frontend would, and stops those timers where the
frontend does (on a page change and at the start of each full run: a timer kept after leaving the
Train page sent the server a fragment rerun every second that no browser sends). A session costs a few MB and
little CPU here, so 16 of them fit beside a training run on 2 cores.

--train: first trains a digits MLP alone (`workbench train ... --json`, samples/s), then the same
run while the sessions navigate; prints training speed under load / alone. Targets (issue 15):
page p95 < 1 s with 16 sessions, training >= 0.9x alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, "-m", "workbench.cli", "train", "--data", "digits", "--target", "label", "--model", "mlp",
         "--epochs", "8", "--batch-size", "32", "--no-early-stopping", "--device", "cpu", "--json"]


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


@dataclass
class Session:
    """One protocol client: what a browser tab does to the server, minus drawing."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)  # url_pathname -> page_script_hash
    times: list[tuple[str, float]] = field(default_factory=list)  # (page, seconds to script_finished)
    page_hash: str = ""
    _ws: object = None
    _finished: asyncio.Event = field(default_factory=asyncio.Event)
    _fragments: dict[str, asyncio.Task] = field(default_factory=dict)

    async def open(self) -> None:
        ws_url = self.url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit"], origin=self.url.rstrip("/"),
                                            max_size=None, ping_interval=None)
        self._reader = asyncio.create_task(self._read())

    async def visit(self, page: str) -> float:
        """Ask for `page` ("" for the app's default) and wait for its script to finish."""
        self.page_hash = self.pages.get(page, "")
        self._stop_fragments()  # as the frontend's onPageChange: the old page's timers go
        self._finished.clear()
        start = time.perf_counter()
        await self._send(page_hash=self.page_hash, page_name=page)
        await asyncio.wait_for(self._finished.wait(), 120)
        took = time.perf_counter() - start
        self.times.append((page or "home", took))
        return took

    async def close(self) -> None:
        self._stop_fragments()
        self._reader.cancel()
        await self._ws.close()

    async def _send(self, *, page_hash: str = "", page_name: str = "", fragment_id: str = "") -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = page_hash
        state.page_name = page_name
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        await self._ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        async for data in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._learn_pages(msg.new_session.app_pages)
                if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops every fragment timer
                    self._stop_fragments()
            elif kind == "navigation":
                self._learn_pages(msg.navigation.app_pages)
            elif kind == "script_finished":
                if msg.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                    self._finished.set()
            elif kind == "auto_rerun":
                fragment = msg.auto_rerun.fragment_id
                if fragment not in self._fragments:
                    self._fragments[fragment] = asyncio.create_task(self._poll(fragment, msg.auto_rerun.interval))
            elif kind == "stop_auto_rerun":  # fragments a fragment run no longer drew
                for fragment in msg.stop_auto_rerun.fragment_ids:
                    task = self._fragments.pop(fragment, None)
                    if task is not None:
                        task.cancel()

    def _stop_fragments(self) -> None:
        for task in self._fragments.values():
            task.cancel()
        self._fragments.clear()

    async def _poll(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._send(page_hash=self.page_hash, fragment_id=fragment)

    def _learn_pages(self, pages) -> None:
        for page in pages:
            self.pages[page.url_pathname] = page.page_script_hash


async def run_sessions(url: str, n: int, pages: list[str], rounds: int) -> list[tuple[str, float]]:
    sessions = [Session(url) for _ in range(n)]
    await asyncio.gather(*(s.open() for s in sessions))
    await asyncio.gather(*(s.visit("") for s in sessions))  # the app, as a browser's first load

    async def walk(session: Session) -> None:
        for _ in range(rounds):
            for page in pages:
                await session.visit(page)

    await asyncio.gather(*(walk(s) for s in sessions))
    await asyncio.gather(*(s.close() for s in sessions))
    return [t for s in sessions for t in s.times]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": home}
    from workbench.commands.ui import streamlit_args

    # the flags `workbench ui` serves with (among them no forced gc.collect(2) after each script run,
    # which was most of the server's CPU per page): the server measured is the one people get
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", *streamlit_args("127.0.0.1", port, True)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not start within 180 s")


def train(home: str) -> float:
    out = subprocess.run(TRAIN, cwd=ROOT, env={**os.environ, "WORKBENCH_HOME": home}, capture_output=True,
                         text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(times: list[tuple[str, float]]) -> dict[str, object]:
    seconds = [t for _, t in times]
    by_page: dict[str, list[float]] = {}
    for page, t in times:
        by_page.setdefault(page, []).append(t)
    return {"requests": len(seconds), "p50_s": round(statistics.median(seconds), 3),
            "p95_s": round(percentile(seconds, 0.95), 3), "max_s": round(max(seconds), 3),
            "p95_by_page": {p: round(percentile(v, 0.95), 3) for p, v in by_page.items()}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="a running app; else one is started in a throwaway workspace")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", default="data,train,runs")
    parser.add_argument("--train", action="store_true", help="training speed alone and under the sessions' load")
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    home = tempfile.mkdtemp(prefix="bench-load-")
    proc, url = (None, args.url) if args.url else start_app(home)
    try:
        log(load=os.getloadavg(), url=url, sessions=args.sessions, pages=pages, rounds=args.rounds)
        # one session through every page first, untimed: a server's first visit of a page imports its modules
        warm = summary(asyncio.run(run_sessions(url, 1, pages, 1)))
        log(step="warm-up (one session, not counted)", **warm)
        if not args.train:
            log(step="sessions", **summary(asyncio.run(run_sessions(url, args.sessions, pages, args.rounds))))
            return 0
        alone = train(home)
        log(step="training alone", samples_per_s=round(alone))
        box: dict[str, float] = {}
        trainer = __import__("threading").Thread(target=lambda: box.update(speed=train(home)))
        trainer.start()
        times: list[tuple[str, float]] = []
        while trainer.is_alive():  # keep the sessions going for the whole run
            times += asyncio.run(run_sessions(url, args.sessions, pages, 1))
        trainer.join()
        log(step="sessions while training", **summary(times))
        log(step="training under load", samples_per_s=round(box["speed"]), x_alone=round(box["speed"] / alone, 3),
            targets={"p95_s": 1.0, "x_alone": 0.9})
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())

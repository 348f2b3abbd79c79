"""A representative subset of the corpus through `workbench train ... --epochs 1 --quiet`.

Each file trains (exit 0) or is refused with exit 2 and one readable line on stderr; never a
traceback, never more than 10 s of CPU, and the process's peak memory stays under 2 GB.
Two runs at a time: each pays ~3 s of interpreter and torch start-up.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.robustness.corpus import Case, cases
from tests.robustness.readable import assert_readable

SUBSET = [c for c in cases() if c.cli]
CPU_LIMIT_S = 10.0  # on top of start-up, which is about 3 s of CPU
START_CPU_S = 4.0
WALL_LIMIT_S = 120.0  # a hang guard; on a shared machine CPU time is the fair bound
RSS_LIMIT_MB = 2048


@dataclass
class CliResult:
    code: int
    stderr: str
    cpu_s: float
    wall_s: float
    rss_mb: float


def _train(path: Path, target: str, home: Path) -> CliResult:
    home.mkdir(parents=True)
    out, err = home / "stdout.txt", home / "stderr.txt"
    start = time.monotonic()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "train", "--data", str(path), "--target", target,
             "--epochs", "1", "--quiet"],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
            env={**os.environ, "WORKBENCH_HOME": str(home / "ws"), "PYTHONWARNINGS": "default"},
        )
        # os.wait4 gives this child's own peak RSS and CPU time (RUSAGE_CHILDREN would mix them).
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > WALL_LIMIT_S:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)  # polling a child's exit, not waiting out a fixed delay
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping it again
    return CliResult(proc.returncode, err.read_text(errors="replace"), usage.ru_utime + usage.ru_stime,
                     time.monotonic() - start, usage.ru_maxrss / 1024)


@pytest.fixture(scope="module")
def results(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliResult]:
    root = tmp_path_factory.mktemp("cli")
    with ThreadPoolExecutor(2) as pool:
        futures = {c.name: pool.submit(_train, corpus[c.name], c.target, root / c.name) for c in SUBSET}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", SUBSET, ids=lambda c: c.name)
def test_cli(case: Case, results: dict[str, CliResult]) -> None:
    r = results[case.name]
    assert r.wall_s < WALL_LIMIT_S, f"{case.name} hung ({r.wall_s:.0f} s)"
    assert "Traceback" not in r.stderr, r.stderr
    assert r.cpu_s < START_CPU_S + CPU_LIMIT_S, f"{case.name}: {r.cpu_s:.1f} s CPU"
    assert r.rss_mb < RSS_LIMIT_MB, f"{case.name}: peak RSS {r.rss_mb:.0f} MB"
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    if case.refused:
        assert r.code == 2, f"{case.name}: exit {r.code}: {r.stderr}"
        assert len(lines) == 1, f"{case.name}: more than one line on stderr: {r.stderr!r}"
        assert lines[0].startswith("workbench: ")
        assert_readable(lines[0].removeprefix("workbench: "))
        assert case.message.lower() in lines[0].lower(), lines[0]
    else:
        assert r.code == 0, f"{case.name}: exit {r.code}: {r.stderr}"
        assert lines == [], f"{case.name}: stderr not empty: {r.stderr!r}"

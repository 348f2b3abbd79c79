"""Each hostile zip of issue 13 ends with exit 2 and one line, or loads without the bad entry: within
60 s, under 2 GB of memory, writing nothing outside the workspace."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.imagezips import hostile_zips

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter so that its peak memory is the hostile zips' alone, not the test session's.
SCRIPT = r"""
import contextlib, io, json, resource, sys, time
from workbench.cli import main
cases = json.loads(sys.argv[1])
out = {}
for name, path in cases.items():
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--data", path, "--model", "cnn", "--epochs", "1", "--device", "cpu", "--json",
                     "--quiet"])
    out[name] = {"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - started}
# VmHWM is this program's own peak: ru_maxrss keeps the forking parent's peak across exec on Linux
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
out["peak_rss_mb"] = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def test_hostile_zips_are_refused_in_one_line_or_load_without_the_bad_entry(tmp_path: Path):
    tag = uuid.uuid4().hex[:10]
    zips = hostile_zips(tmp_path / "in", tag)
    before = sorted(p.name for p in (tmp_path / "in").iterdir())
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_CPU_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps({k: str(p) for k, (p, _) in zips.items()})],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (_, expected) in zips.items():
        case = result[name]
        lines = [ln for ln in case["stderr"].splitlines() if ln.strip()]
        assert case["seconds"] < 60, (name, case)
        assert "Traceback" not in case["stderr"], (name, case["stderr"])
        if expected == "refused":
            assert case["code"] == 2 and len(lines) == 1 and lines[0].startswith("workbench: "), (name, case)
        else:
            assert case["code"] == 0, (name, case)
    assert "zip bomb" in result["deflate_bomb"]["stderr"]
    assert "climbs out" in result["zip_slip"]["stderr"] and "absolute" in result["absolute_name"]["stderr"]
    assert result["peak_rss_mb"] < 2048, result["peak_rss_mb"]
    # nothing written outside the workspace: not where the names point, not beside the zips, not in the cwd
    assert not Path(f"/tmp/wb-slip-{tag}.png").exists() and not Path(f"/tmp/wb-abs-{tag}.png").exists()
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "in"]

"""The Data page of a large table: first visit (load + profile) against later ones (cached).

  python bench/data_page.py [--rows 300000] [--repeats 3]

Writes a seeded table (numbers, categories, a few gaps) into a throwaway workspace's uploads,
opens the Data page in streamlit.testing.v1.AppTest, picks the file, then reruns the page and
switches tabs. Prints seconds per step as JSON lines; the target is <= 1 s after the first profile.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT / "workbench" / "app.py"


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": g.standard_normal(rows).round(4) for i in range(8)})
    frame["city"] = g.choice(["Oslo", "Lima", "Pune", "Kobe", "Graz"], rows)
    frame["grade"] = g.choice(list("ABCDEFG"), rows)
    frame["count"] = g.integers(0, 50, rows)
    frame.loc[g.random(rows) < 0.02, "x3"] = np.nan
    frame["label"] = np.where(frame.x0 + 0.5 * frame.x1 + g.standard_normal(rows) > 0, "yes", "no")
    return frame


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    log(load=os.getloadavg(), rows=args.rows)
    home = tempfile.mkdtemp(prefix="bench-data-")
    os.environ["WORKBENCH_HOME"] = home
    uploads = Path(home) / "uploads"
    uploads.mkdir(parents=True)
    name = "000000000000_big.csv"
    table(args.rows).to_csv(uploads / name, index=False)

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600).run()
    at.switch_page("../pages/data.py").run()
    pick = next(s for s in at.selectbox if s.label == "Dataset")
    first = timed(lambda: pick.set_value(name).run())
    assert not at.exception, at.exception
    log(step="first visit of the file (load + profile)", seconds=round(first, 3))
    again = [timed(lambda: at.run()) for _ in range(args.repeats)]
    log(step="page again (cached profile)", best=round(min(again), 3), median=round(statistics.median(again), 3))
    tabs = {}
    for visit in ("first", "again"):  # the first chart of a process also loads plotly's figure classes
        for label in ("Column types", "Missing values", "Distributions", "Target balance", "Preview"):
            at.session_state["data_tab"] = label
            tabs[label] = round(timed(lambda: at.run()), 3)
        log(step=f"each tab, {visit} open", **tabs)
    log(target_s=1.0, page_again_best=round(min(again), 3), slowest_tab=max(tabs.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

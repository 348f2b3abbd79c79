"""Import hygiene: what trains a run does not load what only explaining, drawing or exporting needs.

Each check runs in a fresh interpreter (this one has imported everything already). A module named
here costs start-up time in every worker and every `workbench train` (bench/instant.py measures it).
"""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("plotly", "shap", "lime", "scipy.stats", "sklearn.model_selection", "sklearn", "streamlit", "onnx",
         "onnxruntime", "optuna", "captum")


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_run_path_imports_none_of_the_heavy_modules() -> None:
    # one interpreter for all three (each costs seconds of start-up): what any of them loads shows
    statement = "import core.runs.execute, core.runs.worker, workbench.cli; workbench.cli.build_parser(['train'])"
    assert _loaded_after(statement) == [], "the worker, execute_run or `workbench train` load modules a run does not need"

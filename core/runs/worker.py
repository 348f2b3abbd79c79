"""The worker process: `python -m core.runs.worker WORKSPACE RUN_ID`.

Each run trains in its own process, so a crash, a CUDA error or an OOM kills only
that run. It stops cooperatively on a stop request, on SIGTERM (cancelled, with a
checkpoint), or when the app that started it is gone (interrupted).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    workspace, run_id = Path(args[0]), args[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.data import Catalog
    from core.runs.execute import execute_run
    from core.runs.store import RunStore

    store = RunStore(workspace)
    parent = os.getppid()
    terminated: list[str] = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append("stopped by SIGTERM"))

    def should_stop() -> str | None:
        if terminated:
            return terminated[0]
        if store.stop_requested(run_id):
            return "stopped by the user"
        if os.getppid() != parent:
            return "interrupted: the app that started this run has stopped"
        return None

    status = execute_run(store, Catalog(workspace), run_id, should_stop=should_stop)
    return 0 if status in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())

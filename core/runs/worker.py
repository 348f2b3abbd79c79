"""The worker process: `python -m core.runs.worker WORKSPACE RUN_ID`.

Each run trains in its own process, so a crash, a CUDA error or an OOM kills only
that run. It stops cooperatively on a stop request, on SIGTERM (cancelled, with a
checkpoint), or when the app that started it is gone (interrupted).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# Before torch loads OpenMP: threads that spin-wait for each other make small CPU models 10-30x
# slower on a busy machine (the UI and its browser share the cores with this run); sleeping
# waits cost little when the machine is idle. A value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    import torch

    args = argv if argv is not None else sys.argv[1:]
    workspace, run_id = Path(args[0]), args[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.data import Catalog
    from core.runs.execute import execute_run
    from core.errors import RunNotFound
    from core.runs.queue import shares_the_cpu, side_by_side_on_cpu
    from core.runs.stopping import RunStops
    from core.runs.store import RunStore
    from core.training.device import cpu_threads

    store = RunStore(workspace)
    # a CV fold, repeat or trial trains beside its plan's others (the manager starts them together)
    try:
        sharing = side_by_side_on_cpu() if shares_the_cpu(store.get(run_id)) else 1
    except RunNotFound:  # deleted while it was queued: execute_run says so
        sharing = 1
    torch.set_num_threads(max(1, cpu_threads() // sharing))

    parent = os.getppid()

    def app_gone() -> str | None:
        return "interrupted: the app that started this run has stopped" if os.getppid() != parent else None

    stops = RunStops(store, run_id, on_sigterm="stopped by SIGTERM", also=app_gone)
    status = execute_run(store, Catalog(workspace), run_id, should_stop=stops.should_stop, callbacks=stops.callbacks())
    return 0 if status in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())

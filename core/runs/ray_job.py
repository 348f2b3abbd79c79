"""A run's Ray job: `python -m core.runs.ray_job WORKSPACE RUN_ID`, started by Ray on the node it chose.

Like a local worker it trains one recorded run (core.runs.execute), writing its status, metrics
and artifacts to the store (WORKBENCH_DB_URL, in the job's environment); the run's host becomes
this node. It stops on a stop request in the store or on Ray's stop (SIGTERM), as cancelled with a
checkpoint. Its stdout and stderr are the job's log, which Ray keeps. A run stopped while its job
waited for a node (Ray cannot stop a job that has not started) ends here without training.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (see core.runs.worker)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = argv if argv is not None else sys.argv[1:]
    workspace, run_id = Path(args[0]), args[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.data import Catalog
    from core.runs.execute import execute_run
    from core.runs.stopping import RunStops
    from core.runs.store import RunStore
    from core.training.device import cpu_threads

    torch.set_num_threads(cpu_threads())
    store = RunStore(workspace)
    record = store.get(run_id)
    if record.status != "queued" or record.stop_requested:
        # stopped while its job waited for a node: Ray cannot stop a job it has not started, so it ends here
        logging.getLogger(__name__).info("run %s is %s: nothing to train", run_id, record.status)
        store.close()
        return 0
    stops = RunStops(store, run_id, on_sigterm="stopped through Ray")
    status = execute_run(store, Catalog(workspace), run_id, should_stop=stops.should_stop, callbacks=stops.callbacks())
    store.close()
    return 0 if status in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())

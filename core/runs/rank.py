"""One rank of a run trained by several processes: `torchrun ... -m core.runs.rank WORKSPACE RUN_ID`.

core.runs.launch starts torchrun; every rank runs execute_run on the whole data with its shard of
each batch. Rank 0 alone writes the run's metrics, artifacts and status, and alone asks whether to
stop (a user's request in the store, the launcher's stop file); the ranks agree on the answer at
the same steps (core.training.distributed). A rank dies with torchrun, and stops on its own when
SIGTERM or SIGINT reaches it (torchrun passes them on).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in the worker: see core/runs/worker.py


def main(argv: list[str] | None = None) -> int:
    from core.runs.launch import die_with_parent

    die_with_parent()  # torchrun killed (with its launcher): this rank goes too, at once
    import torch

    args = argv if argv is not None else sys.argv[1:]
    workspace, run_id = Path(args[0]), args[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s rank %(process)d %(name)s: %(message)s")
    from core.atomic import write_atomic
    from core.data import Catalog
    from core.runs.execute import execute_run
    from core.runs.launch import RANKS_FILE, stop_reason
    from core.runs.store import RunStore
    from core.training import distributed
    from core.training.device import cpu_threads

    ranks = distributed.from_environment()
    if ranks is None:
        print("core.runs.rank runs under torchrun (core.runs.launch starts it)", file=sys.stderr)
        return 2
    torch.set_num_threads(cpu_threads())
    store = RunStore(workspace)
    run_dir = store.run_dir(run_id)
    parent = os.getppid()
    signalled: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _f: signalled.append(f"stopped by {signal.Signals(signum).name}"))

    def should_stop() -> str | None:
        if signalled:
            return signalled[0]
        if os.getppid() != parent:
            return "interrupted: the process that launched this run has stopped"
        if ranks.is_writer:
            return stop_reason(run_dir) or ("stopped by the user" if store.stop_requested(run_id) else None)
        return None

    distributed.init(ranks)
    pids = distributed.gather_ints(os.getpid(), distributed.collective_device(ranks))
    if ranks.is_writer:  # who trains the run, for the launcher's log and for tests that stop or kill it
        write_atomic(run_dir / RANKS_FILE, json.dumps({"pids": pids, "backend": ranks.backend, "world": ranks.world}))
    try:
        status = execute_run(store, Catalog(workspace), run_id, should_stop=should_stop, ranks=ranks)
    finally:
        distributed.close()
    return 0 if status in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())

"""What a warm worker server imports once, before it forks any run (core.runs.executors.WarmExecutor).

Importing this module is the preload: the worker and execute_run, what a run loads only once it
trains or evaluates (torch._dynamo, which torch's optimizers import on their first use; sklearn's
metrics and splits; pyarrow's Parquet writer; the baselines), so that a forked run pays none of it.
Nothing here touches CUDA: a process that has initialised CUDA cannot fork a child that uses it.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP, as the worker sets it

import pyarrow.parquet  # noqa: E402,F401 - predictions are written as Parquet
import torch  # noqa: E402
import torch._dynamo  # noqa: E402,F401 - torch.optim imports it at the first optimizer and step
import sklearn.model_selection  # noqa: E402,F401 - the seeded split

import core.evaluation.baselines  # noqa: E402,F401
import core.evaluation.curves  # noqa: E402,F401
import core.evaluation.metrics  # noqa: E402,F401
import core.runs.execute  # noqa: E402,F401
import core.runs.worker  # noqa: E402,F401

# One thread while preloading: no OpenMP pool exists to be lost across the fork; each run sets its own.
torch.set_num_threads(1)


def _warm_up() -> None:
    """One tiny run (iris, one epoch, on the CPU) in a throwaway workspace: what is imported or set up
    only on first use (scipy.optimize for the baselines, torch's first optimizer, the Parquet writer,
    the store's tables) is then ready in every forked run. A failure here costs speed, never a run."""
    import logging
    import shutil
    import tempfile

    from core.config import DataConfig, RunConfig, TrainConfig
    from core.data import Catalog
    from core.runs.store import RunStore

    root = tempfile.mkdtemp(prefix="workbench-warm-")
    try:
        store = RunStore(root, db_url=f"sqlite:///{root}/warm.db")
        config = RunConfig(data=DataConfig("iris", "species"), train=TrainConfig(epochs=1, device="cpu"))
        run_id = store.create_run(config.to_dict())
        core.runs.execute.execute_run(store, Catalog(root), run_id)
        store.close()
    except Exception:  # noqa: BLE001 - the worker still works, only its first run is slower
        logging.getLogger(__name__).warning("the warm-up run failed", exc_info=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_warm_up()

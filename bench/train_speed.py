"""Training throughput of the project's Trainer against the anchor loops, side by side.

The Trainer runs through the same code path a UI run takes (the store sink and the
stop check attached), on the anchor workload of ../shared/bench/ANCHORS.md: an MLP
64 -> 256 -> 256 -> 10, Adam 1e-3, cross-entropy, synthetic data. The naive and graphs
loops are imported from the anchors script and run in the same process.

Prints one JSON line per measurement and, last, a summary with the ratios. Each workbench
line says how the Trainer stepped (`step_mode`: cuda-graph, eager, streaming-cuda-graph or streaming; `graphed`).
  python bench/train_speed.py --device cuda          # the full measurement
  python bench/train_speed.py --device cuda --stream # the same with batches streamed from host memory
  python bench/train_speed.py --quick                # CPU, under a minute on 2 cores
  python bench/train_speed.py --quick --with-poller  # also: a process polling like the Train page
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig  # noqa: E402
from core.models import build_model  # noqa: E402
from core.runs.sink import StoreLogger  # noqa: E402
from core.runs.store import RunStore  # noqa: E402
from core.training.callbacks import StopCheck  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402


def load_anchors():
    for candidate in (ROOT.parent / "shared" / "bench" / "anchors.py", ROOT / "shared" / "bench" / "anchors.py"):
        if candidate.exists():
            spec = importlib.util.spec_from_file_location("anchors", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            return module
    raise SystemExit("cannot find shared/bench/anchors.py beside the project")


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def train_workbench(X, y, device: str, bs: int, epochs: int, store: RunStore, precision: str = "fp32",
                    stream: bool = False) -> Trainer:
    """The Trainer with the store sink and the stop check, as a UI run has them (samples_per_s_, step_mode_)."""
    config = RunConfig(data=DataConfig("bench", "y"), model=ModelConfig("mlp", {"hidden_sizes": [256, 256]}),
                       optim=OptimConfig("adam", lr=1e-3),
                       train=TrainConfig(epochs=epochs, batch_size=bs, early_stopping=False, device=device,
                                         precision=precision, drop_last=True))
    run_id = store.create_run(config.to_dict(), model="mlp", dataset="bench")
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden_sizes": [256, 256]}, X.shape[1], int(y.max()) + 1)
    # a small fixed validation set: the anchors have none, so keep its cost out of the ratio
    stop = StopCheck(lambda: "stopped" if store.stop_requested(run_id) else None)
    trainer = Trainer(config, "multiclass", [StoreLogger(store, run_id), stop], streaming=stream)
    return trainer.fit(model, X, y, X[:2048], y[:2048])


def log_workbench(loop: str, bs: int, trainer: Trainer) -> float:
    log(loop=loop, bs=bs, samples_per_s=round(trainer.samples_per_s_), step_mode=trainer.step_mode_,
        graphed=trainer.graphed_)
    return trainer.samples_per_s_


def _poll(db_dir: str, ready_event, stop_event) -> None:
    """What the Train page does while a run is live: read new metric rows about once a second."""
    store = RunStore(db_dir)
    last: dict[str, int] = {}
    ready_event.set()
    while not stop_event.is_set():
        for run in store.list_runs(status="running"):
            rows = store.epoch_rows(run.run_id, last.get(run.run_id, 0))
            if rows:
                last[run.run_id] = rows[-1]["id"]
            store.get(run.run_id)
        stop_event.wait(1.0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="50k rows, 2 epochs: under a minute on 2 CPU cores")
    p.add_argument("--n", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--bs", type=int, nargs="+", default=[256, 4096])
    p.add_argument("--precision", default="fp32")
    p.add_argument("--with-poller", action="store_true", help="also measure with a process polling the store")
    p.add_argument("--stream", action="store_true", help="the Trainer streams batches from host memory")
    a = p.parse_args()
    n = a.n or (50_000 if a.quick else (1_000_000 if a.device == "cuda" else 200_000))
    epochs = a.epochs or (2 if a.quick else 3)
    anchors = load_anchors()
    dev = torch.device(a.device)
    X, y = anchors.make_data(n, 64, 10)
    log(device=str(dev), name=torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", torch=torch.__version__,
        n=n, epochs=epochs, threads=torch.get_num_threads(), precision=a.precision, stream=a.stream)
    results: dict[int, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for bs in a.bs:
            r: dict[str, float | None] = {}
            _, r["naive"] = anchors.train_naive(X, y, dev, bs, epochs)
            log(loop="naive", bs=bs, samples_per_s=round(r["naive"]))
            r["graphs"] = None
            if dev.type == "cuda":
                _, r["graphs"] = anchors.train_graphs(X, y, dev, bs, epochs)
                log(loop="graphs", bs=bs, samples_per_s=round(r["graphs"]))
            r["workbench"] = log_workbench("workbench", bs,
                                           train_workbench(X, y, a.device, bs, epochs, store, a.precision, a.stream))
            if a.with_poller:
                ctx = mp.get_context("spawn")
                ready_event, stop_event = ctx.Event(), ctx.Event()
                poller = ctx.Process(target=_poll, args=(tmp, ready_event, stop_event), daemon=True)
                poller.start()
                # the spawned poller's imports are start-up cost, not polling cost: start the clock after them
                if not ready_event.wait(120):
                    raise SystemExit("the poller process did not start")
                polled = train_workbench(X, y, a.device, bs, epochs, store, a.precision, a.stream)
                stop_event.set()
                poller.join(5)
                r["workbench_polled"] = log_workbench("workbench_polled", bs, polled)
            results[bs] = r
    summary: dict[str, object] = {"summary": True, "device": str(dev)}
    for bs, r in results.items():
        summary[f"trainer_over_naive_bs{bs}"] = round(r["workbench"] / r["naive"], 3)
        summary[f"trainer_over_graphs_bs{bs}"] = round(r["workbench"] / r["graphs"], 3) if r["graphs"] else None
        if "workbench_polled" in r:
            summary[f"polled_over_alone_bs{bs}"] = round(r["workbench_polled"] / r["workbench"], 3)
    log(**summary)


if __name__ == "__main__":
    np.random.seed(0)
    main()

"""Data larger than the GPU streams from host memory and trains what resident data trains.

The CPU tests run the same gather and the same loop without pinning or streams; the `gpu` tests
check the overlapped copies and the automatic decision (run them through the device tool).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.models import build_model
from core.training import streaming
from core.training.streaming import StreamingBatches, stream_reason
from core.training.trainer import Trainer

N_FEATURES = 6


def dataset(task: str, n: int = 330, seed: int = 0) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, N_FEATURES)).astype(np.float32)
    signal = X[:, 0] - 0.5 * X[:, 1] + 0.2 * g.standard_normal(n)
    y = signal.astype(np.float32) if task == "regression" else np.digitize(signal, [-0.5, 0.5]).astype(np.int64)
    cut = int(n * 0.8)
    return {"X": X[:cut], "y": y[:cut], "X_val": X[cut:], "y_val": y[cut:]}


def fit(task: str, device: str = "cpu", **trainer_kwargs: Any) -> Trainer:
    data = dataset(task)
    config = RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", {"hidden_sizes": [16]}),
                       optim=OptimConfig("adam", lr=0.01),
                       train=TrainConfig(epochs=3, batch_size=32, early_stopping=False, device=device))
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden_sizes": [16]}, N_FEATURES, 3 if task == "multiclass" else 1)
    return Trainer(config, task, **trainer_kwargs).fit(model, data["X"], data["y"], data["X_val"], data["y_val"])


def without_timing(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "samples_per_s"} for row in history]


# --- CPU ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_batches_are_the_index_batches(task: str) -> None:
    data = dataset(task, n=103)
    X = torch.as_tensor(data["X"])
    y = torch.as_tensor(data["y"]) if task == "multiclass" else torch.as_tensor(data["y"]).reshape(-1, 1)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(3))
    bs, steps = 16, -(-len(X) // 16)  # the last batch is short
    feed = StreamingBatches(X, y, torch.device("cpu"), bs)
    seen = 0
    for k, (xb, yb) in enumerate(feed.batches(perm, steps)):
        idx = perm[k * bs:(k + 1) * bs]
        assert torch.equal(xb, X[idx]) and torch.equal(yb, y[idx]) and yb.dtype == y.dtype
        seen += len(xb)
    assert seen == len(X)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_forced_streaming_trains_the_same_weights(task: str) -> None:
    streamed, resident = fit(task, streaming=True), fit(task)
    assert streamed.step_mode_ == "streaming" and resident.step_mode_ == "eager"
    assert "streaming batches from host memory, as asked" in streamed.events_
    assert not any("streaming" in e for e in resident.events_)
    for name, value in streamed.model_.state_dict().items():
        assert torch.equal(value, resident.model_.state_dict()[name]), name
    assert without_timing(streamed.history_) == without_timing(resident.history_)


def test_the_decision_weighs_the_data_against_free_gpu_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")  # the budget is replaced, so no GPU is needed to decide
    monkeypatch.setattr(streaming, "free_device_memory", lambda device: 2**30)
    assert stream_reason(2**29, cuda) is None  # half of the free memory still fits
    reason = stream_reason(2**29 + 1, cuda)
    assert reason and "0.50 GiB" in reason and "1.00 GiB" in reason and "streaming" in reason
    assert stream_reason(2**40, torch.device("cpu")) is None  # nothing to stream to


# --- GPU ---------------------------------------------------------------------------------------
gpu = pytest.mark.gpu


@gpu
def test_overlapped_copies_deliver_each_batch_intact() -> None:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(5000, 64, generator=g), torch.randint(0, 10, (5000,), generator=g)
    Xd, yd = X.cuda(), y.cuda()
    perm = torch.randperm(len(X), generator=g)
    bs, steps = 256, -(-len(X) // 256)
    weight = torch.randn(64, 2048, device="cuda")
    feed = StreamingBatches(X, y, torch.device("cuda"), bs)
    assert all(t.is_pinned() for pair in feed._staging for t in pair)
    ok = []
    for k, (xb, yb) in enumerate(feed.batches(perm, steps)):
        assert xb.is_cuda and yb.is_cuda
        (xb @ weight).relu().sum()  # compute for the next batch's copy to overlap with
        idx = perm[k * bs:(k + 1) * bs].cuda()
        ok.append(torch.equal(xb, Xd[idx]) and torch.equal(yb, yd[idx]))
    assert len(ok) == steps and all(ok)


@gpu
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_forced_streaming_on_cuda_trains_what_resident_trains(task: str) -> None:
    streamed = fit(task, "cuda", streaming=True)
    eager, graphed = fit(task, "cuda", cuda_graphs=False), fit(task, "cuda")
    assert streamed.step_mode_ == "streaming-cuda-graph" and not streamed.X_train_.is_cuda
    assert eager.step_mode_ == "eager" and graphed.step_mode_ == "cuda-graph"
    for other in (eager, graphed):
        for name, value in streamed.model_.state_dict().items():
            torch.testing.assert_close(value, other.model_.state_dict()[name], rtol=1e-5, atol=1e-6)


@gpu
def test_a_small_memory_budget_streams_automatically(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "free_device_memory", lambda device: 4096)
    trainer = fit("multiclass", "cuda")
    assert trainer.step_mode_.startswith("streaming") and not trainer.X_train_.is_cuda
    assert any("more than half of the GPU's free memory" in e for e in trainer.events_), trainer.events_
    assert trainer.history_[-1]["val/accuracy"] > 0.6


@gpu
def test_out_of_memory_placing_the_data_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = len(dataset("multiclass")["X"])
    original = torch.Tensor.to

    def tight(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        moved = original(self, *args, **kwargs)
        if moved.is_cuda and not self.is_cuda and self.dim() == 2 and len(self) == rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return moved
    monkeypatch.setattr(torch.Tensor, "to", tight)
    trainer = fit("multiclass", "cuda")
    assert trainer.step_mode_.startswith("streaming")
    assert "the data does not fit in GPU memory: streaming batches from host memory" in trainer.events_

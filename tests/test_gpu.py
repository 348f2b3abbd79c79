"""CUDA checks: skipped without a GPU (run them through the device tool)."""
from __future__ import annotations

import json

import pytest

from workbench.cli import main

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_cli_trains_on_cuda(capsys, precision):
    code = main(["train", "--data", "digits", "--target", "label", "--model", "cnn", "--epochs", "10",
                 "--batch-size", "64", "--lr", "0.003", "--device", "cuda", "--precision", precision,
                 "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    assert result["device"].startswith("cuda")
    assert result["metrics"]["test"]["accuracy"] >= 0.9



@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_cnn_trains_in_a_cuda_graph(precision):
    """The zoo's CNN (BatchNorm and Dropout on by default) takes the graph path and still learns."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
    from core.models import build_model
    from core.training.trainer import Trainer

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    config = RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("cnn"),
                       optim=OptimConfig("adam", lr=0.003),
                       train=TrainConfig(epochs=10, batch_size=64, early_stopping=False, device="cuda",
                                         precision=precision))
    torch.manual_seed(0)
    model = build_model("cnn", {}, 64, 10, image_shape=(1, 8, 8))
    trainer = Trainer(config, "multiclass").fit(model, X[:1400], y[:1400], X[1400:], y[1400:])
    assert trainer.step_mode_ == "cuda-graph", (trainer.step_mode_reason_, trainer.events_)
    assert trainer.history_[-1]["val/accuracy"] >= 0.9


@pytest.mark.parametrize("graphs", [True, False], ids=["graphed", "eager"])
def test_a_real_out_of_memory_shrinks_the_batch_and_the_run_finishes(graphs):
    """A real CUDA OOM (the allocator capped at 2 GiB): the batch halves, with a message, and training ends."""
    import numpy as np
    import torch

    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.models import build_model
    from core.training.trainer import Trainer

    rows, width = 65_536, [4096, 4096]  # about 1 GiB per activation at full batch: far over the cap
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 64)).astype(np.float32)
    y = rng.integers(0, 10, rows)
    config = RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", {"hidden_sizes": width}),
                       train=TrainConfig(epochs=2, batch_size=rows, early_stopping=False, device="cuda", seed=0))
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(2 * 2**30 / torch.cuda.get_device_properties(0).total_memory)
    try:
        torch.manual_seed(0)
        model = build_model("mlp", {"hidden_sizes": width}, 64, 10)
        trainer = Trainer(config, "multiclass", cuda_graphs=graphs).fit(model, X, y, X[:1024], y[:1024])
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert trainer.batch_size_ < rows
    assert any(f"out of memory at batch size {rows}" in e for e in trainer.events_), trainer.events_
    assert len(trainer.history_) == 2 and np.isfinite(trainer.history_[-1]["train/loss"])


def test_data_larger_than_the_gpu_trains_by_streaming():
    """3 GiB of data with the allocator capped at 2 GiB: placing it runs out of memory for real, the
    run streams batches from host memory instead, and it trains."""
    import numpy as np
    import torch

    from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from core.models import build_model
    from core.training.trainer import Trainer

    rows = 12 * 2**20  # x 64 float32 features = 3 GiB
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 64), dtype=np.float32)
    y = (X[:, :10].argmax(axis=1)).astype(np.int64)
    config = RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", {"hidden_sizes": [64]}),
                       train=TrainConfig(epochs=1, batch_size=65_536, early_stopping=False, device="cuda", seed=0))
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(2 * 2**30 / torch.cuda.get_device_properties(0).total_memory)
    try:
        torch.manual_seed(0)
        model = build_model("mlp", {"hidden_sizes": [64]}, 64, 10)
        trainer = Trainer(config, "multiclass").fit(model, X, y, X[:4096], y[:4096])
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert trainer.step_mode_ == "streaming-cuda-graph", (trainer.step_mode_reason_, trainer.events_)
    assert any("streaming" in e for e in trainer.events_), trainer.events_
    assert trainer.history_[-1]["val/accuracy"] > 0.5

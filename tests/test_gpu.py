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

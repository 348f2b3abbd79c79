"""The trainer takes X of any shape and dtype, and a training-batch transform hook."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.config import DataConfig, RunConfig
from core.training.trainer import Trainer


class Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255.0


def _config(epochs: int = 3) -> RunConfig:
    return RunConfig(data=DataConfig(source="x", target="y")).evolve(
        optim={"lr": 0.05}, train={"epochs": epochs, "batch_size": 16, "device": "cpu", "early_stopping": False})


def _images(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.integers(0, 60, (n, 1, 4, 4)).astype(np.uint8)
    X[y == 1, :, :2] += 180  # class 1: a bright top half
    return X, y


def test_uint8_images_stay_uint8_and_train():
    X, y = _images()
    model = nn.Sequential(Scale(), nn.Flatten(), nn.Linear(16, 2))
    trainer = Trainer(_config(10), "multiclass").fit(model, X[:64], y[:64], X[64:], y[64:])
    assert trainer.X_train_.dtype == torch.uint8 and trainer.X_train_.shape[1:] == (1, 4, 4)
    assert trainer.history_[-1]["val/accuracy"] > 0.9
    assert trainer.predict(X[64:]).shape == (32, 2)


def test_the_batch_transform_sees_training_batches_only():
    X, y = _images()
    seen: list[tuple[int, torch.dtype]] = []

    def transform(xb: torch.Tensor) -> torch.Tensor:
        seen.append((len(xb), xb.dtype))
        return xb.float().flip(-1)

    model = nn.Sequential(Scale(), nn.Flatten(), nn.Linear(16, 2))
    trainer = Trainer(_config(2), "multiclass", batch_transform=transform).fit(model, X[:64], y[:64], X[64:], y[64:])
    assert len(seen) == 2 * 4 and all(dtype == torch.uint8 for _, dtype in seen)  # 64 rows / 16, two epochs
    trainer.predict(X[64:])
    assert len(seen) == 8  # prediction and validation are never transformed
    assert "graph" not in trainer.step_mode_

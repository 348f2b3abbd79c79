"""Image training on CUDA: skipped without a GPU (run them through the device tool). Not yet run on one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.models import build_model
from core.training.augment import make_augment
from core.training.trainer import Trainer
from tests.imagezips import picture

pytestmark = pytest.mark.gpu


def _images(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 3
    return np.stack([np.asarray(picture(int(c), i))[None] for i, c in enumerate(y)]), y


@pytest.mark.parametrize("kind", ["cnn", "resnet"])
@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_uint8_images_train_in_a_cuda_graph_with_augmentation(kind, precision):
    X, y = _images()
    config = RunConfig(data=DataConfig("x", "label"), model=ModelConfig(kind),
                       train=TrainConfig(epochs=6, batch_size=32, device="cuda", precision=precision,
                                         early_stopping=False, augment={"crop": 0.1, "color": 0.2}))
    torch.manual_seed(0)
    model = build_model(kind, {}, 256, 3, (1, 16, 16), "image")
    trainer = Trainer(config, "multiclass", batch_transform=make_augment(config.train.augment))
    trainer.fit(model, X[:240], y[:240], X[240:], y[240:])
    assert trainer.X_train_.dtype == torch.uint8 and trainer.X_train_.is_cuda
    assert trainer.step_mode_ == "cuda-graph", trainer.step_mode_reason_
    assert trainer.history_[-1]["val/accuracy"] > 0.8

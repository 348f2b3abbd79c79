"""The model zoo: each kind's hyperparameter spec and its torch module."""
from __future__ import annotations

from core.models.spec import (
    HYPERPARAM_KINDS,
    MODEL_KINDS,
    HyperParam,
    ModelInfo,
    model_spec,
    models_for_task,
    resolve_params,
)
from core.models.zoo import build_model, count_parameters, output_size

__all__ = [
    "HYPERPARAM_KINDS", "MODEL_KINDS", "HyperParam", "ModelInfo",
    "model_spec", "models_for_task", "resolve_params",
    "build_model", "count_parameters", "output_size",
]

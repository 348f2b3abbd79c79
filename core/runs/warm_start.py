"""Start a run from another run's weights (RunConfig.init): fine-tuning, and resuming a stopped run.

The one place that reads `init`: execute_run asks `load_parent` before it prepares the data (a table
is then encoded with the parent's fitted preprocessor, so column `x` still means what the weights
learned), and `apply_init` after it builds the model and before fit (the weights copied in, the
first layers frozen). Weights come from safetensors only: a parent's model.safetensors, or the
checkpoint.safetensors a stopped or failed run kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from core.config import InitConfig
from core.data import Schema
from core.errors import ConfigError, RunNotFound, WorkbenchError
from core.runs.store import RunRecord, RunStore
from core.runs.trained import TrainedModel

WEIGHT_FILES = {"final": "model.safetensors", "checkpoint": "checkpoint.safetensors"}
# layers that normalise the one before them: frozen (or not) with it
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


@dataclass
class Parent:
    record: RunRecord
    trained: TrainedModel  # its model (final weights), fitted preprocessor and schema
    weights: Path  # the file the new run's weights start from


def load_parent(store: RunStore, init: InitConfig) -> Parent | None:
    """The run `init.from_run` names, with its model; None when the run starts fresh."""
    if init.from_run is None:
        return None
    try:
        record = store.get(init.from_run)
    except RunNotFound:
        raise ConfigError(f"cannot start from run '{init.from_run}': there is no such run (deleted?)") from None
    run_dir = store.run_dir(record.run_id)
    weights = run_dir / WEIGHT_FILES[init.weights]
    if not weights.is_file():
        have = "a checkpoint" if (run_dir / WEIGHT_FILES["checkpoint"]).is_file() else "no saved weights"
        raise ConfigError(f"run {record.name} has no {'final model' if init.weights == 'final' else 'checkpoint'} "
                          f"to start from (it is {record.status} and has {have})")
    if not (run_dir / "model.json").is_file():
        raise ConfigError(f"run {record.name} has weights but no model description (model.json): "
                          "only a run that completed once can be fine-tuned")
    return Parent(record, TrainedModel.load(run_dir), weights)


def check_same_schema(parent: Parent, schema: Schema, n_features: int, n_outputs: int) -> None:
    """The new data must ask the same question of the same columns, in words when it does not."""
    old = parent.trained.schema
    name = parent.record.name
    if schema.target != old.target or schema.task != old.task:
        raise ConfigError(f"run {name} predicts '{old.target}' ({old.task}); this data asks for '{schema.target}' "
                          f"({schema.task}): fine-tune on data with the same target")
    if old.classes and tuple(schema.classes or ()) != tuple(old.classes):
        raise ConfigError(f"run {name} knows the classes {', '.join(map(str, old.classes[:10]))}; this data has "
                          f"{', '.join(map(str, (schema.classes or ())[:10]))}")
    if (n_features, n_outputs) != (int(parent.trained.meta["n_features"]), int(parent.trained.meta["n_outputs"])):
        raise ConfigError(f"run {name}'s model takes {parent.trained.meta['n_features']} inputs; this data gives "
                          f"{n_features}: fine-tune on data with the same columns")


def weight_layers(model: nn.Module) -> list[list[tuple[str, nn.Module]]]:
    """The model's layers that hold weights, in order; a normalisation layer joins the layer before it."""
    groups: list[list[tuple[str, nn.Module]]] = []
    for name, module in model.named_modules():
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        if isinstance(module, _NORMS) and groups:
            groups[-1].append((name, module))
        else:
            groups.append([(name, module)])
    return groups


def apply_init(model: nn.Module, parent: Parent, freeze: int) -> list[str]:
    """Copy the parent's weights into `model` and freeze its first `freeze` layers; returns notes for the run."""
    try:
        state = load_file(str(parent.weights))
        model.load_state_dict(state)
    except RuntimeError as exc:  # another architecture: missing keys or other shapes
        raise ConfigError(f"run {parent.record.name}'s weights do not fit this model ({str(exc).splitlines()[0]}): "
                          "fine-tune with the parent's model settings") from None
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file, in one line
        raise ConfigError(f"the weights of run {parent.record.name} cannot be read ({type(exc).__name__})") from None
    notes = [f"started from the weights of run {parent.record.name} ({parent.record.run_id})"]
    if freeze:
        layers = weight_layers(model)
        if freeze >= len(layers):
            raise ConfigError(f"this model has {len(layers)} layers with weights: freezing {freeze} leaves nothing "
                              f"to train (freeze at most {len(layers) - 1})")
        for group in layers[:freeze]:
            for _, module in group:
                for p in module.parameters(recurse=False):
                    p.requires_grad_(False)
                if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    module.momentum = 0.0  # its running statistics stay the parent's too
        names = ", ".join(group[0][0] for group in layers[:freeze])
        notes.append(f"the first {freeze} of {len(layers)} layers are frozen (layers {names})")
    return notes


__all__ = ["Parent", "WEIGHT_FILES", "apply_init", "check_same_schema", "load_parent", "weight_layers"]

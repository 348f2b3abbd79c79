"""The network a config will train, built before training: for the Train page's diagram.

The data is prepared as a run would prepare it (the encoded width of a table, an image's size, a
sequence's window), the model built from the zoo, and two real training examples passed through it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.config import RunConfig
from core.data import Catalog
from core.models import build_model, output_size, resolve_params
from core.models.diagram import LayerBox, network_dot, network_layers, shape_text
from core.runs import sequence_results
from core.runs.prepare import prepare_data


@dataclass(frozen=True)
class PlannedNetwork:
    layers: list[LayerBox]
    input_words: str
    output_words: str
    parameters: int

    def dot(self) -> str:
        return network_dot(self.layers, self.input_words, self.output_words)


def planned_network(config: RunConfig, catalog: Catalog) -> PlannedNetwork:
    """ConfigError / DataError in words when the config cannot train (the Train page shows it)."""
    prepared = prepare_data(config, catalog)
    schema = prepared.schema
    sample = prepared.X["train"].shape[1:]
    n_inputs = sequence_results.n_inputs(prepared) if sequence_results.is_sequence(prepared) else int(np.prod(sample))
    n_outputs = output_size(schema.task, schema.n_classes)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model.kind, resolve_params(config.model.kind, config.model.params), n_inputs,
                        n_outputs, schema.image_shape, prepared.data_kind)
    example = np.asarray(prepared.X["train"][:2])
    tensor = torch.from_numpy(example if example.dtype == np.uint8 else example.astype(np.float32))
    layers = network_layers(model, tensor)
    if sequence_results.is_sequence(prepared):
        words = f"Input: windows of {sample[0]} steps × {sample[1]} columns"
    elif prepared.data_kind == "image":
        words = f"Input: images {shape_text(tuple(sample))} (channels × height × width)"
    else:
        columns = len(prepared.preprocessor.feature_groups)
        words = (f"Input: {columns} columns → {n_inputs} numbers" if columns != n_inputs
                 else f"Input: {n_inputs} columns")
    if schema.task == "regression":
        out = f"Output: predicted {schema.target}"
    elif schema.task == "binary":
        out = f"Output: 1 logit (class '{(schema.classes or ['', '?'])[-1]}')"
    else:
        out = f"Output: {n_outputs} logits, one per class"
    return PlannedNetwork(layers, words, out, sum(p.numel() for p in model.parameters()))


__all__ = ["PlannedNetwork", "planned_network"]

"""The network diagram's layers: shapes from a dry forward of the real module, counts that add up."""
from __future__ import annotations

import pytest
import torch

from core.config import DataConfig, ModelConfig, RunConfig
from core.data import Catalog
from core.models import build_model, count_parameters
from core.models.diagram import network_dot, network_layers
from core.runs.planned import planned_network

CASES = [  # kind, params, n_features, example shape, image shape, data kind
    ("linear", {}, 5, (2, 5), None, "table"),
    ("mlp", {"hidden_sizes": [8, 4], "batch_norm": True, "dropout": 0.1}, 5, (2, 5), None, "table"),
    ("cnn", {"channels": [4, 8], "hidden": 16}, 64, (2, 64), (1, 8, 8), "table"),
    ("resnet", {"blocks": [1, 1], "width": 4}, 3 * 16 * 16, (2, 3, 16, 16), (3, 16, 16), "image"),
    ("lstm", {}, 3, (2, 12, 3), None, "sequence"),
    ("gru", {}, 3, (2, 12, 3), None, "sequence"),
    ("cnn1d", {}, 3, (2, 12, 3), None, "sequence"),
]


@pytest.mark.parametrize("kind,params,n_features,shape,image_shape,data_kind", CASES, ids=[c[0] for c in CASES])
def test_layers_add_up_and_chain(kind, params, n_features, shape, image_shape, data_kind) -> None:
    torch.manual_seed(0)
    model = build_model(kind, params, n_features, 3, image_shape, data_kind)
    example = torch.randint(0, 255, shape, dtype=torch.uint8) if data_kind == "image" else torch.randn(shape)
    layers = network_layers(model, example)
    assert sum(layer.parameters for layer in layers) == count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert layers[0].input_shape == tuple(shape[1:])
    assert layers[-1].output_shape == (3,)
    for before, after in zip(layers, layers[1:]):
        assert before.output_shape == after.input_shape
    dot = network_dot(layers, "Input", "Output")
    assert dot.startswith("digraph") and dot.count("->") == len(layers) + 1
    assert model.training  # the dry forward leaves the module as it found it


def test_planned_network_of_a_config(tmp_path) -> None:
    catalog = Catalog(tmp_path)
    planned = planned_network(RunConfig(data=DataConfig(source="iris", target="species"),
                                        model=ModelConfig(kind="mlp", params={"hidden_sizes": [16]})), catalog)
    assert [layer.label for layer in planned.layers] == ["Linear 4 → 16", "ReLU", "Linear 16 → 3"]
    assert planned.parameters == 4 * 16 + 16 + 16 * 3 + 3
    assert planned.input_words == "Input: 4 columns" and "3 logits" in planned.output_words
    assert "131 parameters in all" in planned.dot()

"""Hyperparameter specs: defaults, coercion of form/CLI/YAML values, and readable errors."""
from __future__ import annotations

import dataclasses

import pytest

from core.errors import ConfigError
from core.models import MODEL_KINDS, HYPERPARAM_KINDS, model_spec, models_for_task, resolve_params


def test_every_kind_has_a_spec_of_known_param_kinds():
    assert set(MODEL_KINDS) == {"linear", "logistic", "mlp", "cnn", "resnet", "rnn", "lstm", "gru", "cnn1d"}
    for kind, info in MODEL_KINDS.items():
        assert info.kind == kind and info.label and info.description
        for p in model_spec(kind):
            assert p.kind in HYPERPARAM_KINDS
            assert p.label and p.help.endswith(".")
            if p.kind == "choice":
                assert p.default in p.choices
            hash(p)  # frozen and immutable defaults: safe as cache keys


def test_labels_named_in_the_brief():
    assert MODEL_KINDS["linear"].label == "Linear regression"
    assert MODEL_KINDS["logistic"].label == "Logistic regression"
    assert MODEL_KINDS["linear"].tasks == ("regression",)
    assert set(MODEL_KINDS["logistic"].tasks) == {"binary", "multiclass"}
    assert MODEL_KINDS["cnn"].data_kinds == ("image",) and MODEL_KINDS["mlp"].data_kinds == ("table",)


def test_defaults_filled():
    assert resolve_params("mlp", {}) == {
        "hidden_sizes": [64, 64], "activation": "relu", "dropout": 0.0, "batch_norm": False,
    }
    assert resolve_params("cnn", None) == {
        "channels": [16, 32], "kernel_size": 3, "hidden": 64, "dropout": 0.1, "batch_norm": True,
        "global_pool": False,
    }
    assert resolve_params("resnet", {}) == {"blocks": [1, 1, 1], "width": 16, "dropout": 0.0}
    # scikit-learn's penalties and defaults: Ridge's alpha, LogisticRegression's 1/C
    assert resolve_params("linear", {}) == {"l2": 1.0}
    assert resolve_params("logistic", {}) == {"l2": 1.0}


def test_values_from_forms_and_cli_are_coerced():
    got = resolve_params("mlp", {"hidden_sizes": "128, 32 16", "activation": "GELU", "dropout": "0.25", "batch_norm": "yes"})
    assert got == {"hidden_sizes": [128, 32, 16], "activation": "gelu", "dropout": 0.25, "batch_norm": True}
    got = resolve_params("cnn", {"channels": (8.0, "16"), "kernel_size": "5", "hidden": "32", "dropout": 0, "batch_norm": 0})
    assert got == {"channels": [8, 16], "kernel_size": 5, "hidden": 32, "dropout": 0.0, "batch_norm": False,
                   "global_pool": False}
    assert isinstance(got["dropout"], float) and isinstance(got["kernel_size"], int)


@pytest.mark.parametrize(
    ("kind", "params", "needle"),
    [
        ("mlp", {"hidden": 3, "zzz": 1}, "hidden, zzz"),
        ("linear", {"dropout": 0.1}, "dropout"),
        ("mlp", {"hidden_sizes": [0]}, "between 1 and 4096"),
        ("mlp", {"hidden_sizes": [5000]}, "between 1 and 4096"),
        ("mlp", {"hidden_sizes": []}, "1 to 8 entries"),
        ("mlp", {"hidden_sizes": [8] * 9}, "1 to 8 entries"),
        ("mlp", {"hidden_sizes": [True]}, "whole number"),
        ("mlp", {"hidden_sizes": 64}, "list of whole numbers"),
        ("mlp", {"hidden_sizes": [1.5]}, "whole number"),
        ("mlp", {"dropout": 0.95}, "between 0 and 0.9"),
        ("mlp", {"dropout": "lots"}, "must be a number"),
        ("mlp", {"dropout": float("nan")}, "finite"),
        ("mlp", {"activation": "sigmoid"}, "relu, gelu, tanh, silu"),
        ("mlp", {"batch_norm": "maybe"}, "true or false"),
        ("cnn", {"kernel_size": 4}, "3, 5"),
        ("cnn", {"hidden": 0}, "between 1 and 4096"),
    ],
)
def test_bad_values_raise_config_error_naming_the_param(kind, params, needle):
    with pytest.raises(ConfigError) as err:
        resolve_params(kind, params)
    assert needle in str(err.value)


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown model 'transformer'"):
        model_spec("transformer")
    with pytest.raises(ConfigError):
        resolve_params("transformer", {})


def test_models_for_task():
    assert models_for_task("regression", "table") == ["linear", "mlp"]
    assert models_for_task("regression", "table", has_image_shape=True) == ["linear", "mlp", "cnn", "resnet"]
    assert models_for_task("binary", "table") == ["logistic", "mlp"]
    assert models_for_task("multiclass", "table", has_image_shape=True) == ["logistic", "mlp", "cnn", "resnet"]
    with pytest.raises(ConfigError):
        models_for_task("ranking", "table")


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_spec("mlp")[0].default = (1,)  # type: ignore[misc]

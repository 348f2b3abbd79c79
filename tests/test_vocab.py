"""The vocabulary is the one list of names: every layer's lists are these very ones."""
from __future__ import annotations

import pytest

from core import vocab
from core.config import DataConfig, RunConfig
from core.errors import ConfigError
from core.models.spec import _SPECS


def test_every_model_kind_has_a_spec_and_only_known_tasks():
    assert set(_SPECS) == set(vocab.MODEL_KINDS)
    for kind, info in vocab.MODEL_KINDS.items():
        assert info.kind == kind and set(info.tasks) <= set(vocab.TASKS)


def test_primary_metric_is_reported_and_logged_every_epoch():
    for task in vocab.TASKS:
        primary = vocab.primary_metric(task)
        assert primary in vocab.metrics_for_task(task)
        assert primary in vocab.EPOCH_METRICS
        assert vocab.monitor_choices(task) == ("loss", primary)


def test_every_reported_metric_has_a_direction_and_a_label():
    for task in vocab.TASKS:
        for name in vocab.metrics_for_task(task):
            assert vocab.metric_direction(name) in ("min", "max")
            assert vocab.metric_direction(f"val/{name}") == vocab.metric_direction(name)
            assert vocab.metric_label(name)
    with pytest.raises(ConfigError, match="unknown metric"):
        vocab.metric_direction("val/fancy")


def test_statuses_split_into_active_and_terminal():
    assert not set(vocab.ACTIVE) & set(vocab.TERMINAL)
    assert vocab.STATUSES == vocab.ACTIVE + vocab.TERMINAL


def test_config_checks_early_stopping_watches_a_logged_metric():
    config = RunConfig(data=DataConfig(source="iris", target="species"))
    assert config.evolve(train={"monitor": "val/accuracy"}).train.monitor == "val/accuracy"
    with pytest.raises(ConfigError, match="early stopping can watch"):
        config.evolve(train={"monitor": "f1_macro"})


def test_models_for_task_follows_the_kinds_tasks():
    assert vocab.models_for_task("regression", "table") == ["linear", "mlp"]
    assert "cnn" in vocab.models_for_task("multiclass", "table", has_image_shape=True)
    with pytest.raises(ConfigError):
        vocab.models_for_task("ranking", "table")


def test_data_kinds_decide_which_models_read_the_data():
    assert vocab.DATA_KINDS == ("table", "image", "sequence")
    assert vocab.models_for_task("multiclass", "image") == ["cnn", "resnet"]
    assert vocab.model_takes("cnn", "table", has_image_shape=True) and not vocab.model_takes("cnn", "table")
    assert not vocab.model_takes("mlp", "image")
    assert vocab.models_for_task(None, "table") == ["linear", "logistic", "mlp"]
    with pytest.raises(ConfigError, match="data kind"):
        vocab.models_for_task("binary", "video")

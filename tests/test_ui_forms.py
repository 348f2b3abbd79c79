"""build_config and config_to_cli: the Train form's values -> RunConfig -> a `workbench train` command."""
from __future__ import annotations

import shlex
from dataclasses import MISSING, fields

import pytest

from core.config import DataConfig, ModelConfig, RunConfig
from core.errors import ConfigError
from core.models import model_spec, resolve_params
from workbench.cli import build_parser
from workbench.commands.train import config_from_args
from core.vocab import monitor_choices
from workbench.ui.forms import FORM_DEFAULTS, FORM_FIELDS, UNSET, build_config, config_to_cli, form_values
from workbench.ui.state import DEFAULT_SOURCE, DEFAULT_TARGET


def test_defaults_build_a_valid_config() -> None:
    config = build_config({})
    assert config.data.source == "iris" and config.data.target == "species"
    assert config.model.kind == "mlp" and config.model.params["hidden_sizes"] == [64, 64]
    assert config.train.monitor is None  # "loss" means the default: val loss
    assert config.train.grad_clip is None  # 0 in the form means off
    assert config.name is None


def test_every_form_value_lands_in_the_config() -> None:
    values = {
        "source": "wine", "target": "cultivar", "task": "multiclass", "roles": {"ash": "ignore"},
        "model": "mlp", "params": {"hidden_sizes": "32, 16", "dropout": 0.2, "activation": "gelu",
                                   "batch_norm": True},
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": True,
        "schedule": "step", "step_size": 5, "gamma": 0.3,
        "weight_decay": 1e-4, "l1": 1e-5, "batch_size": 16, "epochs": 12,
        "early_stopping": True, "patience": 4, "monitor": "accuracy", "grad_clip": 1.5,
        "device": "cpu", "precision": "bf16", "seed": 7, "name": "  my run ",
    }
    c = build_config(values)
    assert (c.data.source, c.data.target, c.data.task, dict(c.data.roles)) == (
        "wine", "cultivar", "multiclass", {"ash": "ignore"})
    assert c.model.params == {"hidden_sizes": [32, 16], "dropout": 0.2, "activation": "gelu", "batch_norm": True}
    assert (c.optim.name, c.optim.lr, c.optim.momentum, c.optim.nesterov) == ("sgd", 0.05, 0.8, True)
    assert (c.optim.weight_decay, c.optim.l1) == (1e-4, 1e-5)
    assert (c.schedule.name, c.schedule.step_size, c.schedule.gamma) == ("step", 5, 0.3)
    t = c.train
    assert (t.epochs, t.batch_size, t.patience, t.monitor, t.grad_clip) == (12, 16, 4, "accuracy", 1.5)
    assert (t.device, t.precision, t.seed) == ("cpu", "bf16", 7)
    assert c.name == "my run"
    assert RunConfig.from_yaml(c.to_yaml()) == c


def test_nesterov_only_applies_to_sgd() -> None:
    assert build_config({"optimizer": "adam", "nesterov": True}).optim.nesterov is False


@pytest.mark.parametrize("values, words", [
    ({"params": {"hidden_sizes": "64, x"}}, "whole number"),
    ({"params": {"hidden_sizes": ""}}, "entries"),
    ({"params": {"dropout": 0.95}}, "between"),
    ({"lr": 0}, "learning rate"),
    ({"epochs": "many"}, "not a valid number"),
    ({"grad_clip": -1}, "clipping"),
    ({"model": "logistic", "params": {"hidden_sizes": "8"}}, "unknown logistic parameter"),
])
def test_bad_values_raise_a_readable_config_error(values, words) -> None:
    with pytest.raises(ConfigError, match=words):
        build_config(values)


def test_monitor_choices_follow_the_task() -> None:
    assert monitor_choices("regression") == ("loss", "r2")
    assert monitor_choices("binary") == monitor_choices("multiclass") == ("loss", "accuracy")


def test_cli_command_reproduces_the_common_settings() -> None:
    config = build_config({
        "source": "iris", "target": "species", "task": "multiclass", "params": {"hidden_sizes": "16, 8"},
        "optimizer": "adamw", "lr": 0.003, "schedule": "cosine", "weight_decay": 0.01, "batch_size": 8,
        "epochs": 40, "patience": 5, "device": "cpu", "precision": "fp16", "seed": 3, "name": "a b",
    })
    command = config_to_cli(config)
    argv = shlex.split(command)
    assert argv[:2] == ["workbench", "train"] and "--config" not in argv
    args = build_parser().parse_args(argv[1:])
    again = config_from_args(args)
    for section in ("data", "optim", "schedule"):
        assert getattr(again, section) == getattr(config, section)
    assert again.model.params["hidden_sizes"] == [16, 8]
    assert (again.train.epochs, again.train.batch_size, again.train.patience, again.train.device,
            again.train.precision, again.train.seed) == (40, 8, 5, "cpu", "fp16", 3)
    assert again.name == "a b"


def test_cli_command_turns_early_stopping_off_and_skips_defaults() -> None:
    command = config_to_cli(build_config({"early_stopping": False}))
    assert "--no-early-stopping" in command and "--patience" not in command
    assert "--schedule" not in command and "--device" not in command and "--precision" not in command


# Settings the Train form leaves at RunConfig's default (they are in the YAML and the CLI's --config).
NOT_ON_THE_FORM = {("data", "content_hash"), ("data", "val_fraction"), ("data", "test_fraction"),
                   ("train", "drop_last"),
                   # importance snapshots: every epochs // 5 unless the YAML says otherwise (0: off)
                   ("train", "shap_every"),
                   # the form's device says it ("All GPUs": one process each); several on the CPU is --processes
                   ("train", "processes"),
                   # a run that starts from another's weights is made from that run, not on the Train form
                   ("init", "from_run"), ("init", "weights"), ("init", "freeze")}


def test_form_defaults_are_runconfigs_defaults() -> None:
    """Every setting the form exposes starts at the dataclass default (None shown as the form's word for it)."""
    sections = {"data": DataConfig, **{f.name: f.default_factory for f in fields(RunConfig)
                                       if f.default_factory is not MISSING}}  # every section, a new one too
    assert {"model", "optim", "schedule", "train"} <= set(sections)
    exposed = {where: key for key, where in FORM_FIELDS.items()}
    for section, kind in sections.items():
        for f in fields(kind):
            if (section, f.name) in NOT_ON_THE_FORM or f.default is MISSING and f.default_factory is MISSING:
                continue  # data.source and data.target have no default: the form starts on the iris sample
            assert (section, f.name) in exposed, f"{section}.{f.name} is neither on the form nor NOT_ON_THE_FORM"
            default = f.default if f.default is not MISSING else f.default_factory()
            key = exposed[(section, f.name)]
            assert FORM_DEFAULTS[key] == (UNSET[key] if default is None and key in UNSET else default), key
    assert (FORM_DEFAULTS["source"], FORM_DEFAULTS["target"]) == (DEFAULT_SOURCE, DEFAULT_TARGET)
    assert FORM_DEFAULTS["name"] == "" and RunConfig(data=DataConfig("x", "y")).name is None
    # and the empty form builds exactly the default config (with the model's default parameters filled in)
    default = RunConfig(data=DataConfig(DEFAULT_SOURCE, DEFAULT_TARGET),
                        model=ModelConfig(params=resolve_params("mlp", {})))
    assert build_config({}) == default


def test_form_values_round_trip_a_config() -> None:
    config = build_config({"source": "wine", "target": "cultivar", "optimizer": "sgd", "lr": 0.05, "nesterov": True,
                           "schedule": "plateau", "monitor": "accuracy", "grad_clip": 2.0, "name": "x",
                           "early_stopping": False, "params": {"hidden_sizes": "8"}})
    assert build_config(form_values(config)) == config
    unset = form_values(build_config({}))
    assert (unset["monitor"], unset["grad_clip"], unset["name"]) == ("loss", 0.0, "")


@pytest.mark.parametrize("kind, source, target", [
    ("linear", "diabetes", "progression"), ("logistic", "iris", "species"), ("mlp", "tips", "tip"),
    ("cnn", "digits", "label"),
])
def test_every_model_kind_builds_with_its_default_settings(kind, source, target) -> None:
    config = build_config({"model": kind, "source": source, "target": target})
    assert config.model.kind == kind and set(config.model.params) == {p.name for p in model_spec(kind)}

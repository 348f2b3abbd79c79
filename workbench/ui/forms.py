"""The Train form: widgets from a model's hyperparameter spec, and form values -> RunConfig -> CLI.

`build_config`, `form_values` and `config_to_cli` are plain functions (unit-tested); `hyperparam_inputs`
draws the widgets for one model's spec. The form's defaults are RunConfig's (FORM_DEFAULTS is derived
from the dataclasses), so a default is changed in core/config.py alone.
"""
from __future__ import annotations

import shlex
from typing import Any, Mapping

import streamlit as st

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig, SequenceConfig, TrainConfig
from core.errors import ConfigError
from core.vocab import ALL_GPUS
from core.models import HyperParam, model_spec, resolve_params
from workbench.ui.common import device_line, gpu_option
from workbench.ui.state import DEFAULT_SOURCE, DEFAULT_TARGET

# Form key -> (RunConfig section, field): every key build_config reads. "" is RunConfig itself.
FORM_FIELDS: dict[str, tuple[str, str]] = {
    "source": ("data", "source"), "target": ("data", "target"), "task": ("data", "task"), "roles": ("data", "roles"),
    "model": ("model", "kind"), "params": ("model", "params"),
    "optimizer": ("optim", "name"), "lr": ("optim", "lr"), "momentum": ("optim", "momentum"),
    "nesterov": ("optim", "nesterov"), "weight_decay": ("optim", "weight_decay"), "l1": ("optim", "l1"),
    "schedule": ("schedule", "name"), "step_size": ("schedule", "step_size"), "gamma": ("schedule", "gamma"),
    "plateau_patience": ("schedule", "plateau_patience"), "plateau_factor": ("schedule", "plateau_factor"),
    "warmup_fraction": ("schedule", "warmup_fraction"),
    "batch_size": ("train", "batch_size"), "epochs": ("train", "epochs"),
    "early_stopping": ("train", "early_stopping"), "patience": ("train", "patience"), "monitor": ("train", "monitor"),
    "grad_clip": ("train", "grad_clip"), "device": ("train", "device"), "precision": ("train", "precision"),
    "seed": ("train", "seed"), "name": ("", "name"),
    "image_size": ("data", "image_size"), "image_color": ("data", "image_color"), "augment": ("train", "augment"),
    "sequence": ("", "sequence"),  # set on the Data page (DataChoice.sequence), not in the Train form
}
# What a widget shows for a setting the config leaves unset (None).
UNSET = {"monitor": "loss", "grad_clip": 0.0, "name": "", "image_size": 0}


def form_values(config: RunConfig) -> dict[str, Any]:
    """The form's values that describe `config` (build_config's inverse for what the form shows)."""
    values: dict[str, Any] = {}
    for key, (section, name) in FORM_FIELDS.items():
        value = getattr(getattr(config, section) if section else config, name)
        values[key] = UNSET.get(key, value) if value is None else value
    return values


# The values the form starts from: RunConfig's defaults, on the sample the Train page starts with.
FORM_DEFAULTS: dict[str, Any] = form_values(RunConfig(data=DataConfig(DEFAULT_SOURCE, DEFAULT_TARGET)))


def build_config(values: Mapping[str, Any]) -> RunConfig:
    """The RunConfig a filled-in Train form describes; ConfigError (a user-fit message) if it is invalid."""
    try:
        return _build_config({**FORM_DEFAULTS, **values})
    except (TypeError, ValueError) as exc:  # a number field that holds no number
        raise ConfigError(f"a training setting is not a valid number ({exc})") from None


def _build_config(v: dict[str, Any]) -> RunConfig:
    kind = str(v["model"])
    params = resolve_params(kind, v.get("params") or {})  # "64, 64" -> [64, 64], ranges checked
    grad_clip = float(v["grad_clip"] or 0.0)
    if grad_clip < 0:
        raise ConfigError("gradient clipping must be 0 (off) or a positive number")
    monitor = str(v["monitor"] or "loss")
    name = str(v["name"] or "").strip() or None
    config = RunConfig(
        data=DataConfig(source=str(v["source"]), target=str(v["target"]), task=v["task"] or None,
                        roles=dict(v["roles"] or {}), image_size=int(v["image_size"]) if v["image_size"] else None,
                        image_color=str(v["image_color"] or "auto")),
        model=ModelConfig(kind=kind, params=params),
        optim=OptimConfig(name=str(v["optimizer"]), lr=float(v["lr"]), weight_decay=float(v["weight_decay"]),
                          l1=float(v["l1"]), momentum=float(v["momentum"]),
                          nesterov=bool(v["nesterov"]) and v["optimizer"] == "sgd"),
        schedule=ScheduleConfig(name=str(v["schedule"]), step_size=int(v["step_size"]), gamma=float(v["gamma"]),
                                plateau_patience=int(v["plateau_patience"]),
                                plateau_factor=float(v["plateau_factor"]),
                                warmup_fraction=float(v["warmup_fraction"])),
        train=TrainConfig(epochs=int(v["epochs"]), batch_size=int(v["batch_size"]),
                          early_stopping=bool(v["early_stopping"]), patience=int(v["patience"]),
                          monitor=None if monitor == "loss" else monitor,
                          grad_clip=grad_clip or None, device=str(v["device"]), precision=str(v["precision"]),
                          seed=int(v["seed"]), augment=dict(v["augment"] or {})),
        name=name,
        sequence=SequenceConfig(**v["sequence"]) if isinstance(v.get("sequence"), Mapping) else v.get("sequence"),
    )
    return config.validate()


def device_options(devices: list[dict[str, Any]]) -> dict[str, str]:
    """The Device select, config value -> label, from available_devices(). With several GPUs each is an
    option of its own ("cuda:1"), so runs can be spread over them, and one run can take them all (cuda:all,
    a process per GPU); with one, "cuda" as always."""
    gpus = [d for d in devices if d["id"] == "cuda"]
    if len(gpus) > 1:
        options = {"auto": "Automatic (GPU 0)"}
        options.update({f"cuda:{d['index']}": gpu_option(d) for d in gpus})
        options[ALL_GPUS] = f"All {len(gpus)} GPUs (one process each, DDP)"
    else:
        options = {"auto": "Automatic (the GPU if there is one)"}
        options.update({"cuda": device_line(d) for d in gpus})
    for d in devices:
        if d["id"] != "cuda":
            options.setdefault(d["id"], device_line(d))
    return options


def cluster_device_options(options: dict[str, str]) -> dict[str, str]:
    """The Device select when the run goes to Ray: a GPU is the cluster's, even where this machine has none."""
    if "cuda" in options or any(k.startswith("cuda:") for k in options):
        return options
    return {**options, "cuda": "A GPU on a Ray node (Ray picks one)"}


def config_to_cli(config: RunConfig) -> str:
    """`workbench train ...` with the common flags; what has no flag is only in the YAML."""
    d, m, o, s, t = config.data, config.model, config.optim, config.schedule, config.train
    args: list[str] = ["workbench", "train", "--data", d.source, "--target", d.target]
    if d.task:
        args += ["--task", d.task]
    args += ["--model", m.kind]
    q = config.sequence
    if q is not None:
        for flag, value in (("--time-column", q.time_column), ("--series-id", q.series_id),
                            ("--inputs", ",".join(q.inputs)), ("--window", q.window), ("--horizon", q.horizon),
                            ("--stride", q.stride), ("--seasonal-period", q.seasonal_period)):
            if value and not (flag in ("--horizon", "--stride") and value == 1):
                args += [flag, str(value)]
    hidden = m.params.get("hidden_sizes") if m.kind == "mlp" else None
    if hidden:
        args += ["--hidden", ",".join(str(int(h)) for h in hidden)]
    args += ["--epochs", str(t.epochs), "--batch-size", str(t.batch_size), "--lr", _num(o.lr),
             "--optimizer", o.name]
    if s.name != "constant":
        args += ["--schedule", s.name]
    if o.weight_decay:
        args += ["--weight-decay", _num(o.weight_decay)]
    if t.early_stopping:
        args += ["--patience", str(t.patience)]
    else:
        args.append("--no-early-stopping")
    if t.device != "auto":
        args += ["--device", t.device]
    if t.processes:
        args += ["--processes", str(t.processes)]
    if t.precision != "fp32":
        args += ["--precision", t.precision]
    args += ["--seed", str(t.seed)]
    if d.image_size:
        args += ["--image-size", str(d.image_size)]
    if d.image_color != "auto":
        args += ["--color", d.image_color]
    if t.augment:
        args += ["--augment", ",".join(f"{k}={_num(float(v))}" for k, v in t.augment.items())]
    if config.name:
        args += ["--name", config.name]
    return " ".join(shlex.quote(a) for a in args)


def _num(x: float) -> str:
    return f"{x:g}"


# --- widgets --------------------------------------------------------------------------
def hyperparam_inputs(kind: str, key_prefix: str) -> dict[str, Any]:
    """Draw one input per hyperparameter of `kind` (advanced ones in an expander); returns name -> value."""
    spec = model_spec(kind)
    values: dict[str, Any] = {}
    basic = [p for p in spec if not p.advanced]
    advanced = [p for p in spec if p.advanced]
    if not spec:
        st.caption("This model has no settings of its own: it learns one weight per input.")
    for p in basic:
        values[p.name] = _input(p, f"{key_prefix}{kind}_{p.name}")
    if advanced:
        with st.expander("Advanced"):
            for p in advanced:
                values[p.name] = _input(p, f"{key_prefix}{kind}_{p.name}")
    return values


def _input(p: HyperParam, key: str) -> Any:
    label = p.label or p.name.replace("_", " ").capitalize()
    fresh = key not in st.session_state  # a value restored into session state must not fight a default

    def default(**kw: Any) -> dict[str, Any]:
        return kw if fresh else {}

    if p.kind == "int":
        return st.number_input(label, min_value=_int_or_none(p.low), max_value=_int_or_none(p.high), step=1,
                               help=p.help, key=key, **default(value=int(p.default)))
    if p.kind == "float":
        span = (p.high or 1.0) - (p.low or 0.0)
        return st.number_input(label, min_value=p.low, max_value=p.high,
                               step=float(f"{span / 20:.1g}") if span > 0 else 0.01, help=p.help, key=key,
                               **default(value=float(p.default)))
    if p.kind == "choice":
        options = list(p.choices)
        return st.selectbox(label, options, help=p.help, key=key, **default(index=options.index(p.default)))
    if p.kind == "bool":
        return st.checkbox(label, help=p.help, key=key, **default(value=bool(p.default)))
    if p.kind == "int_list":
        items = f"{p.min_items or 1} to {p.max_items}" if p.max_items else "one or more"
        return st.text_input(label, help=f"{p.help} Comma-separated whole numbers, {items} entries, e.g. 64, 64.",
                             key=key, **default(value=", ".join(str(v) for v in p.default)))
    raise AssertionError(f"unhandled hyperparameter kind {p.kind!r}")


def _int_or_none(x: float | None) -> int | None:
    return None if x is None else int(x)

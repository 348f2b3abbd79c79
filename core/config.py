"""RunConfig: the single description of a run, frozen, round-tripped through YAML.

The Train page builds one, `workbench train --config run.yaml` reads one, export
writes one. Same config + same seed + same device = same result.
"""
from __future__ import annotations


import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from core.errors import ConfigError
from core.vocab import (
    ALL_GPUS, AUGMENTATIONS, DEVICES, EPOCH_METRICS, IMAGE_COLORS, INIT_WEIGHTS, MODEL_KINDS, OPTIMIZERS, PRECISIONS, ROLES, SCHEDULES, TASKS,
    metric_base, suggested_models,
)

# no leading zeros: "cuda:01" and "cuda:1" would otherwise be two queues for one GPU
_ONE_GPU = re.compile(r"cuda:(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class DataConfig:
    source: str  # a sample's name ("iris") or a path to CSV/Parquet
    target: str
    task: str | None = None  # None: inferred from the target column
    roles: Mapping[str, str] = field(default_factory=dict)  # column -> role override
    content_hash: str | None = None  # sha256 of the file; checked on reproduce
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    image_size: int | None = None  # images: the longer side in pixels; None: the images' median, capped
    image_color: str = "auto"  # images: auto (grayscale when every image is grey) | grayscale | rgb


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mlp"  # one of core.vocab.MODEL_KINDS
    params: Mapping[str, Any] = field(default_factory=dict)  # from the model's spec


@dataclass(frozen=True)
class OptimConfig:
    name: str = "auto"  # core.vocab.resolve_optimizer: L-BFGS for linear and logistic models, Adam otherwise
    lr: float = 1e-3  # step optimisers only: L-BFGS's line search chooses its own steps
    weight_decay: float = 0.0  # L2
    l1: float = 0.0
    momentum: float = 0.9  # sgd, rmsprop
    nesterov: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "constant"
    step_size: int = 10  # step: epochs between decays
    gamma: float = 0.5  # step: decay factor
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    warmup_fraction: float = 0.3  # onecycle: pct_start


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    early_stopping: bool = True
    patience: int = 8
    monitor: str | None = None  # None: val loss
    grad_clip: float | None = None
    device: str = "auto"
    # training processes for one run (DDP): None is one, or one per GPU on cuda:all; more than one on
    # "cpu" (gloo: tests, a many-core machine) or cuda:all (the first N GPUs)
    processes: int | None = None
    precision: str = "fp32"
    seed: int = 0
    drop_last: bool = False
    # images: random changes to each training batch, on the device (core.training.augment):
    # crop, flip, rotation, color, cutout -> strength; empty: none
    augment: Mapping[str, Any] = field(default_factory=dict)
    # a small global SHAP importance every this many epochs (core.runs.insight): None is
    # max(1, epochs // 5), 0 is off; tables only
    shap_every: int | None = None


@dataclass(frozen=True)
class InitConfig:
    """Where the model's weights start: fresh (seeded) unless `from_run` names a run to start from.

    Fine-tuning a run on new data and resuming a stopped run both read this one section
    (core.runs.warm_start, before fit). The new run keeps the parent's fitted preprocessing (a
    table's scaling and encoding), so the weights meet inputs that mean what they meant."""

    from_run: str | None = None  # the run id whose weights the model starts from
    weights: str = "final"  # "final": the completed run's model; "checkpoint": a stopped run's last good weights
    freeze: int = 0  # the first N layers with weights keep the parent's values (a norm goes with its layer)


@dataclass(frozen=True)
class SequenceConfig:
    """How a table becomes sequences. With a numeric target each example is a window of `window` rows
    and the target `horizon` steps after its last row (a forecast); with a class target each example is
    one whole sequence: a row of step columns (wide), or the rows of one `series_id` (long)."""
    time_column: str | None = None  # parsed and sorted by; gaps and duplicates are reported
    series_id: str | None = None  # long format: the column that names each series (or sequence)
    inputs: tuple[str, ...] = ()  # value columns the model reads; empty: every numeric one (target too)
    window: int | None = None  # steps per example; None: 24 for a forecast, the longest sequence to classify
    stride: int = 1  # steps between the starts of two windows
    horizon: int = 1  # how many steps after the window's last row the forecast target lies
    seasonal_period: int | None = None  # the seasonal-naive baseline's period in steps; None: from the spacing

    def __post_init__(self) -> None:  # YAML hands over lists; the config stays hashable
        object.__setattr__(self, "inputs", tuple(str(c) for c in (self.inputs or ())))

    def problems(self, target: str) -> list[str]:
        """What is wrong with these settings, in words; [] when they are fine."""
        out = []
        for name, value, low in (("window", self.window, 1), ("stride", self.stride, 1), ("horizon", self.horizon, 1)):
            if name == "window" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                out.append(f"sequence {name} must be a whole number >= {low}, got {value!r}")
        if self.seasonal_period is not None and (isinstance(self.seasonal_period, bool)
                                                 or not isinstance(self.seasonal_period, int)
                                                 or self.seasonal_period < 1):
            out.append(f"sequence seasonal_period must be a whole number >= 1 or empty, got {self.seasonal_period!r}")
        if isinstance(self.window, int) and self.window > MAX_WINDOW:
            out.append(f"sequence window must be at most {MAX_WINDOW} steps, got {self.window}")
        named = [c for c in (self.time_column, self.series_id) if c]
        if len(set(named)) < len(named):
            out.append("the time column and the series id must be two different columns")
        if target in named:
            out.append(f"the target '{target}' cannot also be the time column or the series id")
        clash = [c for c in self.inputs if c in named]
        if clash:
            out.append(f"input column '{clash[0]}' is the time column or the series id; leave it out of the inputs")
        if len(set(self.inputs)) < len(self.inputs):
            out.append("an input column is named twice")
        return out


MAX_WINDOW = 10_000


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None
    init: InitConfig = field(default_factory=InitConfig)
    sequence: SequenceConfig | None = None  # None: a table (or image) run, one example per row

    @property
    def data_kind(self) -> str:
        """'sequence' when the run reads sequences; tables and images are told apart by their dataset."""
        return "sequence" if self.sequence is not None else "table"

    def validate(self) -> "RunConfig":
        d, o, s, t, i = self.data, self.optim, self.schedule, self.train, self.init
        bad_device = device_problem(t.device)
        checks = [
            (bool(d.source), "data.source is empty"),
            (bool(d.target), "data.target is empty"),
            (d.task is None or d.task in TASKS, f"task must be one of {TASKS}, got {d.task!r}"),
            (all(r in ROLES for r in d.roles.values()), f"column roles must be one of {ROLES}"),
            (0 < d.val_fraction < 0.5 and 0 < d.test_fraction < 0.5, "val/test fractions must be in (0, 0.5)"),
            (self.model.kind in MODEL_KINDS, f"unknown model {self.model.kind!r}; choose one of: {', '.join(MODEL_KINDS)}"),
            (o.name in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {o.name!r}"),
            (o.lr > 0, "learning rate must be > 0"),
            (o.weight_decay >= 0 and o.l1 >= 0, "regularisation must be >= 0"),
            (s.name in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {s.name!r}"),
            (t.epochs >= 1, "epochs must be >= 1"),
            (t.batch_size >= 1, "batch size must be >= 1"),
            (t.monitor is None or metric_base(t.monitor) in EPOCH_METRICS,
             f"early stopping can watch val {', '.join(EPOCH_METRICS)}, got {t.monitor!r}"),
            (bad_device is None, bad_device or ""),
            (t.processes is None or (isinstance(t.processes, int) and not isinstance(t.processes, bool)
                                     and 1 <= t.processes <= 64),
             f"processes must be a whole number from 1 to 64, got {t.processes!r}"),
            ((t.processes or 1) == 1 or t.device in ("cpu", ALL_GPUS),
             f"several processes train one run on cpu or on cuda:all (one per GPU), not on {t.device!r}"),
            (t.shap_every is None or (isinstance(t.shap_every, int) and not isinstance(t.shap_every, bool)
                                      and t.shap_every >= 0),
             f"shap_every is a number of epochs (0 is off), got {t.shap_every!r}"),
            (t.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {t.precision!r}"),
            (d.image_color in IMAGE_COLORS, f"image colour must be one of {IMAGE_COLORS}, got {d.image_color!r}"),
            (d.image_size is None or (isinstance(d.image_size, int) and 8 <= d.image_size <= 512),
             f"image size must be a whole number of pixels from 8 to 512, got {d.image_size!r}"),
            (isinstance(t.augment, Mapping) and set(t.augment) <= set(AUGMENTATIONS),
             f"augmentations are {', '.join(AUGMENTATIONS)}; got {', '.join(map(str, t.augment)) if isinstance(t.augment, Mapping) else t.augment!r}"),
            (i.from_run is None or (isinstance(i.from_run, str) and bool(i.from_run)),
             f"init.from_run must be a run id, got {i.from_run!r}"),
            (i.weights in INIT_WEIGHTS, f"init.weights must be one of {INIT_WEIGHTS}, got {i.weights!r}"),
            (isinstance(i.freeze, int) and not isinstance(i.freeze, bool) and i.freeze >= 0,
             f"init.freeze is a number of layers (0 or more), got {i.freeze!r}"),
            (i.freeze == 0 or i.from_run is not None, "init.freeze needs init.from_run: only a parent's layers can stay frozen"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.sequence is not None:
            problems = self.sequence.problems(d.target)
            if problems:
                raise ConfigError(problems[0])
        kind_takes = MODEL_KINDS[self.model.kind].data_kinds
        if self.data_kind == "sequence" and "sequence" not in kind_takes:
            raise ConfigError(f"{MODEL_KINDS[self.model.kind].label} does not read sequences; "
                              f"use {suggested_models('regression', 'sequence')}")
        if self.data_kind != "sequence" and kind_takes == ("sequence",):
            raise ConfigError(f"{MODEL_KINDS[self.model.kind].label} reads sequences: give the sequence settings "
                              "(a time column or series id, the window) or pick another model")
        return self

    # --- plain data round trip -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RunConfig":
        if not isinstance(raw, Mapping) or "data" not in raw:
            raise ConfigError("a run config needs at least a 'data' section with source and target")
        try:
            return cls(
                data=_build(DataConfig, raw["data"]),
                model=_build(ModelConfig, raw.get("model") or {}),
                optim=_build(OptimConfig, raw.get("optim") or {}),
                schedule=_build(ScheduleConfig, raw.get("schedule") or {}),
                train=_build(TrainConfig, raw.get("train") or {}),
                name=raw.get("name"),
                init=_build(InitConfig, raw.get("init") or {}),
                sequence=_build(SequenceConfig, raw["sequence"]) if raw.get("sequence") is not None else None,
            ).validate()
        except TypeError as exc:  # unknown or missing keys
            raise ConfigError(f"invalid run config: {exc}") from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "RunConfig":
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"the config is not valid YAML: {exc}") from None
        return cls.from_dict(raw or {})

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config {path} is not a UTF-8 text (YAML) file") from None
        return cls.from_yaml(text)

    def evolve(self, **sections: Any) -> "RunConfig":
        """Copy with whole sections or section fields replaced: evolve(train={"epochs": 5})."""
        changes: dict[str, Any] = {}
        for key, value in sections.items():
            current = getattr(self, key)
            if key == "sequence" and current is None and isinstance(value, Mapping):
                current = SequenceConfig()
            if is_dataclass(current) and isinstance(value, Mapping):
                changes[key] = replace(current, **value)
            else:
                changes[key] = value
        return replace(self, **changes).validate()


def device_problem(name: object) -> str | None:
    """Why `name` is no device a run can ask for, or None. Whether that GPU exists is the trainer's
    question (resolve_device): a config written on one machine stays valid on another."""
    if name in DEVICES or (isinstance(name, str) and _ONE_GPU.fullmatch(name)):
        return None
    return ("device must be auto, cpu, cuda (the default GPU), cuda:N (GPU number N: cuda:0, cuda:1, ...), "
            f"cuda:all (every GPU, one process each) or mps, got {name!r}")


def _build(kind: type, raw: Mapping[str, Any]) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"section for {kind.__name__} must be a mapping")
    known = {f.name for f in fields(kind)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown keys in {kind.__name__}: {', '.join(sorted(unknown))}")
    return kind(**{k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()})


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'epochs': 3}} -> {'train.epochs': 3}; used for config diffs and tables."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_diff(configs: list[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Only the flattened keys whose values differ across the configs."""
    flat = [flatten(c) for c in configs]
    keys = sorted(set().union(*flat)) if flat else []
    return {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}


__all__ = [
    "DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "TrainConfig", "InitConfig", "SequenceConfig",
    "RunConfig",
    "flatten", "config_diff", "device_problem",
]

"""What a search may vary: the candidates for one model kind, their ranges, and values -> RunConfig.

The candidates are the Train form's settings: the model's own hyperparameters
(from `core.models.model_spec`), with a list of layer sizes searched as a width
and a depth, plus learning rate, batch size, weight decay and optimizer. Epochs
stay fixed: a search compares settings at the same training budget.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from core.config import RunConfig
from core.vocab import OPTIMIZERS
from core.errors import ConfigError
from core.models import HyperParam, model_spec, resolve_params

SEARCH_KINDS = ("float", "int", "choice")
WIDTH, DEPTH = "width", "depth"  # the searched stand-ins for a model's list of layer sizes


@dataclass(frozen=True)
class SearchParam:
    """One searched hyperparameter: a numeric range (optionally log-scaled) or a set of choices."""

    name: str  # the Optuna parameter name; also what apply_values() understands
    kind: str  # one of SEARCH_KINDS
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    label: str = ""
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["choices"] = list(self.choices)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "SearchParam":
        return cls(**{**raw, "choices": tuple(raw.get("choices") or ())})

    def describe(self) -> str:
        if self.kind == "choice":
            return " | ".join(str(c) for c in self.choices)
        scale = " (log)" if self.log else ""
        return f"{_short(self.low)} to {_short(self.high)}{scale}"


_COMMON: tuple[SearchParam, ...] = (
    SearchParam("lr", "float", 1e-4, 1e-1, log=True, label="Learning rate",
                help="How big each weight update is; searched on a log scale."),
    SearchParam("batch_size", "choice", choices=(16, 32, 64, 128, 256), label="Batch size",
                help="How many rows each update looks at."),
    SearchParam("weight_decay", "float", 1e-6, 1e-2, log=True, label="Weight decay",
                help="An L2 penalty that keeps weights small, against overfitting."),
    # "auto" is one of the others, picked per model: a search tries the optimisers themselves
    SearchParam("optimizer", "choice", choices=tuple(o for o in OPTIMIZERS if o != "auto"), label="Optimizer",
                help="The rule that turns gradients into weight updates."),
)

# Search ranges narrower than what a model accepts: the spec's dropout goes to 0.9,
# but a search that spends half its trials above 0.5 mostly learns that it is too much.
_RANGE_OVERRIDES: dict[str, tuple[float, float]] = {"dropout": (0.0, 0.5), "l2": (0.01, 100.0)}
_LIST_RANGES: dict[str, tuple[int, int, int]] = {  # int_list name -> width low, width high, max depth
    "hidden_sizes": (8, 256, 3),
    "channels": (8, 64, 3),
}


def search_candidates(kind: str) -> list[SearchParam]:
    """Everything the Tune form offers for `kind`, with a sensible default range each."""
    params: list[SearchParam] = []
    for p in model_spec(kind):
        params.extend(_from_spec(p))
    return [*_COMMON, *params]


def _from_spec(p: HyperParam) -> list[SearchParam]:
    label, help_ = p.label or p.name.replace("_", " ").capitalize(), p.help
    if p.kind == "int_list":
        w_low, w_high, depth = _LIST_RANGES.get(p.name, (8, 256, 3))
        max_depth = min(depth, p.max_items or depth)
        return [
            SearchParam(WIDTH, "int", w_low, w_high, log=True, label=f"{label}: width",
                        help="Neurons (or filters) per layer, searched on a log scale."),
            SearchParam(DEPTH, "int", p.min_items or 1, max_depth, label=f"{label}: depth",
                        help="How many layers."),
        ]
    if p.kind == "bool":
        return [SearchParam(p.name, "choice", choices=(False, True), label=label, help=help_)]
    if p.kind == "choice":
        return [SearchParam(p.name, "choice", choices=tuple(p.choices), label=label, help=help_)]
    low, high = _RANGE_OVERRIDES.get(p.name, (p.low, p.high))
    if p.kind == "int" and p.log:  # a spec range such as 1..4096 is far too wide to search
        low, high = max(p.low or 1, int(p.default) // 4), min(p.high or math.inf, int(p.default) * 4)
    return [SearchParam(p.name, p.kind, low, high, log=p.log, label=label, help=help_)]


def candidate(kind: str, name: str) -> SearchParam:
    for p in search_candidates(kind):
        if p.name == name:
            return p
    known = ", ".join(p.name for p in search_candidates(kind))
    raise ConfigError(f"{kind} has no setting '{name}' to search (choose from: {known})")


def default_search(kind: str) -> list[SearchParam]:
    """What `workbench tune` searches when no --search is given."""
    wanted = ("lr", "batch_size", "weight_decay", WIDTH, DEPTH, "dropout", "l2")
    return [p for p in search_candidates(kind) if p.name in wanted]


# --- values <-> config ------------------------------------------------------------------
def current_values(config: RunConfig) -> dict[str, Any]:
    """The value each candidate has in `config` (what a setting that is not searched stays at)."""
    kind = config.model.kind
    params = resolve_params(kind, config.model.params)
    values: dict[str, Any] = {"lr": config.optim.lr, "batch_size": config.train.batch_size,
                              "weight_decay": config.optim.weight_decay, "optimizer": config.optim.name}
    for p in model_spec(kind):
        if p.kind == "int_list":
            sizes = list(params[p.name])
            values[WIDTH], values[DEPTH] = int(sizes[0]), len(sizes)
        else:
            values[p.name] = params[p.name]
    return values


def apply_values(config: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """`config` with the searched values set; ConfigError (a user-fit message) if one does not fit."""
    kind = config.model.kind
    spec = {p.name: p for p in model_spec(kind)}
    known = {p.name for p in search_candidates(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{kind} has no setting {', '.join(unknown)} to search (choose from: {', '.join(sorted(known))})")
    optim: dict[str, Any] = {}
    train: dict[str, Any] = {}
    params = dict(resolve_params(kind, config.model.params))
    for name, value in values.items():
        if name == "lr":
            optim["lr"] = _positive(name, value)
        elif name == "weight_decay":
            optim["weight_decay"] = float(value)
        elif name == "optimizer":
            optim["name"] = str(value)
        elif name == "batch_size":
            train["batch_size"] = int(value)
        elif name not in (WIDTH, DEPTH):
            params[name] = value
    if WIDTH in values or DEPTH in values:
        list_name = next(n for n, p in spec.items() if p.kind == "int_list")
        sizes = list(params[list_name])
        width = int(values.get(WIDTH, sizes[0]))
        depth = int(values.get(DEPTH, len(sizes)))
        params[list_name] = layer_sizes(list_name, width, depth)
    return config.evolve(optim=optim, train=train, model={"params": resolve_params(kind, params)})


def layer_sizes(list_name: str, width: int, depth: int) -> list[int]:
    """An MLP keeps one width for every layer; a CNN doubles its filters at each layer, as is usual."""
    if list_name == "channels":
        return [width * 2**i for i in range(depth)]
    return [width] * depth


def check_space(config: RunConfig, space: Sequence[SearchParam]) -> list[SearchParam]:
    """Each range is well formed and both of its ends (each choice) make a valid config."""
    if not space:
        raise ConfigError("mark at least one setting to search")
    names = [p.name for p in space]
    if len(set(names)) != len(names):
        raise ConfigError("each setting can be searched only once")
    checked = []
    for p in space:
        base = candidate(config.model.kind, p.name)
        p = replace(p, label=p.label or base.label, help=p.help or base.help)
        where = p.label or p.name
        if p.kind not in SEARCH_KINDS:
            raise ConfigError(f"{where}: a search is over a float, int or choice range, not {p.kind!r}")
        if p.kind == "choice":
            if not p.choices:
                raise ConfigError(f"{where}: pick at least one option to search")
            ends: Iterable[Any] = p.choices
        else:
            if p.low is None or p.high is None or not (math.isfinite(p.low) and math.isfinite(p.high)):
                raise ConfigError(f"{where}: give the range as two numbers, low and high")
            if p.low >= p.high:
                raise ConfigError(f"{where}: the low end ({_short(p.low)}) must be below the high end ({_short(p.high)})")
            if p.log and p.low <= 0:
                raise ConfigError(f"{where}: a log-scale range must start above 0")
            if p.kind == "int":
                p = replace(p, low=int(round(p.low)), high=int(round(p.high)))
            ends = (p.low, p.high)
        for value in ends:
            try:
                apply_values(config, {p.name: value})
            except ConfigError as exc:  # the spec's own range message, said of the searched setting
                raise ConfigError(f"{where}: {exc}") from None
        checked.append(p)
    return checked


def parse_search(items: Iterable[str], kind: str) -> list[SearchParam]:
    """CLI syntax, one item per --search: `lr` (default range), `lr=1e-4:0.1`, `optimizer=adam,sgd`."""
    space: list[SearchParam] = []
    for item in items:
        name, _, spec = item.partition("=")
        base = candidate(kind, name.strip())
        if not spec:
            space.append(base)
        elif base.kind == "choice":
            chosen = [c.strip() for c in spec.split(",") if c.strip()]
            by_text = {str(c).lower(): c for c in base.choices}
            missing = [c for c in chosen if c.lower() not in by_text]
            if missing:
                raise ConfigError(f"{base.name} can be {', '.join(map(str, base.choices))}; not {', '.join(missing)}")
            space.append(replace(base, choices=tuple(by_text[c.lower()] for c in chosen)))
        else:
            low, sep, high = spec.partition(":")
            try:
                space.append(replace(base, low=float(low), high=float(high)))
            except ValueError:
                raise ConfigError(f"--search {item}: give a range as LOW:HIGH, e.g. {base.name}="
                                  f"{_short(base.low)}:{_short(base.high)}") from None
            if not sep:
                raise ConfigError(f"--search {item}: give a range as LOW:HIGH")
    return space


def suggest(trial: Any, space: Sequence[SearchParam]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per searched setting."""
    values: dict[str, Any] = {}
    for p in space:
        if p.kind == "float":
            values[p.name] = trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return values


def _positive(name: str, value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ConfigError(f"{name} must be above 0, got {value!r}")
    return number


def _short(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


__all__ = [
    "SearchParam", "SEARCH_KINDS", "WIDTH", "DEPTH", "search_candidates", "candidate", "default_search",
    "current_values", "apply_values", "layer_sizes", "check_space", "parse_search", "suggest",
]

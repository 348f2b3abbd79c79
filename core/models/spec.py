"""Each model kind's hyperparameter spec (the kinds themselves are named in core.vocab).

The spec is plain data so the Train page can render it as a form, the CLI can
check a YAML file against it, and `resolve_params` is the one place where
user-given values are coerced and range-checked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from core.errors import ConfigError
from core.vocab import MODEL_KINDS, ModelInfo, check_model_kind, models_for_task

HYPERPARAM_KINDS = ("int", "float", "choice", "bool", "int_list")


@dataclass(frozen=True)
class HyperParam:
    name: str
    kind: str  # one of HYPERPARAM_KINDS
    default: Any  # int_list defaults are tuples so the spec stays immutable and hashable
    low: float | None = None  # int/float: the value; int_list: each item
    high: float | None = None
    choices: tuple = ()
    log: bool = False  # the form should use a log-scale slider
    label: str = ""
    help: str = ""  # one plain-words sentence for a beginner
    advanced: bool = False  # folded away in the form by default
    # int_list only: how many items (layers) are allowed. Not in the original
    # brief, but a form needs the bounds and resolve_params enforces them.
    min_items: int | None = None
    max_items: int | None = None


_ACTIVATIONS = ("relu", "gelu", "tanh", "silu")

def _recurrent_spec(cell: str) -> tuple[HyperParam, ...]:
    return (
        HyperParam(
            "hidden_size", "int", 64, low=1, high=1024, log=True,
            label="Hidden size",
            help=f"How many numbers the {cell} keeps as its memory of the steps read so far.",
        ),
        HyperParam(
            "num_layers", "int", 1, low=1, high=4,
            label="Layers",
            help="Recurrent layers stacked on each other; the second reads the first one's memory at every step.",
        ),
        HyperParam(
            "bidirectional", "bool", False,
            label="Bidirectional",
            help="Also reads each sequence backwards: useful to classify whole sequences, "
                 "of little use when forecasting.",
            advanced=True,
        ),
        HyperParam(
            "dropout", "float", 0.0, low=0.0, high=0.9,
            label="Dropout",
            help="The share of the memory switched off at random while training (between layers and "
                 "before the output), which helps against overfitting.",
        ),
    )


_SPECS: dict[str, tuple[HyperParam, ...]] = {
    # scikit-learn's penalties and defaults, so that a run's linear baseline (core.evaluation.baselines)
    # is the same model fitted by another solver: Ridge's alpha, LogisticRegression's 1/C (zoo.py)
    "linear": (
        HyperParam(
            "l2", "float", 1.0, low=0.0, high=100.0, log=True,
            label="L2 penalty",
            help="How strongly the weights are pulled towards zero, as alpha in scikit-learn's Ridge: "
                 "1 is its default, 0 fits without a penalty.",
        ),
    ),
    "logistic": (
        HyperParam(
            "l2", "float", 1.0, low=0.0, high=100.0, log=True,
            label="L2 penalty",
            help="How strongly the weights are pulled towards zero, as 1/C in scikit-learn's "
                 "LogisticRegression: 1 is its default (C=1), 0 fits without a penalty, which lets the "
                 "weights grow without end when the classes can be told apart perfectly.",
        ),
    ),
    "mlp": (
        HyperParam(
            "hidden_sizes", "int_list", (64, 64), low=1, high=4096, min_items=1, max_items=8,
            label="Hidden layer sizes",
            help="How many neurons each hidden layer has; more layers or neurons can learn more but may overfit.",
        ),
        HyperParam(
            "activation", "choice", "relu", choices=_ACTIVATIONS,
            label="Activation",
            help="The bend applied after each layer that lets the network learn non-straight patterns.",
            advanced=True,
        ),
        HyperParam(
            "dropout", "float", 0.0, low=0.0, high=0.9,
            label="Dropout",
            help="The share of neurons switched off at random while training, which helps against overfitting.",
        ),
        HyperParam(
            "batch_norm", "bool", False,
            label="Batch normalisation",
            help="Rescales each layer's outputs during training, which often makes deeper networks train faster.",
            advanced=True,
        ),
    ),
    "cnn": (
        HyperParam(
            "channels", "int_list", (16, 32), low=1, high=512, min_items=1, max_items=5,
            label="Filters per conv layer",
            help="How many patterns each convolution layer looks for; each layer also halves the image size.",
        ),
        HyperParam(
            "kernel_size", "choice", 3, choices=(3, 5),
            label="Filter size",
            help="The width in pixels of each filter; larger filters see more of the image at once.",
            advanced=True,
        ),
        HyperParam(
            "hidden", "int", 64, low=1, high=4096, log=True,
            label="Dense layer size",
            help="How many neurons the fully connected layer after the convolutions has.",
        ),
        HyperParam(
            "dropout", "float", 0.1, low=0.0, high=0.9,
            label="Dropout",
            help="The share of neurons switched off at random while training, which helps against overfitting.",
            advanced=True,
        ),
        HyperParam(
            "batch_norm", "bool", True,
            label="Batch normalisation",
            help="Rescales each layer's outputs during training, which usually makes the network train faster.",
            advanced=True,
        ),
        HyperParam(
            "global_pool", "bool", False,
            label="Global average pooling",
            help="Averages each filter over the whole image before the dense layer: far fewer weights, "
                 "and less sensitive to where in the picture a shape is.",
            advanced=True,
        ),
    ),
    "resnet": (
        HyperParam(
            "blocks", "int_list", (1, 1, 1), low=1, high=4, min_items=1, max_items=4,
            label="Residual blocks per stage",
            help="One entry per stage; each stage after the first halves the image and doubles the filters.",
        ),
        HyperParam(
            "width", "int", 16, low=4, high=128, log=True,
            label="Filters in the first stage",
            help="How many patterns the first stage looks for; later stages have twice as many each.",
        ),
        HyperParam(
            "dropout", "float", 0.0, low=0.0, high=0.9,
            label="Dropout",
            help="The share of pooled features switched off at random while training, against overfitting.",
            advanced=True,
        ),
    ),
    "rnn": _recurrent_spec("RNN"),
    "lstm": _recurrent_spec("LSTM"),
    "gru": _recurrent_spec("GRU"),
    "cnn1d": (
        HyperParam(
            "channels", "int_list", (32, 32), low=1, high=512, min_items=1, max_items=6,
            label="Filters per conv layer",
            help="How many patterns along time each convolution layer looks for.",
        ),
        HyperParam(
            "kernel_size", "choice", 5, choices=(3, 5, 7),
            label="Filter length",
            help="How many consecutive steps each filter looks at; stacked layers see further.",
        ),
        HyperParam(
            "dropout", "float", 0.1, low=0.0, high=0.9,
            label="Dropout",
            help="The share of neurons switched off at random while training, which helps against overfitting.",
            advanced=True,
        ),
        HyperParam(
            "batch_norm", "bool", True,
            label="Batch normalisation",
            help="Rescales each layer's outputs during training, which usually makes the network train faster.",
            advanced=True,
        ),
    ),
}


def model_spec(kind: str) -> list[HyperParam]:
    check_model_kind(kind)
    return list(_SPECS[kind])


def resolve_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, values coerced to their kind and range-checked.

    Accepts what YAML, a CLI flag or a form may hand over ("0.2", "64, 32",
    "true"), so every entry point shares one set of rules and messages.
    """
    spec = model_spec(kind)
    given = dict(params or {})
    unknown = sorted(set(given) - {p.name for p in spec})
    if unknown:
        allowed = ", ".join(p.name for p in spec) or "none"
        raise ConfigError(
            f"unknown {kind} parameter(s): {', '.join(unknown)} (allowed: {allowed})"
        )
    return {p.name: _coerce(kind, p, given.get(p.name, p.default)) for p in spec}


def _coerce(kind: str, p: HyperParam, value: Any) -> Any:
    where = f"{kind} parameter '{p.name}'"
    if p.kind == "bool":
        return _to_bool(where, value)
    if p.kind == "int":
        return _in_range(where, p, _to_int(where, value))
    if p.kind == "float":
        return _in_range(where, p, _to_float(where, value))
    if p.kind == "choice":
        # Compare as text so "5" from a form or CLI matches the int choice 5.
        for choice in p.choices:
            if value == choice or str(value).strip().lower() == str(choice).lower():
                return choice
        options = ", ".join(str(c) for c in p.choices)
        raise ConfigError(f"{where} must be one of {options}, got {value!r}")
    if p.kind == "int_list":
        return _to_int_list(where, p, value)
    raise AssertionError(f"unhandled hyperparameter kind {p.kind!r}")


def _to_bool(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise ConfigError(f"{where} must be true or false, got {value!r}")


def _to_int(where: str, value: Any) -> int:
    # bool is an int subclass; True as "1 neuron" is almost surely a mistake.
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            return _to_int(where, float(value.strip()))  # "64.0" from a float slider
        except ValueError:
            pass
    raise ConfigError(f"{where} must be a whole number, got {value!r}")


def _to_float(where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return number


def _in_range(where: str, p: HyperParam, number: int | float) -> int | float:
    if (p.low is not None and number < p.low) or (p.high is not None and number > p.high):
        raise ConfigError(f"{where} must be between {_fmt(p.low)} and {_fmt(p.high)}, got {number}")
    return number


def _to_int_list(where: str, p: HyperParam, value: Any) -> list[int]:
    if isinstance(value, str):
        items: list[Any] = [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"{where} must be a list of whole numbers such as 64, 32; got {value!r}")
    n_min = p.min_items if p.min_items is not None else 1
    n_max = p.max_items
    if len(items) < n_min or (n_max is not None and len(items) > n_max):
        bound = f"{n_min} to {n_max}" if n_max is not None else f"at least {n_min}"
        raise ConfigError(f"{where} must have {bound} entries, got {len(items)}")
    each = f"each entry of {where}"
    return [int(_in_range(each, p, _to_int(each, item))) for item in items]


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "unbounded"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


__all__ = [
    "HyperParam", "ModelInfo", "MODEL_KINDS", "HYPERPARAM_KINDS",
    "model_spec", "models_for_task", "resolve_params",
]

"""The workbench's vocabulary: the names every layer agrees on, and the rules that come with them.

Tasks, column roles, model kinds, optimisers, schedules, precisions, run statuses and
metrics are defined here once; config validation, the data layer, the model zoo, the
trainer, the CLI's choices and the pages all read them from here. A leaf module: it
imports nothing of core but the errors, so anything may import it.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError

# --- tasks and columns ----------------------------------------------------------------------
TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION_TASKS = ("binary", "multiclass")
ROLES = ("numeric", "categorical", "ignore")


def check_task(task: object) -> str:
    """`task` if it is one of TASKS; a ConfigError that names the choices otherwise."""
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    return task  # type: ignore[return-value]


def is_classification(task: str | None) -> bool:
    return task in CLASSIFICATION_TASKS


# --- data kinds -------------------------------------------------------------------------------
# What a dataset is made of, which decides how it is prepared (core.runs.prepare dispatches on it)
# and which models can read it: rows of columns, images (a zip or folder of class folders), or
# sequences. A table whose columns are an image's pixels (the digits sample) stays a table that
# image models can read as well (`model_takes`).
DATA_KINDS = ("table", "image", "sequence")
# A sequence run reads a table as windows or whole sequences (RunConfig.sequence). Forecasting is no
# task of its own: it is regression on sequence data, judged by FORECAST_METRICS beside baselines.


IMAGE_COLORS = ("auto", "grayscale", "rgb")  # how images are decoded; auto: grayscale when all are grey
# random changes to training images, applied to each batch on the device (core.training.augment)
AUGMENTATIONS = ("crop", "flip", "rotation", "color", "cutout")


def check_data_kind(kind: object) -> str:
    if kind not in DATA_KINDS:
        raise ConfigError(f"data kind must be one of {DATA_KINDS}, got {kind!r}")
    return kind  # type: ignore[return-value]


# --- model kinds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    kind: str
    label: str
    tasks: tuple[str, ...]
    data_kinds: tuple[str, ...]  # the kinds of data the model reads (DATA_KINDS)
    description: str


MODEL_KINDS: dict[str, ModelInfo] = {
    "linear": ModelInfo(
        kind="linear",
        label="Linear regression",
        tasks=("regression",),
        data_kinds=("table",),
        description="A weighted sum of the inputs: fast, easy to read, and a good baseline.",
    ),
    "logistic": ModelInfo(
        kind="logistic",
        label="Logistic regression",
        tasks=("binary", "multiclass"),
        data_kinds=("table",),
        description=(
            "A weighted sum of the inputs turned into class probabilities "
            "(sigmoid for two classes, softmax for more): a strong, readable baseline."
        ),
    ),
    "mlp": ModelInfo(
        kind="mlp",
        label="Neural network (MLP)",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("table",),
        description="Layers of neurons that can learn curved, interacting patterns in tabular data.",
    ),
    "cnn": ModelInfo(
        kind="cnn",
        label="Convolutional network (CNN)",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("image",),
        description="Small filters slid over an image find local shapes such as edges and strokes.",
    ),
    "resnet": ModelInfo(
        kind="resnet",
        label="Residual network (small ResNet)",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("image",),
        description=("A deeper CNN whose blocks add their input back to their output, so that many layers "
                     "still train well: stronger on photos, slower than the CNN."),
    ),
    "rnn": ModelInfo(
        kind="rnn",
        label="Recurrent network (RNN)",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("sequence",),
        description="Reads a sequence step by step, carrying a memory of what came before: "
                    "h_t = tanh(W_hh h_(t-1) + W_xh x_t + b).",
    ),
    "lstm": ModelInfo(
        kind="lstm",
        label="LSTM",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("sequence",),
        description="A recurrent network with gates that decide what to remember and forget, "
                    "so it can use steps far back in the window.",
    ),
    "gru": ModelInfo(
        kind="gru",
        label="GRU",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("sequence",),
        description="A lighter gated recurrent network: often as good as an LSTM, and faster.",
    ),
    "cnn1d": ModelInfo(
        kind="cnn1d",
        label="1D convolutional network",
        tasks=("regression", "binary", "multiclass"),
        data_kinds=("sequence",),
        description="Small filters slid along time find local patterns (a rise, a spike, a cycle) "
                    "anywhere in the window.",
    ),
}
LINEAR_KINDS = ("linear", "logistic")  # one weight per input: exact SHAP, no hidden layers
RECURRENT_KINDS = ("rnn", "lstm", "gru")
SEQUENCE_KINDS = (*RECURRENT_KINDS, "cnn1d")


def resolve_optimizer(name: str, model_kind: str) -> str:
    """The optimiser a run trains with: `name` itself, or for "auto" L-BFGS on a linear or logistic
    model (it fits them to convergence) and Adam on any other."""
    if name != "auto":
        return name
    return "lbfgs" if model_kind in LINEAR_KINDS else "adam"


def uses_learning_rate(name: str, model_kind: str) -> bool:
    """Whether the learning rate setting applies (L-BFGS chooses each step by a line search)."""
    return resolve_optimizer(name, model_kind) not in FULL_BATCH_OPTIMIZERS


def check_model_kind(kind: object) -> str:
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model {kind!r}; choose one of: {', '.join(MODEL_KINDS)}")
    return kind  # type: ignore[return-value]


def model_takes(kind: str, data_kind: str, has_image_shape: bool = False) -> bool:
    """Whether model `kind` can read data of `data_kind`; a table with an image shape (pixel columns)
    is an image too."""
    takes = MODEL_KINDS[check_model_kind(kind)].data_kinds
    return check_data_kind(data_kind) in takes or (data_kind == "table" and has_image_shape and "image" in takes)


def models_for_task(task: str | None, data_kind: str = "table", has_image_shape: bool = False) -> list[str]:
    """The model kinds that can learn `task` from this data, in the zoo's order; task None: any task."""
    if task is not None:
        check_task(task)
    return [kind for kind, info in MODEL_KINDS.items()
            if (task is None or task in info.tasks) and model_takes(kind, data_kind, has_image_shape)]


def suggested_models(task: str, data_kind: str = "table") -> str:
    """Words for 'which kinds can do this task' in a message."""
    if data_kind == "sequence":
        return "lstm, gru, rnn or cnn1d"
    return "logistic or mlp" if is_classification(task) else "linear or mlp"


# --- training settings ------------------------------------------------------------------------
# "auto" picks per model (resolve_optimizer): full-batch L-BFGS fits a linear or logistic model to
# convergence, as scikit-learn's default solver does; Adam trains everything else.
OPTIMIZERS = ("auto", "sgd", "adam", "adamw", "rmsprop", "lbfgs")
STEP_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")  # a step per mini-batch, at the learning rate
FULL_BATCH_OPTIMIZERS = ("lbfgs",)  # every training row in each step; a line search picks the step size
OPTIMIZER_LABELS = {"auto": "auto (L-BFGS for linear models, Adam otherwise)", "sgd": "SGD", "adam": "Adam",
                    "adamw": "AdamW", "rmsprop": "RMSprop", "lbfgs": "L-BFGS (full batch)"}
SCHEDULES = ("constant", "step", "cosine", "onecycle", "plateau")
ALL_GPUS = "cuda:all"  # one run across every GPU: a process per GPU (DDP, core.runs.launch)
DEVICES = ("auto", "cpu", "cuda", "mps", ALL_GPUS)  # plus "cuda:N", one GPU of several (config.device_problem)
PRECISIONS = ("fp32", "bf16", "fp16")
# which of a parent run's weights a new run starts from (RunConfig.init): its final model, or the last
# good weights a stopped or failed run kept
INIT_WEIGHTS = ("final", "checkpoint")

# how a run was started (RunRecord.executor): a worker of the app's run manager, `workbench train` in its
# own process, or a task on a Ray cluster; a run recorded before executors were kept says None (local)
EXECUTORS = ("local", "cli", "ray")

# --- run statuses -----------------------------------------------------------------------------
# paused: a running run held between two steps (its worker waits, beating its heartbeat) until resumed
ACTIVE = ("queued", "running", "paused")
TERMINAL = ("completed", "failed", "cancelled", "interrupted")
STATUSES = ACTIVE + TERMINAL
# ended before completing, yet resumable from the checkpoint it kept (`workbench resume RUN`)
RESUMABLE = ("cancelled", "interrupted")
# what a live run can be asked between two steps (the store's run_controls table): "lr" carries a value
STEER_ACTIONS = ("pause", "resume", "lr")

# --- metrics ----------------------------------------------------------------------------------
CLASSIFICATION_METRICS = (
    "accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss",
)
REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
# A forecast (regression on sequence data) adds the scale-free errors that forecasters compare by:
# sMAPE in percent (0..200) and MASE (below 1: better than the seasonal-naive forecast on the train part).
FORECAST_METRICS = ("mae", "rmse", "smape", "mase")
# Scores on a 0..1-ish scale where higher is better: they share one bar chart's axis.
SCORE_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "r2")
# Scores that cannot leave [0, 1]: an axis of one of them never runs past either end.
UNIT_INTERVAL_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")

METRIC_DIRECTION: dict[str, str] = {
    "loss": "min",
    "accuracy": "max",
    "balanced_accuracy": "max",
    "precision_macro": "max",
    "recall_macro": "max",
    "f1_macro": "max",
    "roc_auc": "max",
    "log_loss": "min",
    "mse": "min",
    "rmse": "min",
    "mae": "min",
    "r2": "max",
    "smape": "min",
    "mase": "min",
}

METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "F1 (macro)",
                 "roc_auc": "ROC AUC", "precision_macro": "precision (macro)", "recall_macro": "recall (macro)",
                 "log_loss": "log loss", "r2": "R²", "rmse": "RMSE", "mae": "MAE", "mse": "MSE", "loss": "loss",
                 "smape": "sMAPE (%)", "mase": "MASE"}


def metric_bounds(name: str) -> tuple[float, float]:
    """The values metric `name` can take: scores reach at most 1 (R² may fall below 0), errors are >= 0."""
    base = metric_base(name)
    if base in UNIT_INTERVAL_METRICS:
        return (0.0, 1.0)
    if base == "r2":
        return (float("-inf"), 1.0)
    return (0.0, float("inf"))


def metrics_for_task(task: str, data_kind: str = "table") -> tuple[str, ...]:
    """The test metrics a finished run of `task` reports (core.evaluation computes them)."""
    if check_task(task) == "regression":
        return (*REGRESSION_METRICS, "smape", "mase") if data_kind == "sequence" else REGRESSION_METRICS
    return CLASSIFICATION_METRICS


def primary_metric(task: str) -> str:
    """The one number a run is judged by: what tables sort by, searches optimise and live charts draw
    beside the loss (the trainer logs it every epoch)."""
    return "r2" if check_task(task) == "regression" else "accuracy"


def metric_base(name: str) -> str:
    """'val/accuracy' -> 'accuracy': the metric without its split."""
    return name.rsplit("/", 1)[-1]


def metric_direction(name: str) -> str:
    """'min' for losses and errors, 'max' for scores; `name` may carry its split ('val/loss')."""
    direction = METRIC_DIRECTION.get(metric_base(name))
    if direction is None:
        raise ConfigError(f"unknown metric {name!r}; choose one of: {', '.join(METRIC_DIRECTION)}")
    return direction


def is_better(name: str, a: float, b: float) -> bool:
    """Is a strictly better than b for metric `name`? NaN is never better; anything beats NaN."""
    direction = metric_direction(name)
    if a != a:  # NaN
        return False
    if b != b:
        return True
    return a > b if direction == "max" else a < b


# What the trainer logs for the validation data every epoch: the loss and each task's primary metric.
EPOCH_METRICS = ("loss", "accuracy", "r2")


def monitor_choices(task: str | None) -> tuple[str, ...]:
    """What early stopping may watch on the validation data: the loss or the task's primary metric."""
    return ("loss", "r2") if task == "regression" else ("loss", "accuracy")


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


__all__ = [
    "TASKS", "CLASSIFICATION_TASKS", "ROLES", "check_task", "is_classification",
    "DATA_KINDS", "IMAGE_COLORS", "AUGMENTATIONS", "check_data_kind",
    "ModelInfo", "MODEL_KINDS", "LINEAR_KINDS", "RECURRENT_KINDS", "SEQUENCE_KINDS", "check_model_kind", "model_takes",
    "models_for_task",
    "suggested_models",
    "OPTIMIZERS", "STEP_OPTIMIZERS", "FULL_BATCH_OPTIMIZERS", "OPTIMIZER_LABELS", "resolve_optimizer",
    "uses_learning_rate", "SCHEDULES", "DEVICES", "ALL_GPUS", "EXECUTORS", "PRECISIONS", "INIT_WEIGHTS", "ACTIVE", "TERMINAL", "STATUSES", "RESUMABLE", "STEER_ACTIONS",
    "CLASSIFICATION_METRICS", "REGRESSION_METRICS", "FORECAST_METRICS", "SCORE_METRICS", "UNIT_INTERVAL_METRICS",
    "METRIC_DIRECTION", "METRIC_LABELS",
    "EPOCH_METRICS", "metric_bounds", "metrics_for_task", "primary_metric", "metric_base", "metric_direction", "is_better",
    "monitor_choices",
    "metric_label",
]

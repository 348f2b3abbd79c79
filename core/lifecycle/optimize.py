"""Optimise a completed run: pruned and int8 variants, each measured the same way.

`optimize_run` makes the variants asked for and measures each after a round trip through its file
(the numbers are those of what was saved): test metrics on the run's own test rows, size on disk,
CPU latency at batch 1 and 256. The float32 model is measured alongside as the baseline row.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from core.data import Catalog
from core.atomic import write_atomic
from core.errors import ConfigError, WorkbenchError
from core.export.image_onnx import export_image_onnx
from core.export.onnx_export import export_onnx, onnx_feeds
from core.lifecycle import prune as pruning
from core.lifecycle import quantize as quant
from core.lifecycle.latency import THREADS, latency
from core.lifecycle.run_data import RunData, load_run_data
from core.lifecycle.tensors import load_tensors, save_tensors
from core.lifecycle.variants import Variant, list_variants, save_variant, start_variant, variant_dir, variants_dir
from core.models import build_model
from core.runs.store import RunStore
from core.training.trainer import Trainer

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
WEIGHTS = "weights.safetensors"
SKIPPED = "skipped.json"


@dataclass(frozen=True)
class OptimizeRequest:
    prune: tuple[float, ...] = ()  # sparsities, e.g. (0.5,) or (0.25, 0.5, 0.75)
    method: str = "global"  # core.lifecycle.prune.PRUNE_METHODS
    finetune_epochs: int = 0
    quantize: str | None = None  # "int8": dynamic torch int8, and ONNX Runtime static int8 of the export

    def validate(self) -> "OptimizeRequest":
        if self.method not in pruning.PRUNE_METHODS:
            raise ConfigError(f"pruning is {' or '.join(pruning.PRUNE_METHODS)}, got {self.method!r}")
        for s in self.prune:
            pruning.check_sparsity(s)
        if not 0 <= self.finetune_epochs <= 100:
            raise ConfigError(f"fine-tune epochs are 0 to 100, got {self.finetune_epochs}")
        if self.quantize not in (None, *quant.QUANTIZATIONS):
            raise ConfigError(f"quantisation is {' or '.join(quant.QUANTIZATIONS)}, got {self.quantize!r}")
        if not self.prune and self.quantize is None:
            raise ConfigError("say what to do: a sparsity to prune to (--prune 0.5), int8 quantisation "
                              "(--quantize int8), or both")
        return self


def optimize_run(store: RunStore, catalog: Catalog, run: str, request: OptimizeRequest,
                 progress: Progress | None = None) -> list[Variant]:
    """Make the variants `request` asks for; returns every variant the run now has."""
    request.validate()
    say = progress or (lambda text: log.info("%s", text))
    data = load_run_data(store, catalog, run)
    skipped: list[dict[str, str]] = []

    def attempt(what: str, step: Callable[[], Any]) -> Any:
        """One variant; a model it does not apply to is said in words and the others still come."""
        try:
            return step()
        except WorkbenchError as exc:
            why = str(exc)
        except Exception as exc:  # noqa: BLE001 - an exporter or quantiser failing on an unusual layer
            log.warning("optimising %s: %s failed", data.record.run_id, what, exc_info=True)
            why = f"it could not be made ({type(exc).__name__}: {str(exc)[:200]})"
        skipped.append({"variant": what, "why": why})
        say(f"{what}: skipped, {why}")
        return None

    say("measuring the float32 model")
    _baseline(data)
    for sparsity in request.prune:
        say(f"pruning to {sparsity:.0%} ({request.method})")
        made = attempt(f"{sparsity:.0%} pruned ({request.method})",
                       lambda: _pruned(data, sparsity, request.method, request.finetune_epochs))
        if made and request.quantize:
            pruned, v = made
            say(f"int8 of the {sparsity:.0%}-pruned model")
            attempt(f"{v.label} + int8", lambda: _dynamic(data, pruned, f"{v.id}+int8", f"{v.label} + int8 (dynamic)", v))
    if request.quantize:
        say("int8 (dynamic) of the float32 model")
        attempt("int8 (dynamic)", lambda: _dynamic(data, _float_model(data), "int8-dynamic", "int8 (dynamic, torch)", None))
        say("ONNX export and its static int8 (calibrated on training rows)")
        attempt("ONNX float32 and static int8", lambda: _onnx_variants(data))
    write_atomic(variants_dir(data.run_dir) / SKIPPED, json.dumps(skipped))
    return list_variants(data.run_dir)


def skipped_steps(run_dir: Path) -> list[dict[str, str]]:
    """What the last optimisation of the run could not make, and why."""
    try:
        return json.loads((variants_dir(run_dir) / SKIPPED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


# --- measuring ----------------------------------------------------------------------------------
def _torch_predict(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    model = model.cpu().eval()

    def predict(X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.as_tensor(X if X.dtype == np.uint8 else np.asarray(X, dtype=np.float32))
            return torch.cat([model(x[i:i + 4096]).float() for i in range(0, len(x), 4096)]).numpy()
    return predict


def _pick_rows(X: np.ndarray) -> Callable[[int], np.ndarray]:
    return lambda n: np.ascontiguousarray(np.resize(X, (n, *X.shape[1:])))


def _measure(data: RunData, variant: Variant, predict: Callable[[Any], np.ndarray], test_input: Any,
             pick: Callable[[int], Any], path: Path | None) -> Variant:
    outputs = predict(test_input)
    variant.metrics = {k: float(v) for k, v in data.metrics(outputs).items()}
    variant.primary = data.primary
    variant.latency = latency(predict, pick)
    variant.size_bytes = path.stat().st_size if path else 0
    variant.created_at = time.time()
    return save_variant(data.run_dir, variant)


def _baseline(data: RunData) -> Variant:
    start_variant(data.run_dir, "fp32")
    weights = data.run_dir / "model.safetensors"
    size = weights.stat().st_size
    v = Variant(id="fp32", label="float32 (the trained model)", runtime="torch", precision="fp32", file="",
                baseline_bytes=size, params=dict(data.trained.meta["params"]),
                notes=[f"latency on {THREADS} CPU thread"])
    X = data.prepared.X["test"]
    return _measure(data, v, _torch_predict(data.trained.model), X, _pick_rows(X), weights)


def _skeleton(data: RunData, params: dict[str, Any] | None = None) -> nn.Module:
    meta = data.trained.meta
    return build_model(meta["kind"], params if params is not None else meta["params"], meta["n_features"],
                       meta["n_outputs"], tuple(meta["image_shape"]) if meta.get("image_shape") else None,
                       data.trained.data_kind)


def _float_model(data: RunData) -> nn.Module:
    return copy.deepcopy(data.trained.model).cpu().eval()


def _variant_meta(data: RunData, params: dict[str, Any], fmt: str) -> dict[str, Any]:
    return {"format": fmt, "run_id": data.record.run_id, "kind": data.trained.meta["kind"], "params": params}


# --- pruning ------------------------------------------------------------------------------------
def _pruned(data: RunData, sparsity: float, method: str, epochs: int) -> tuple[nn.Module, Variant]:
    model = _float_model(data)
    kept = pruning.prune_structured(model, sparsity) if method == "structured" else \
        (pruning.prune_global(model, sparsity) or [])
    notes: list[str] = []
    if epochs:
        _fine_tune(data, model, epochs)
    pruning.make_permanent(model)
    params = dict(data.trained.meta["params"])
    if method == "structured":
        shrunk = pruning.shrink_mlp(model, params) if data.trained.meta["kind"] == "mlp" else None
        if shrunk is not None:
            model, params = shrunk
            notes.append(f"hidden layers shrunk to {params['hidden_sizes']} neurons (from "
                         f"{data.trained.meta['params']['hidden_sizes']}): smaller and faster")
        else:
            notes.append(f"channels zeroed, not removed (kept per layer: {kept}): smaller on disk, not faster")
    variant_id = f"prune-{method}-{round(sparsity * 100)}"
    folder = start_variant(data.run_dir, variant_id)
    path = save_tensors(folder / WEIGHTS, model.state_dict(), _variant_meta(data, params, "torch-fp32"))
    reloaded = load_torch_variant(data, path)
    tuned = f", {epochs} fine-tune epoch{'s' if epochs != 1 else ''}" if epochs else ", no fine-tuning"
    v = Variant(id=variant_id, label=f"{sparsity:.0%} pruned ({method}){tuned}", runtime="torch", precision="fp32",
                file=WEIGHTS, method=method, sparsity=pruning.sparsity_of(model) if method == "global" else sparsity,
                finetune_epochs=epochs, baseline_bytes=(data.run_dir / "model.safetensors").stat().st_size,
                params=params, notes=notes)
    X = data.prepared.X["test"]
    _measure(data, v, _torch_predict(reloaded), X, _pick_rows(X), path)
    return model, v


def _fine_tune(data: RunData, model: nn.Module, epochs: int) -> None:
    """A few epochs on the run's training rows, with the pruning masks held (prune's hooks)."""
    config = data.trained.config.evolve(train={"epochs": epochs, "early_stopping": False, "device": "cpu"})
    p = data.prepared
    Trainer(config, data.task).fit(model, p.X["train"], p.y["train"], p.X["val"], p.y["val"])
    model.cpu().eval()


def load_torch_variant(data: RunData, path: Path) -> nn.Module:
    """A torch variant from its safetensors file: float32 (maybe sparse) or int8 dynamic."""
    _, meta = load_tensors(path)
    skeleton = _skeleton(data, meta.get("params"))
    if meta.get("format") == "torch-int8-dynamic":
        return quant.load_dynamic(skeleton, path)
    state, _ = load_tensors(path)
    skeleton.load_state_dict(state)
    return skeleton.eval()


# --- quantisation -------------------------------------------------------------------------------
def _dynamic(data: RunData, model: nn.Module, variant_id: str, label: str, source: Variant | None) -> Variant:
    params = source.params if source else dict(data.trained.meta["params"])
    folder = start_variant(data.run_dir, variant_id)
    path = quant.save_dynamic(quant.quantize_dynamic(model), folder / WEIGHTS,
                              _variant_meta(data, params, "torch-int8-dynamic"))
    notes = ["the Linear/LSTM layers in int8 (per-channel scales), activations quantised at each call"]
    if quant.has_conv(model):
        notes.append("convolutions stay float32 here: the static ONNX int8 variant quantises them")
    v = Variant(id=variant_id, label=label, runtime="torch", precision="int8", file=WEIGHTS,
                method=source.method if source else "none", sparsity=source.sparsity if source else 0.0,
                finetune_epochs=source.finetune_epochs if source else 0,
                baseline_bytes=(data.run_dir / "model.safetensors").stat().st_size, params=params, notes=notes)
    X = data.prepared.X["test"]
    return _measure(data, v, _torch_predict(load_torch_variant(data, path)), X, _pick_rows(X), path)


def _onnx_feeds(data: RunData) -> tuple[Callable[[np.ndarray], dict[str, np.ndarray]], int, np.ndarray]:
    """feeds(train row positions), the number of training rows, and the test rows' positions."""
    p = data.prepared
    if data.trained.data_kind == "image":
        X = p.X["train"]
        return (lambda rows: {"image": np.ascontiguousarray(X[rows])}), len(X), np.asarray(p.split.test)
    frame = p.frame
    train = np.asarray(p.split.train)
    return (lambda rows: onnx_feeds(data.trained.preprocessor, frame.iloc[train[rows]])), len(train), \
        np.asarray(p.split.test)


def _session_predict(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(["logits"], feeds)[0]


def _onnx_variants(data: RunData) -> None:
    if data.trained.data_kind not in ("table", "image"):
        raise ConfigError(f"the ONNX export covers tables and images; a model of {data.trained.data_kind} data is "
                          "not exported yet, so it has no ONNX Runtime variants")
    p = data.prepared
    image = data.trained.data_kind == "image"
    feeds, n_train, test_rows = _onnx_feeds(data)
    if image:
        X_test = p.X["test"]
        test_feeds = {"image": X_test}
        pick = lambda n: {"image": np.ascontiguousarray(np.resize(X_test, (n, *X_test.shape[1:])))}  # noqa: E731
    else:
        test_frame = p.frame.iloc[test_rows]
        test_feeds = onnx_feeds(data.trained.preprocessor, test_frame)
        pick = lambda n: onnx_feeds(data.trained.preprocessor, test_frame.sample(n, replace=True, random_state=0))  # noqa: E731
    fp32_dir = start_variant(data.run_dir, "onnx-fp32")
    fp32 = (export_image_onnx if image else export_onnx)(data.trained, fp32_dir / "model.onnx")
    inputs = "raw pixels" if image else "the original columns"
    base = Variant(id="onnx-fp32", label="float32 ONNX (preprocessing inside)", runtime="onnxruntime",
                   precision="fp32", file="model.onnx", baseline_bytes=fp32.stat().st_size,
                   params=dict(data.trained.meta["params"]), notes=[f"takes {inputs}: latency includes preprocessing"])
    _measure(data, base, _session_predict(fp32), test_feeds, pick, fp32)
    int8_dir = start_variant(data.run_dir, "onnx-int8-static")
    int8 = quant.quantize_onnx_static(fp32, int8_dir / "model.onnx", feeds, n_train, seed=data.trained.config.train.seed)
    v = Variant(id="onnx-int8-static", label="int8 ONNX (static, calibrated on training rows)", runtime="onnxruntime",
                precision="int8", file="model.onnx", baseline_bytes=fp32.stat().st_size,
                params=dict(data.trained.meta["params"]),
                notes=[f"Conv/Gemm/MatMul in int8 with activation ranges from {min(n_train, quant.CALIBRATION_ROWS)} "
                       f"training rows; takes {inputs}"])
    _measure(data, v, _session_predict(int8), test_feeds, pick, int8)


def variant_path(store: RunStore, run_id: str, variant: Variant) -> Path:
    if not variant.file:
        return store.run_dir(run_id) / "model.safetensors"
    return variant_dir(store.run_dir(run_id), variant.id) / variant.file


__all__ = ["OptimizeRequest", "load_torch_variant", "optimize_run", "skipped_steps", "variant_path"]

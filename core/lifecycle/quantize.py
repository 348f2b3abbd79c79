"""int8 quantisation, two ways.

    dynamic  torch's dynamic quantisation of the Linear and LSTM layers: int8 weights (one scale per
             output channel), activations quantised on the fly at each call. Saved as int8 tensors
             plus scales in safetensors (core.lifecycle.tensors) and rebuilt on load, never pickled.
             Convolutions stay float32 (they need static quantisation).
    static   ONNX Runtime's static quantisation of the ONNX export (preprocessing inside, so it takes
             the original columns or raw pixels): int8 weights and activations for Conv, Gemm and
             MatMul, with activation ranges calibrated on the run's training rows. Saved as ONNX.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import onnx
import torch
from torch import nn

from core.atomic import write_atomic
from core.errors import ConfigError
from core.lifecycle.tensors import load_tensors, save_tensors

log = logging.getLogger(__name__)

QUANTIZATIONS = ("int8",)
DYNAMIC_TYPES = (nn.Linear, nn.LSTM)
CALIBRATION_ROWS = 512


def _ao():
    """torch.ao.quantization, its deprecation notices silenced: the eager API is still what runs int8 on CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch.ao.quantization as ao
    return ao


def has_dynamic_layers(model: nn.Module) -> bool:
    return any(isinstance(m, DYNAMIC_TYPES) for m in model.modules())


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in model.modules())


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """An int8 copy of the model's Linear/LSTM layers (per-channel weight scales for Linear)."""
    if not has_dynamic_layers(model):
        raise ConfigError("dynamic int8 quantises Linear and LSTM layers, and this model has none")
    ao = _ao()
    spec = {nn.Linear: ao.per_channel_dynamic_qconfig, nn.LSTM: ao.default_dynamic_qconfig}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ao.quantize_dynamic(model.cpu().eval(), spec, dtype=torch.qint8)


def _quantized_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The outermost quantised modules (a quantised Linear, not also the packed parameters inside it)."""
    found: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(f + ".") for f in found):
            continue
        if hasattr(module, "_weight_bias") and hasattr(module, "set_weight_bias"):
            found.append(name)
            yield name, module


def dynamic_state(qmodel: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor of a dynamically quantised model under a plain name: int8 weights as quantised
    tensors (tensors.encode stores them as int8 + scales), the rest as float."""
    state: dict[str, torch.Tensor] = {}
    quantized = dict(_quantized_modules(qmodel))
    for name, module in quantized.items():
        packed = module._weight_bias()
        if isinstance(packed, dict):  # an LSTM: {"weight": {...}, "bias": {...}}
            for part, tensors in packed.items():
                for key, t in tensors.items():
                    if t is not None:
                        state[f"{name}.{part}.{key}"] = t
        else:
            weight, bias = packed
            state[f"{name}.weight"] = weight
            if bias is not None:
                state[f"{name}.bias"] = bias
    for key, t in qmodel.state_dict().items():
        owner = key.rpartition(".")[0]
        if not any(owner == q or owner.startswith(q + ".") for q in quantized) and torch.is_tensor(t):
            state[key] = t
    return state


def save_dynamic(qmodel: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    return save_tensors(path, dynamic_state(qmodel), meta)


def load_dynamic(skeleton: nn.Module, path: str | Path) -> nn.Module:
    """A quantised model rebuilt from a float skeleton of the same layers and the saved int8 state."""
    state, _ = load_tensors(path)
    qmodel = quantize_dynamic(skeleton)
    quantized = dict(_quantized_modules(qmodel))
    for name, module in quantized.items():
        packed = module._weight_bias()
        if isinstance(packed, dict):
            module.set_weight_bias({**{k: state[f"{name}.weight.{k}"] for k in packed["weight"]},
                                    **{k: state.get(f"{name}.bias.{k}") for k in packed["bias"]}})
        else:
            module.set_weight_bias(state[f"{name}.weight"], state.get(f"{name}.bias"))
    # the float layers left (norms, convolutions) one tensor at a time: a quantised module's own loader
    # would ask for its weights again
    tensors = {**dict(qmodel.named_parameters()), **dict(qmodel.named_buffers())}
    with torch.no_grad():
        for key, value in state.items():
            if any(key.startswith(q + ".") for q in quantized):
                continue
            if key not in tensors or tensors[key].shape != value.shape:
                raise ConfigError(f"the saved int8 model does not match this architecture ({key})")
            tensors[key].copy_(value)
    return qmodel.eval()


# --- ONNX Runtime -------------------------------------------------------------------------------
class _Calibration:
    """Feeds of training rows, a batch at a time, for onnxruntime's calibrator."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # onnxruntime's CalibrationDataReader API
        pass


def quantize_onnx_static(fp32_path: Path, out_path: Path, feeds: Callable[[np.ndarray], dict[str, np.ndarray]],
                         n_rows: int, seed: int = 0, batch: int = 64) -> Path:
    """Statically quantise the ONNX file at `fp32_path` into `out_path`, calibrated on up to
    CALIBRATION_ROWS of the training rows (`feeds(row_positions)` gives onnxruntime's inputs)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(n_rows)[:CALIBRATION_ROWS])
    batches = [feeds(rows[i:i + batch]) for i in range(0, len(rows), batch)]

    class Reader(_Calibration, CalibrationDataReader):
        pass

    tmp = out_path.with_name(f".{out_path.name}.tmp")
    logging.root.addFilter(_no_preprocessing_advice)
    try:
        quantize_static(str(fp32_path), str(tmp), Reader(batches), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv", "Gemm", "MatMul"], per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
        model = onnx.load(str(tmp))
        del model.graph.value_info[:]  # shape hints of every tensor, a third of a small model's file
        write_atomic(out_path, model.SerializeToString())
    finally:
        logging.root.removeFilter(_no_preprocessing_advice)
        tmp.unlink(missing_ok=True)
    return out_path


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    # onnxruntime logs this on the root logger at every call; its shape pre-pass is not needed for
    # these small graphs
    return "pre-processing" not in record.getMessage() and "pre-process" not in record.getMessage()


__all__ = ["QUANTIZATIONS", "has_conv", "has_dynamic_layers", "load_dynamic", "quantize_dynamic",
           "quantize_onnx_static", "save_dynamic"]

"""ONNX export with the preprocessing inside the graph.

The exported model takes the original columns (one input per column, shape [batch, 1]:
numbers as double, categories as strings) and does what the Preprocessor does: fill gaps
and +/-inf with the training median, standardise, one-hot encode with an OTHER slot for
unseen levels. So a caller needs no preprocessor.json, only the column names. Outputs:
`logits` (the torch model's raw outputs), then `probabilities` and `label` for a
classifier or `prediction` (in the target's units) for a regressor.

torch's dynamo exporter needs onnxscript, which Workbench does not depend on; the
TorchScript exporter (dynamo=False) handles these plain Sequential models fine.
"""
from __future__ import annotations

import copy
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import torch
from onnx import TensorProto, helper, numpy_helper

from core.atomic import write_atomic
from core.data import Preprocessor
from core.data.columns import as_labels, numeric_values
from core.errors import WorkbenchError
from core.runs.trained import TrainedModel

log = logging.getLogger(__name__)

OPSET = 17
ML_OPSET = 3  # ai.onnx.ml: LabelEncoder-2 (string keys -> int64 values)
PARITY_TOLERANCE = 1e-4
_FEATURES, _LOGITS = "wb_features", "logits"


def export_onnx(trained: TrainedModel, path: str | Path) -> Path:
    """Write the model, preprocessing included, as one ONNX file; checked by onnx.checker."""
    if trained.meta.get("data_kind") == "sequence":
        # the windowing (sorting by time, one window per series) is no ONNX graph; the bundle's predict.py does it
        raise WorkbenchError("ONNX export covers table and image models; a sequence model exports as a bundle "
                             "(its predict.py and `workbench serve` take rows and make the windows)")
    net = _torch_graph(trained)
    graph = net.graph
    taken = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output}
    clash = [c for c in trained.preprocessor.schema.features if c in taken or c.startswith("wb_")]
    if clash:
        raise WorkbenchError(f"column '{clash[0]}' has a name the ONNX graph uses internally: rename it to export ONNX")
    pre_nodes, pre_inits, inputs = _preprocessing(trained.preprocessor)
    post_nodes, post_inits, outputs = _postprocessing(trained)
    merged = helper.make_graph(
        [*pre_nodes, *graph.node, *post_nodes], "workbench",
        inputs, [helper.make_tensor_value_info(_LOGITS, TensorProto.FLOAT, ["batch", trained.meta["n_outputs"]]),
                 *outputs],
        [*graph.initializer, *pre_inits, *post_inits])
    model = helper.make_model(merged, producer_name="workbench",
                              opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    model.ir_version = net.ir_version
    schema = trained.schema
    meta = {"task": schema.task, "target": schema.target, "columns": json.dumps(schema.features),
            "classes": json.dumps(list(schema.classes) if schema.classes else None)}
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return write_atomic(path, model.SerializeToString())


def onnx_feeds(preprocessor: Preprocessor, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inputs for onnxruntime from rows with the original columns: missing categories become ''."""
    feeds: dict[str, np.ndarray] = {}
    for col in preprocessor.schema.features:
        if col not in frame.columns:
            raise WorkbenchError(f"the rows lack the column '{col}' that the model was trained with")
        if col in (preprocessor.numeric_ or {}):
            feeds[col] = numeric_values(frame[col]).reshape(-1, 1)
        else:
            feeds[col] = as_labels(frame[col]).fillna("").to_numpy(dtype=object).astype(str).reshape(-1, 1)
    return feeds


def run_onnx(path: str | Path, preprocessor: Preprocessor, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, onnx_feeds(preprocessor, frame))))


def check_parity(trained: TrainedModel, path: str | Path, frame: pd.DataFrame,
                 tolerance: float = PARITY_TOLERANCE) -> dict[str, Any]:
    """Largest |onnxruntime - torch| over `frame` for the logits and the user-facing outputs."""
    got = run_onnx(path, trained.preprocessor, frame)
    encoded = trained.preprocessor.transform(frame)
    want_logits, want = trained.outputs(encoded), trained.predict_encoded(encoded)
    final = got["prediction"] if trained.task == "regression" else got["probabilities"]
    # regression values are in the target's units, so compare them relative to the target's scale
    scale = trained.preprocessor.target_scale[1] if trained.task == "regression" else 1.0
    diffs = {"logits": _max_diff(got[_LOGITS], want_logits),
             "outputs": _max_diff(final, want) / max(scale, 1.0)}
    worst = max(diffs.values())
    if not worst <= tolerance:
        raise WorkbenchError(f"the ONNX model differs from the torch model by {worst:.2g} (more than {tolerance:g}) "
                             "on the test rows: export without --onnx")
    return {"rows": int(len(frame)), "max_abs_diff": worst, "tolerance": tolerance}


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a.reshape(b.shape) - b))) if b.size else 0.0


def _torch_graph(trained: TrainedModel) -> onnx.ModelProto:
    model = copy.deepcopy(trained.model).cpu().eval()
    example = torch.zeros(2, int(trained.meta["n_features"]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[_FEATURES],
                          output_names=[_LOGITS], dynamic_axes={_FEATURES: {0: "batch"}, _LOGITS: {0: "batch"}})
    return onnx.load_from_string(buffer.getvalue())


def _preprocessing(pre: Preprocessor) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], list[onnx.ValueInfoProto]]:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    parts: list[str] = []
    numeric = pre.numeric_ or {}
    for i, col in enumerate(pre.schema.features):
        p = f"wb_c{i}_"
        if col in numeric:
            s = numeric[col]
            inputs.append(helper.make_tensor_value_info(col, TensorProto.DOUBLE, ["batch", 1]))
            inits += [_scalar(p + "median", s.median), _scalar(p + "mean", s.mean), _scalar(p + "std", s.std)]
            nodes += [
                helper.make_node("IsNaN", [col], [p + "nan"]),
                helper.make_node("IsInf", [col], [p + "inf"]),
                helper.make_node("Or", [p + "nan", p + "inf"], [p + "gap"]),
                helper.make_node("Where", [p + "gap", p + "median", col], [p + "filled"]),
                helper.make_node("Sub", [p + "filled", p + "mean"], [p + "centred"]),
                helper.make_node("Div", [p + "centred", p + "std"], [p + "scaled"]),
                helper.make_node("Cast", [p + "scaled"], [p + "out"], to=TensorProto.FLOAT),
            ]
        else:
            cat = pre.categorical_[col]
            levels = list(cat.levels)
            other = len(levels)
            keys, values = levels[:], list(range(other))
            if "" not in keys:  # '' is how a caller says "missing": it gets the training fill value
                keys.append("")
                values.append(levels.index(cat.fill) if cat.fill in levels else other)
            inputs.append(helper.make_tensor_value_info(col, TensorProto.STRING, ["batch", 1]))
            inits.append(numpy_helper.from_array(np.arange(other + 1, dtype=np.int64).reshape(1, -1), p + "slots"))
            nodes += [
                helper.make_node("LabelEncoder", [col], [p + "code"], domain="ai.onnx.ml", keys_strings=keys,
                                 values_int64s=values, default_int64=other),
                helper.make_node("Equal", [p + "code", p + "slots"], [p + "hot"]),
                helper.make_node("Cast", [p + "hot"], [p + "out"], to=TensorProto.FLOAT),
            ]
        parts.append(p + "out")
    nodes.append(helper.make_node("Concat", parts, [_FEATURES], axis=1))
    return nodes, inits, inputs


def _postprocessing(trained: TrainedModel) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto],
                                                    list[onnx.ValueInfoProto]]:
    task = trained.task
    nodes = [helper.make_node("Cast", [_LOGITS], ["wb_logits64"], to=TensorProto.DOUBLE)]
    if task == "regression":
        mean, std = trained.preprocessor.target_scale
        inits = [_scalar("wb_target_mean", mean), _scalar("wb_target_std", std),
                 numpy_helper.from_array(np.array([1], dtype=np.int64), "wb_axis1")]
        nodes += [helper.make_node("Mul", ["wb_logits64", "wb_target_std"], ["wb_scaled_back"]),
                  helper.make_node("Add", ["wb_scaled_back", "wb_target_mean"], ["wb_prediction2d"]),
                  helper.make_node("Squeeze", ["wb_prediction2d", "wb_axis1"], ["prediction"])]
        return nodes, inits, [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, ["batch"])]
    classes = [str(c) for c in trained.schema.classes or []]
    inits = [numpy_helper.from_array(np.array(classes, dtype=object), "wb_classes")]
    if task == "binary":
        inits.append(_scalar("wb_one", 1.0))
        nodes += [helper.make_node("Sigmoid", ["wb_logits64"], ["wb_p1"]),
                  helper.make_node("Sub", ["wb_one", "wb_p1"], ["wb_p0"]),
                  helper.make_node("Concat", ["wb_p0", "wb_p1"], ["probabilities"], axis=1)]
    else:
        nodes.append(helper.make_node("Softmax", ["wb_logits64"], ["probabilities"], axis=1))
    nodes += [helper.make_node("ArgMax", ["probabilities"], ["wb_best"], axis=1, keepdims=0),
              helper.make_node("Gather", ["wb_classes", "wb_best"], ["label"], axis=0)]
    return nodes, inits, [
        helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, ["batch", len(classes)]),
        helper.make_tensor_value_info("label", TensorProto.STRING, ["batch"]),
    ]


def _scalar(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=np.float64), name)

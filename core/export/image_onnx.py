"""ONNX for image runs: raw uint8 pixels in (batch, channels, height, width), class probabilities out.

The model's first layer scales the pixels, so the graph's input is the decoded image itself, as
the bundle's predict.py and `workbench serve` make it from a file (preprocessor.json says the
size and colour). Outputs as for tables: `logits`, then `probabilities` and `label`.
"""
from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from core.atomic import write_atomic
from core.data import Catalog
from core.data.images.dataset import DecodeOptions, load_images
from core.data.split import SPLIT_FILE, load_split
from core.errors import WorkbenchError
from core.export.onnx_export import ML_OPSET, OPSET, PARITY_TOLERANCE, _LOGITS, _postprocessing
from core.runs.content_hash import data_changed
from core.runs.trained import TrainedModel

IMAGE_INPUT = "image"
MAX_CHECKED = 256  # test images compared between torch and onnxruntime


def export_image_onnx(trained: TrainedModel, path: str | Path) -> Path:
    c, h, w = trained.preprocessor.image_shape
    model = copy.deepcopy(trained.model).cpu().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, c, h, w, dtype=torch.uint8),), buffer, dynamo=False,
                          opset_version=OPSET, input_names=[IMAGE_INPUT], output_names=[_LOGITS],
                          dynamic_axes={IMAGE_INPUT: {0: "batch"}, _LOGITS: {0: "batch"}})
    net = onnx.load_from_string(buffer.getvalue())
    post_nodes, post_inits, outputs = _postprocessing(trained)
    graph = helper.make_graph(
        [*net.graph.node, *post_nodes], "workbench",
        [helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["batch", c, h, w])],
        [helper.make_tensor_value_info(_LOGITS, TensorProto.FLOAT, ["batch", trained.meta["n_outputs"]]), *outputs],
        [*net.graph.initializer, *post_inits])
    model_proto = helper.make_model(graph, producer_name="workbench", opset_imports=[
        helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    model_proto.ir_version = net.ir_version
    schema = trained.schema
    helper.set_model_props(model_proto, {"task": schema.task, "input": json.dumps([c, h, w]),
                                         "classes": json.dumps(list(schema.classes or []))})
    onnx.checker.check_model(model_proto, full_check=True)
    return write_atomic(path, model_proto.SerializeToString())


def held_out_images(catalog: Catalog, run_dir: Path, trained: TrainedModel) -> np.ndarray | None:
    """The run's held-out test images, decoded as for training; None when the data is gone or has changed."""
    data = trained.config.data
    ref = catalog.resolve(data.source)
    if data_changed(data.content_hash, ref):
        return None
    ds = load_images(ref.path, ref.sha256, DecodeOptions(data.image_size, data.image_color), catalog.workspace,
                     ref.name)
    return ds.X[load_split(run_dir / SPLIT_FILE).test][:MAX_CHECKED]


def check_image_parity(trained: TrainedModel, path: str | Path, images: np.ndarray,
                       tolerance: float = PARITY_TOLERANCE) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([_LOGITS], {IMAGE_INPUT: np.ascontiguousarray(images, dtype=np.uint8)})[0]
    want = trained.outputs(images)
    worst = float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1.0) if len(images) else 0.0
    if not worst <= tolerance:
        raise WorkbenchError(f"the ONNX model differs from the torch model by {worst:.2g} (more than {tolerance:g}) "
                             "on the test images")
    return {"rows": int(len(images)), "max_abs_diff": worst, "tolerance": tolerance}


__all__ = ["IMAGE_INPUT", "export_image_onnx", "check_image_parity", "held_out_images"]

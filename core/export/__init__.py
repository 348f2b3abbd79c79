"""Take a model away: bundles (weights, preprocessor, config, card, predict.py), ONNX, a REST server.

The server lives in core.export.server and is imported on its own: a bundle needs no FastAPI.
"""
from __future__ import annotations

from core.export.bundle import (
    Bundle, bundle_name, example_record, example_window, bundle_zip, completed_run, export_bundle, held_out_rows, load_trained, onnx_bytes,
    why_not_exportable, ZippedBundle,
)
from core.export.onnx_export import check_parity, export_onnx, onnx_feeds, run_onnx

__all__ = [
    "Bundle", "bundle_name", "example_record", "example_window", "bundle_zip", "completed_run", "export_bundle", "held_out_rows", "load_trained",
    "onnx_bytes", "why_not_exportable", "ZippedBundle", "check_parity", "export_onnx", "onnx_feeds", "run_onnx",
]

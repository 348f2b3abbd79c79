"""`workbench export RUN --out DIR [--onnx]`: a folder to take the model anywhere."""
from __future__ import annotations

import argparse
import json

from core.engine import Engine
from core.export import export_bundle


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's bundle: weights, preprocessor, config, model card, predict.py")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--out", required=True, help="the bundle folder (new, empty, or an earlier bundle)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx, preprocessing inside, checked")
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    try:
        bundle = export_bundle(engine.store, engine.catalog, args.run, args.out, onnx=args.onnx)
    finally:
        engine.close()
    if args.json:
        print(json.dumps({"run_id": bundle.run_id, "path": str(bundle.path.resolve()), "files": bundle.files,
                          "onnx_check": bundle.onnx_check}))
        return 0
    print(f"exported run {bundle.run_id} to {bundle.path}")
    for name in bundle.files:
        print(f"  {name}")
    check = bundle.onnx_check
    if check and check.get("checked"):
        print(f"  ONNX matches torch on {check['rows']} test rows (max difference {check['max_abs_diff']:.1e})")
    elif check:
        print(f"  ONNX not checked: {check['reason']}")
    example = "photo.jpg" if "image" in (bundle.path / "preprocessor.json").read_text(encoding="utf-8")[:80] else "rows.csv"
    print(f"try: python {bundle.path / 'predict.py'} {example}")
    return 0

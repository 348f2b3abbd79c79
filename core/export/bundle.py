"""A bundle: everything needed to use a trained run elsewhere, in one folder.

    model.safetensors  weights               preprocessor.json  fitted preprocessing (JSON)
    model.json         layers + metadata     config.yaml        the RunConfig: retrains the run
    metrics.json       validation/test       MODEL_CARD.md      data, metrics, features, limits
    predict.py         standalone script     requirements.txt   what predict.py needs
    model.onnx         (--onnx) preprocessing inside, checked against torch on the test rows
    bundle.json        manifest with checksums; "complete": true once every file is written

The file names match a run folder's, so TrainedModel.load (and `workbench serve`) reads
a bundle and a run folder alike.
"""
from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.atomic import sha256_file, write_atomic
from core.config import RunConfig
from core.data import Catalog, Preprocessor, drop_missing_target, load_dataset
from core.data.sequence_encoder import SequencePreprocessor
from core.data.split import SPLIT_FILE, load_split
from core.errors import WorkbenchError
from core.export.image_onnx import check_image_parity, export_image_onnx, held_out_images
from core.export.architecture import describe_layers
from core.export.model_card import render_model_card
from core.export.onnx_export import check_parity, export_onnx
from core.runs.content_hash import data_changed
from core.runs.store import RunRecord, RunStore
from core.runs.trained import TrainedModel
from core.vocab import ACTIVE

log = logging.getLogger(__name__)

FORMAT = "workbench.bundle"
VERSION = 1
MANIFEST = "bundle.json"
PREDICT_SCRIPT = Path(__file__).with_name("predict_script.py")
PREDICT_IMAGES_SCRIPT = Path(__file__).with_name("predict_images_script.py")
IMAGE_REQUIREMENTS = "# what predict.py needs\nonnxruntime>=1.16\npillow>=10\nnumpy>=1.24\n"
REQUIREMENTS = "# what predict.py needs (onnxruntime only for model.onnx)\ntorch>=2.1\nsafetensors>=0.4\npandas>=2.0\nnumpy>=1.24\n"
_COPIED = ("model.safetensors", "preprocessor.json", "config.yaml")


@dataclass(frozen=True)
class Bundle:
    path: Path
    run_id: str
    files: list[str]
    onnx_check: dict[str, Any] | None


def why_not_exportable(record: RunRecord) -> str | None:
    """None for a run with a model (completed, or stopped with its kept weights evaluated); otherwise a
    sentence saying why there is nothing to export."""
    name = record.name
    if record.has_model:
        return None
    if record.status in ACTIVE:
        return f"Run {name} is {record.status}: export it once it has completed."
    reason = f" ({record.status_reason})" if record.status_reason else ""
    return f"Run {name} {record.status}{reason} before it completed, so there is no final model to export."


def completed_run(store: RunStore, run: str) -> RunRecord:
    record = store.get(run)
    problem = why_not_exportable(record)
    if problem:
        raise WorkbenchError(problem)
    return record


def export_bundle(store: RunStore, catalog: Catalog, run: str, out_dir: str | Path, *, onnx: bool = False) -> Bundle:
    """Write the bundle of a completed run into `out_dir` (new, empty, or an earlier bundle)."""
    record = completed_run(store, run)
    run_dir = store.run_dir(record.run_id)
    out = Path(out_dir)
    _check_destination(out)
    trained = TrainedModel.load(run_dir)
    image = trained.data_kind == "image"
    onnx = onnx or image  # an image bundle's predict.py runs model.onnx (Pillow decodes the files)
    meta = {**trained.meta, "layers": None if image else describe_layers(trained.model), "run_id": record.run_id}
    files: dict[str, bytes | str] = {name: (run_dir / name).read_bytes() for name in _COPIED}
    files["model.json"] = json.dumps(meta, indent=1)
    files["metrics.json"] = json.dumps(_metrics(record), indent=1)
    files["predict.py"] = (PREDICT_IMAGES_SCRIPT if image else PREDICT_SCRIPT).read_text(encoding="utf-8")
    files["requirements.txt"] = IMAGE_REQUIREMENTS if image else REQUIREMENTS
    files["MODEL_CARD.md"] = render_model_card(record, trained, store, onnx=onnx)
    # an unfinished manifest first: a failed export leaves a folder the next export may overwrite
    header = {"format": FORMAT, "version": VERSION, "run_id": record.run_id, "name": record.name, "task": trained.task}
    write_atomic(out / MANIFEST, json.dumps({**header, "complete": False}))
    for name, data in files.items():
        write_atomic(out / name, data)
    onnx_check = None
    if onnx:
        (export_image_onnx if image else export_onnx)(trained, out / "model.onnx")
        onnx_check = _check_onnx(trained, catalog, run_dir, out / "model.onnx")
    else:
        (out / "model.onnx").unlink(missing_ok=True)  # from an earlier export with --onnx: now stale
    names = sorted([*files, *(["model.onnx"] if onnx else [])])
    manifest = {
        **header, "complete": True, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "onnx_check": onnx_check,
        "files": {name: {"sha256": sha256_file(out / name), "bytes": (out / name).stat().st_size} for name in names},
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1))
    log.info("exported run %s to %s", record.run_id, out)
    return Bundle(out, record.run_id, sorted([*names, MANIFEST]), onnx_check)


@dataclass(frozen=True)
class ZippedBundle:
    file_name: str  # workbench-<run name>.zip
    data: bytes
    manifest: dict[str, Any]  # bundle.json: files, checksums, the ONNX check


def bundle_zip(store: RunStore, catalog: Catalog, run: str, *, onnx: bool = False) -> ZippedBundle:
    """The run's bundle as a zip, inside a folder named after the run (for a browser download)."""
    record = completed_run(store, run)
    folder = bundle_name(record)
    with tempfile.TemporaryDirectory(prefix="wb-bundle-") as tmp:
        bundle = export_bundle(store, catalog, record.run_id, Path(tmp) / folder, onnx=onnx)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in bundle.files:
                archive.write(bundle.path / name, f"{folder}/{name}")
        manifest = json.loads((bundle.path / MANIFEST).read_text(encoding="utf-8"))
    return ZippedBundle(f"{folder}.zip", buffer.getvalue(), manifest)


def onnx_bytes(store: RunStore, catalog: Catalog, run: str) -> bytes:
    """The run's model.onnx alone (preprocessing inside), checked on the test rows when the data is at hand."""
    record = completed_run(store, run)
    run_dir = store.run_dir(record.run_id)
    trained = TrainedModel.load(run_dir)
    with tempfile.TemporaryDirectory(prefix="wb-onnx-") as tmp:
        path = (export_image_onnx if trained.data_kind == "image" else export_onnx)(trained, Path(tmp) / "model.onnx")
        _check_onnx(trained, catalog, run_dir, path)
        return path.read_bytes()


def bundle_name(record: RunRecord) -> str:
    return "workbench-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", record.name).strip("._-") or record.run_id)


def example_record(preprocessor: Preprocessor) -> dict[str, Any]:
    """A plausible input row: the training median of each number, the most frequent level of each category."""
    numeric = preprocessor.numeric_ or {}
    return {col: round(numeric[col].median, 4) if col in numeric else preprocessor.categorical_[col].fill
            for col in preprocessor.schema.features}


def example_window(trained: TrainedModel, catalog: Catalog) -> list[dict[str, Any]]:
    """A sequence model's request: the last window of rows of one series from its own data (JSON-ready),
    or [] when the data is not at hand."""
    pre = trained.preprocessor
    if not isinstance(pre, SequencePreprocessor):
        return []
    lay = pre.layout
    try:
        frame = load_dataset(catalog.resolve(trained.config.data.source))
    except (WorkbenchError, OSError):
        return []
    columns = [c for c in (lay.series_id, lay.time_column) if c and lay.format == "long"] + list(lay.inputs)
    if lay.format == "wide":
        rows = frame.head(1)
    else:
        rows = frame[frame[lay.series_id] == frame[lay.series_id].iloc[0]] if lay.series_id else frame
        rows = rows.tail(lay.window)
    return json.loads(rows[[c for c in dict.fromkeys(columns)]].to_json(orient="records"))


def load_trained(store: RunStore, source: str | Path) -> tuple[TrainedModel, str]:
    """A bundle folder or a run (id, prefix or name) -> (model, a label for messages)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model.json").is_file():
            raise WorkbenchError(f"{path} is not a bundle folder (it has no model.json): "
                                 "give a run id or the folder `workbench export` wrote")
        return TrainedModel.load(path), str(path)
    if "/" in str(source) or "\\" in str(source) or str(source).startswith("."):
        raise WorkbenchError(f"there is no bundle folder at {path}: give a run id or the folder `workbench export` wrote")
    record = completed_run(store, str(source))
    return TrainedModel.load(store.run_dir(record.run_id)), f"{record.name} ({record.run_id})"


def held_out_rows(catalog: Catalog, run_dir: Path, config: RunConfig) -> pd.DataFrame | None:
    """The run's test rows with their original columns; None when the data is gone or has changed."""
    ref = catalog.resolve(config.data.source)
    if data_changed(config.data.content_hash, ref):
        return None
    frame = drop_missing_target(load_dataset(ref), config.data.target).reset_index(drop=True)
    return frame.iloc[load_split(run_dir / SPLIT_FILE).test].reset_index(drop=True)


def _check_onnx(trained: TrainedModel, catalog: Catalog, run_dir: Path, path: Path) -> dict[str, Any]:
    if trained.data_kind == "image":
        try:
            images = held_out_images(catalog, run_dir, trained)
        except (WorkbenchError, OSError, KeyError) as exc:
            log.warning("ONNX not checked: cannot load the test images (%s)", exc)
            return {"checked": False, "reason": f"the training images are not available: {exc}"}
        if images is None:
            return {"checked": False, "reason": "the training images have changed since the run"}
        return {"checked": True, **check_image_parity(trained, path, images)}
    try:
        rows = held_out_rows(catalog, run_dir, trained.config)
    except (WorkbenchError, OSError, KeyError) as exc:
        log.warning("ONNX not checked: cannot load the test rows (%s)", exc)
        return {"checked": False, "reason": f"the training data is not available: {exc}"}
    if rows is None:
        return {"checked": False, "reason": "the training data has changed since the run"}
    return {"checked": True, **check_parity(trained, path, rows)}


def _check_destination(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out} is a file: give a folder for the bundle")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise WorkbenchError(f"{out} is not empty and holds no Workbench bundle: choose a new folder for --out")


def _metrics(record: RunRecord) -> dict[str, Any]:
    keys = ("rows", "classes", "epochs_run", "best_epoch", "n_parameters", "data_hash", "duration_s")
    return {"run_id": record.run_id, "name": record.name, "task": record.task, "model": record.model,
            "dataset": record.dataset, "device": record.device, "metrics": record.metrics,
            **{k: record.summary.get(k) for k in keys}}

"""Bundles: the standalone predict.py reproduces the run's predictions; ONNX matches torch."""
from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.errors import WorkbenchError
from core.explain import ShapParams, explain_shap, summary
from core.export import bundle_zip, export_bundle, export_onnx, held_out_rows, run_onnx, check_parity
from core.runs.execute import execute_run
from core.runs.trained import TrainedModel

# name -> (target, model, epochs, params): each layer type predict.py knows appears at least once
RUNS = {
    "iris": ("species", "mlp", 5, {"hidden_sizes": [16], "batch_norm": True, "dropout": 0.1, "activation": "gelu"}),
    "breast_cancer": ("diagnosis", "logistic", 5, {}),
    "diabetes": ("progression", "mlp", 5, {"hidden_sizes": [16, 8], "activation": "silu"}),
    "tips": ("tip", "mlp", 5, {"hidden_sizes": [16], "activation": "tanh"}),
    "digits": ("label", "cnn", 1, {"channels": [4], "hidden": 16, "batch_norm": True}),
}
TABULAR = ("iris", "breast_cancer", "diabetes", "tips")
PREDICT_IMPORTS = {"__future__", "argparse", "json", "sys", "pathlib", "numpy", "pandas", "torch", "safetensors"}


def train(engine: Engine, source: str, target: str, kind: str, epochs: int, params: dict) -> str:
    config = RunConfig(data=DataConfig(source=source, target=target), model=ModelConfig(kind=kind, params=params),
                       train=TrainConfig(epochs=epochs, batch_size=32, device="cpu", seed=0))
    run_id = engine.store.create_run(config.to_dict(), model=kind, dataset=source)
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    return run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    engine = Engine(tmp_path_factory.mktemp("export-runs"))
    ids = {name: train(engine, name, *spec) for name, spec in RUNS.items()}
    yield engine, ids
    engine.close()


def stored_test_predictions(engine: Engine, run_id: str) -> pd.DataFrame:
    pred = pd.read_parquet(engine.store.run_dir(run_id) / "predictions.parquet")
    return pred[pred.split == "test"].reset_index(drop=True)


def held_out(engine: Engine, run_id: str) -> pd.DataFrame:
    run_dir = engine.store.run_dir(run_id)
    rows = held_out_rows(engine.catalog, run_dir, TrainedModel.load(run_dir).config)
    assert rows is not None
    return rows


def test_predict_script_reproduces_stored_predictions(runs, tmp_path):
    engine, ids = runs
    jobs = {}
    for name in TABULAR:
        bundle = export_bundle(engine.store, engine.catalog, ids[name], tmp_path / name)
        rows = held_out(engine, ids[name])
        rows.to_csv(tmp_path / f"{name}.csv", index=False)  # original columns, the target among them
        # outside the repository, so nothing of Workbench is importable by path
        jobs[name] = subprocess.Popen([sys.executable, str(bundle.path / "predict.py"), str(tmp_path / f"{name}.csv")],
                                      cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, job in jobs.items():
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err
        want = stored_test_predictions(engine, ids[name])
        got = pd.read_csv(io.StringIO(out), dtype={"prediction": str} if name in ("iris", "breast_cancer") else None)
        assert len(got) == len(want), name
        if name in ("diabetes", "tips"):
            np.testing.assert_allclose(got["prediction"], want["y_pred"], rtol=0, atol=1e-5, err_msg=name)
            continue
        assert (got["prediction"] == want["y_pred"]).all(), name
        proba = [c for c in want.columns if c.startswith("proba_")]
        assert list(got.columns) == ["prediction", *proba]
        np.testing.assert_allclose(got[proba].to_numpy(), want[proba].to_numpy(), rtol=0, atol=1e-5, err_msg=name)


def test_predict_script_needs_no_workbench(runs, tmp_path):
    engine, ids = runs
    bundle = export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "b")
    tree = ast.parse((bundle.path / "predict.py").read_text())
    imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= PREDICT_IMPORTS, imported - PREDICT_IMPORTS
    # and the importable Predictor agrees with the workbench's own predict_frame, gaps and unseen levels included
    sys.path.insert(0, str(bundle.path))
    try:
        from predict import Predictor  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(bundle.path))
        sys.modules.pop("predict", None)
    tips = export_bundle(engine.store, engine.catalog, ids["tips"], tmp_path / "tips")
    rows = held_out(engine, ids["tips"]).head(6).copy()
    rows.loc[0, "day"] = "Mon"  # unseen in training
    rows.loc[1, "smoker"] = None
    rows.loc[2, "total_bill"] = np.nan
    rows["size"] = rows["size"].astype(object)
    rows.loc[3, "size"] = "many"  # text in a numeric column
    want = TrainedModel.load(tips.path).predict_frame(rows)
    got = Predictor(tips.path).predict(rows)
    np.testing.assert_allclose(got["prediction"], want["prediction"], atol=1e-6)
    # an image model (Unflatten, Conv2d, BatchNorm2d, MaxPool2d, Flatten) rebuilt from model.json alone
    digits = export_bundle(engine.store, engine.catalog, ids["digits"], tmp_path / "digits")
    stored = stored_test_predictions(engine, ids["digits"])
    got = Predictor(digits.path).predict(held_out(engine, ids["digits"]))
    assert (got["prediction"] == stored["y_pred"]).all()
    proba = [c for c in stored.columns if c.startswith("proba_")]
    np.testing.assert_allclose(got[proba].to_numpy(), stored[proba].to_numpy(), atol=1e-5)


def test_bundle_contents_and_model_card(runs, tmp_path):
    engine, ids = runs
    run_dir = engine.store.run_dir(ids["iris"])
    bundle = export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "b")
    assert set(bundle.files) >= {"model.safetensors", "model.json", "preprocessor.json", "config.yaml", "metrics.json",
                                 "MODEL_CARD.md", "predict.py", "requirements.txt", "bundle.json"}
    assert (bundle.path / "config.yaml").read_bytes() == (run_dir / "config.yaml").read_bytes()
    assert (bundle.path / "model.safetensors").read_bytes() == (run_dir / "model.safetensors").read_bytes()
    metrics = json.loads((bundle.path / "metrics.json").read_text())
    assert metrics["metrics"] == engine.store.get(ids["iris"]).metrics
    card = (bundle.path / "MODEL_CARD.md").read_text()
    for part in ("## Data", "## Metrics", "## Known limits", "accuracy", "species", "Not explained yet"):
        assert part in card
    assert f"workbench explain {ids['iris']}" in card
    # once explained (SHAP cached as a run artifact), the card lists the top columns instead
    shap = explain_shap(engine.store, engine.catalog, ids["iris"], params=ShapParams(background=20))
    ranked = list(summary(shap)["importances"])
    card = (export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "b").path / "MODEL_CARD.md").read_text()
    assert "Not explained yet" not in card and f"over {len(shap.rows)} explained test rows" in card
    top = card[card.index("## Top features"):card.index("## Known limits")]
    assert [line.split("|")[1].strip() for line in top.splitlines() if line.startswith("| ") and "---" not in line][1:] \
        == ranked


def test_export_destination_rules(runs, tmp_path):
    engine, ids = runs
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not empty"):
        export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with_onnx = export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "b", onnx=True)
    assert "model.onnx" in with_onnx.files and with_onnx.onnx_check["checked"]
    again = export_bundle(engine.store, engine.catalog, ids["iris"], tmp_path / "b")  # an earlier bundle: replaced
    assert "model.onnx" not in again.files and not (tmp_path / "b" / "model.onnx").exists()


def test_only_completed_runs_export(runs, tmp_path):
    engine, ids = runs
    queued = engine.store.create_run(engine.store.get(ids["iris"]).config, model="mlp", dataset="iris")
    with pytest.raises(WorkbenchError, match="queued"):
        export_bundle(engine.store, engine.catalog, queued, tmp_path / "q")
    engine.store.set_status(queued, "failed", "loss became NaN")
    with pytest.raises(WorkbenchError, match="loss became NaN"):
        bundle_zip(engine.store, engine.catalog, queued)


def test_bundle_zip(runs):
    engine, ids = runs
    zipped = bundle_zip(engine.store, engine.catalog, ids["breast_cancer"], onnx=True)
    names = zipfile.ZipFile(io.BytesIO(zipped.data)).namelist()
    folder = zipped.file_name.removesuffix(".zip")
    assert f"{folder}/predict.py" in names and f"{folder}/model.onnx" in names
    assert zipped.manifest["onnx_check"]["checked"]


@pytest.mark.parametrize("name", ["iris", "digits", "tips", "breast_cancer", "diabetes"])
def test_onnx_matches_torch_on_test_split(runs, tmp_path, name):
    engine, ids = runs
    trained = TrainedModel.load(engine.store.run_dir(ids[name]))
    path = export_onnx(trained, tmp_path / "model.onnx")
    rows = held_out(engine, ids[name])
    got = run_onnx(path, trained.preprocessor, rows)
    encoded = trained.preprocessor.transform(rows)
    np.testing.assert_allclose(got["logits"], trained.outputs(encoded), rtol=0, atol=1e-4)
    stored = stored_test_predictions(engine, ids[name])
    if trained.task == "regression":
        np.testing.assert_allclose(got["prediction"], stored["y_pred"], rtol=1e-5, atol=1e-4)
    else:
        assert list(got["label"]) == list(stored["y_pred"])
        proba = stored[[f"proba_{c}" for c in trained.schema.classes]].to_numpy()
        np.testing.assert_allclose(got["probabilities"], proba, rtol=0, atol=1e-4)
    assert check_parity(trained, path, rows)["max_abs_diff"] <= 1e-4


def test_onnx_fills_gaps_like_the_preprocessor(runs, tmp_path):
    engine, ids = runs
    trained = TrainedModel.load(engine.store.run_dir(ids["tips"]))
    path = export_onnx(trained, tmp_path / "model.onnx")
    rows = held_out(engine, ids["tips"]).head(5).copy()
    rows.loc[0, "day"] = "Mon"
    rows.loc[1, "sex"] = None
    rows.loc[2, "total_bill"] = np.inf
    rows.loc[3, "size"] = np.nan
    check_parity(trained, path, rows)  # raises above 1e-4

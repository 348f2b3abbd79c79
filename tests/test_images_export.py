"""An image run explained, exported, converted to ONNX and served: all from one tiny class-folder zip."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from core.engine import Engine
from core.explain.service import LimeParams, ShapParams, explain_lime, explain_shap
from core.explain.views import image_view
from core.export.bundle import export_bundle
from tests.imagezips import class_zip, encoded, picture, png_header
from workbench.cli import main


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> tuple[Engine, str, Path]:
    folder = tmp_path_factory.mktemp("imgrun")
    zipped = class_zip(folder / "shapes.zip", classes=3, per_class=12, formats=("PNG", "JPEG"))
    code = main(["train", "--data", str(zipped), "--model", "cnn", "--epochs", "6", "--lr", "0.01", "--device", "cpu",
                 "--quiet", "--workspace", str(folder / "ws")])
    assert code == 0
    engine = Engine(folder / "ws")
    return engine, engine.store.list_runs()[0].run_id, folder


def test_shap_and_lime_explain_an_image_run(image_run):
    engine, run_id, _ = image_run
    shap = explain_shap(engine.store, engine.catalog, run_id, [0, 1, 2], ShapParams(background=10))
    assert shap.explainer == "deeplift" and shap.max_additivity_error < 1e-3 and shap.data_kind == "image"
    assert shap.encoded.shape == (3, 16 * 16, 3)
    lime = explain_lime(engine.store, engine.catalog, run_id, [0], LimeParams(num_samples=200, shap=ShapParams(background=10)))
    assert lime.explainer == "lime_image"
    assert len(np.unique(lime.weights[0])) > 3  # superpixels, each its own weight
    fig, _ = image_view(shap, 0, int(np.argmax(shap.outputs[0])), lime)
    assert [t.type for t in fig.data] == ["image", "heatmap", "heatmap"]  # the picture, SHAP, LIME
    assert fig.data[0].z.shape == (16, 16, 3)


def test_bundle_onnx_and_predict_py_take_image_files(image_run, tmp_path: Path):
    engine, run_id, _ = image_run
    bundle = export_bundle(engine.store, engine.catalog, run_id, tmp_path / "b")
    assert "model.onnx" in bundle.files and bundle.onnx_check["checked"] and bundle.onnx_check["max_abs_diff"] < 1e-4
    for c in range(3):
        (tmp_path / f"{c}.png").write_bytes(encoded(picture(c, 500 + c)))
    proc = subprocess.run([sys.executable, str(tmp_path / "b" / "predict.py"), *(str(tmp_path / f"{c}.png") for c in range(3))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("file,prediction,proba_a") and [ln.split(",")[1] for ln in lines[1:]] == ["a", "b", "c"]


def test_serve_answers_an_uploaded_image(image_run):
    engine, run_id, _ = image_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from core.export.server import create_app
    client = TestClient(create_app(engine.store.run_dir(run_id)), base_url="http://127.0.0.1:8000")
    assert client.get("/health").json()["input"] == {"image": [1, 16, 16]}
    got = client.post("/predict", files={"file": ("x.png", encoded(picture(1, 77)), "image/png")}).json()
    assert got["predictions"] == ["b"] and abs(sum(got["probabilities"][0].values()) - 1) < 1e-6
    raw = client.post("/predict", content=encoded(picture(2, 78), "JPEG"), headers={"content-type": "image/jpeg"})
    assert raw.json()["predictions"] == ["c"]
    bad = client.post("/predict", files={"file": ("x.png", b"not an image", "image/png")})
    assert bad.status_code == 422 and "cannot be used" in bad.json()["detail"]
    bomb = client.post("/predict", content=png_header(60_000, 60_000), headers={"content-type": "image/png"})
    assert bomb.status_code == 422 and "pixels" in bomb.json()["detail"]
    huge = client.post("/predict", content=b"\0" * (21 * 2**20), headers={"content-type": "image/png"})
    assert huge.status_code == 413
    text = client.post("/predict", json={"records": []})
    assert text.status_code == 422 and "send an image" in text.json()["detail"]


def test_the_picture_and_its_maps_keep_one_aspect():
    from core.explain.plots import image_maps

    picture = np.zeros((12, 30, 3), dtype=np.uint8)  # wide: 30 x 12
    fig = image_maps(picture, {"SHAP": np.zeros((12, 30)), "LIME": np.ones((12, 30))}, "logit", photo=True)
    layout = fig.layout
    assert layout.yaxis.scaleanchor == "x" and layout.yaxis2.scaleanchor == "x2" and layout.yaxis3.scaleanchor == "x3"
    assert all(getattr(layout, f"yaxis{s}").scaleratio == 1 for s in ("", "2", "3"))


def test_the_export_page_offers_an_image_run(image_run, monkeypatch):
    from streamlit.testing.v1 import AppTest

    engine, run_id, folder = image_run
    monkeypatch.setenv("WORKBENCH_HOME", str(folder / "ws"))
    app = Path(__file__).resolve().parents[1] / "workbench" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120).run()
    at.switch_page("../pages/export.py").run()
    assert not at.exception and not at.error
    code = "\n".join(c.value for c in at.code)
    assert "-F file=@photo.jpg" in code and "predict.py photo.jpg" in code


def test_the_error_gallery_shows_an_image_row_as_its_picture(image_run):
    from core.explain import gallery
    from core.explain.context import RunContext

    engine, run_id, _ = image_run
    ctx = RunContext.load(engine.store, engine.catalog, run_id)
    picture = gallery.thumbnail(ctx, 5)
    assert picture.shape == (16, 16) and picture.dtype == np.uint8  # grey: (H, W), as st.image takes it
    assert np.array_equal(picture, ctx.images[5][0])


def test_try_it_answers_a_dropped_picture(image_run):
    from core.export import try_it
    from core.runs.trained import TrainedModel

    engine, run_id, _ = image_run
    trained = TrainedModel.load(engine.store.run_dir(run_id))
    assert try_it.input_fields(trained) == [] and try_it.can_try(trained) is None
    answer = try_it.predict_picture(trained, encoded(picture(2, seed=99)))
    assert answer.prediction == trained.predict_images([encoded(picture(2, seed=99))]).iloc[0]["prediction"]
    assert sum(answer.probabilities.values()) == pytest.approx(1.0) and len(answer.probabilities) == 3

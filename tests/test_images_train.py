"""Training on images: CNN and ResNet from a class-folder zip, augmentation, predicting image files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import build_model
from core.models.images import Pixels
from core.runs.trained import TrainedModel
from core.training.augment import Augment, preview, resolve_augment
from core.errors import ConfigError
from tests.imagezips import class_zip, encoded, picture
from workbench.cli import main


@pytest.fixture(scope="module")
def zipped(tmp_path_factory) -> Path:
    return class_zip(tmp_path_factory.mktemp("z") / "shapes.zip", classes=3, per_class=14,
                     formats=("PNG", "JPEG", "BMP"), extra={"notes.txt": b"x"})


def _train(capsys, home: Path, zipped: Path, *extra: str) -> dict:
    code = main(["train", "--data", str(zipped), "--epochs", "8", "--device", "cpu", "--json", "--quiet",
                 "--workspace", str(home), "--lr", "0.01", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def test_cnn_learns_a_class_folder_zip_and_predicts_image_files(tmp_path: Path, zipped: Path, capsys):
    result = _train(capsys, tmp_path, zipped, "--model", "cnn", "--augment", "crop=0.1,color")
    assert result["metrics"]["test"]["accuracy"] >= 0.8
    assert result["skipped_files"] == [{"file": "notes.txt", "why": "not an image"}]
    trained = TrainedModel.load(tmp_path / "runs" / result["run_id"])
    assert trained.data_kind == "image" and isinstance(trained.model[0], Pixels)
    files = [encoded(picture(c, 999 + c)) for c in range(3)]
    pred = trained.predict_images(files)
    assert list(pred["prediction"]) == ["a", "b", "c"] and pred.filter(like="proba_").sum(axis=1).round(5).eq(1).all()


def test_resnet_trains_on_images(tmp_path: Path, zipped: Path, capsys):
    result = _train(capsys, tmp_path, zipped, "--model", "resnet", "--image-size", "12")
    assert result["status"] == "completed" and result["metrics"]["test"]["accuracy"] > 0.5


def test_a_table_model_on_images_is_bad_input(tmp_path: Path, zipped: Path, capsys):
    code = main(["train", "--data", str(zipped), "--model", "mlp", "--epochs", "1", "--device", "cpu",
                 "--workspace", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs table data" in err[0]


def test_models_take_raw_uint8_and_flat_rows_alike():
    model = build_model("cnn", {"global_pool": True}, 3 * 12 * 10, 4, (3, 12, 10), "image").eval()
    x = torch.randint(0, 256, (5, 3, 12, 10), dtype=torch.uint8)
    assert torch.allclose(model(x), model(x.reshape(5, -1).float()))
    resnet = build_model("resnet", {"blocks": [1, 1]}, 300, 2, (3, 10, 10), "image").eval()
    assert resnet(torch.zeros(2, 3, 10, 10, dtype=torch.uint8)).shape == (2, 2)


def test_augmentation_is_seeded_changes_pixels_and_keeps_the_range():
    images = np.stack([np.asarray(picture(c, c, 16))[None] for c in range(3)])
    spec = {"crop": 0.2, "flip": True, "rotation": 20, "color": 0.3, "cutout": 0.3}
    a, b = preview(images, spec, copies=3, seed=1), preview(images, spec, copies=3, seed=1)
    assert a.shape == (3, 3, 1, 16, 16) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a[:, 0], a[:, 1])  # each copy differs
    assert not np.array_equal(preview(images, spec, copies=3, seed=2), a)
    out = Augment(resolve_augment(spec))(torch.as_tensor(images))
    assert out.dtype == torch.float32 and float(out.min()) >= 0 and float(out.max()) <= 255
    assert np.array_equal(preview(images, {}, copies=2)[:, 1], images)  # nothing asked: nothing changed


def test_augmentation_settings_are_checked():
    assert resolve_augment({"flip": True, "rotation": 10}).rotation == 10
    assert resolve_augment({"crop": True}).crop == pytest.approx(0.15)
    with pytest.raises(ConfigError, match="rotation must be from 0 to 180"):
        resolve_augment({"rotation": 400})
    with pytest.raises(ConfigError, match="unknown augmentation"):
        resolve_augment({"blur": 1})

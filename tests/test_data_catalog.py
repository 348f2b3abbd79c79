"""Catalog: samples, resolving sources, and storing uploads safely."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from core.data import Catalog, DatasetRef, file_sha256, list_samples, load_dataset, resolve
from core.data.catalog import safe_filename
from core.errors import DataError

SAMPLES = {  # name -> (rows, columns, target, task, image_shape)
    "iris": (150, 5, "species", "multiclass", None),
    "wine": (178, 14, "cultivar", "multiclass", None),
    "breast_cancer": (569, 31, "diagnosis", "binary", None),
    "diabetes": (442, 11, "progression", "regression", None),
    "digits": (1797, 65, "label", "multiclass", (1, 8, 8)),
    "tips": (244, 7, "tip", "regression", None),
    "seattle_weather": (1461, 6, "temp_max", "regression", None),
    "italy_power_demand": (1096, 25, "season", "binary", None),
    "basic_motions": (8000, 9, "activity", "multiclass", None),
}
IMAGE_SAMPLES = {"digits_images": (1797, 10), "faces": (200, 2)}  # name -> (images, classes)


def test_catalog_lists_every_sample_with_a_datasheet() -> None:
    refs = list_samples()
    assert [r.name for r in refs] == list(SAMPLES) + list(IMAGE_SAMPLES)
    for ref in refs:
        assert ref.kind == "sample" and ref.path.is_file() and ref.description
        assert (ref.path.parent / f"{ref.name}.md").is_file()
        assert len(ref.sha256) == 64


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_sample_resolves_and_loads(name: str) -> None:
    rows, cols, target, task, shape = SAMPLES[name]
    ref = resolve(name.upper())  # names are case-insensitive
    assert (ref.name, ref.target, ref.task, ref.image_shape) == (name, target, task, shape)
    df = load_dataset(ref)
    assert df.shape == (rows, cols)
    assert target in df.columns
    assert ref.source == name


@pytest.mark.parametrize("name", list(IMAGE_SAMPLES))
def test_each_image_sample_is_a_zip_of_class_folders(name: str) -> None:
    from core.data.images.archive import scan

    ref = resolve(name)
    assert ref.data_kind == "image" and ref.target == "label" and ref.path.suffix == ".zip"
    images, classes = IMAGE_SAMPLES[name]
    listing = scan(ref.path)
    assert len(listing.classes) == classes
    # digits_images carries its junk and one broken scan (found only when decoded) on purpose
    assert len(listing.entries) == images + (1 if name == "digits_images" else 0)


def test_sample_values_look_real() -> None:
    iris = load_dataset(resolve("iris"))
    assert sorted(iris["species"].unique()) == ["setosa", "versicolor", "virginica"]
    cancer = load_dataset(resolve("breast_cancer"))
    assert set(cancer["diagnosis"]) == {"malignant", "benign"}
    diabetes = load_dataset(resolve("diabetes"))
    assert list(diabetes.columns[:4]) == ["age", "sex", "bmi", "bp"] and diabetes["age"].max() > 50
    digits = load_dataset(resolve("digits"))
    pixels = digits.drop(columns="label")
    assert list(pixels.columns[:2]) == ["px_0_0", "px_0_1"] and pixels.columns[-1] == "px_7_7"
    assert pixels.to_numpy().min() == 0 and pixels.to_numpy().max() == 16
    assert sorted(digits["label"].unique()) == list(range(10))
    tips = load_dataset(resolve("tips"))
    assert set(tips["time"]) == {"Lunch", "Dinner"}
    weather = load_dataset(resolve("seattle_weather"))
    assert (weather["date"].iloc[0], weather["date"].iloc[-1]) == ("2012-01-01", "2015-12-31")
    assert resolve("seattle_weather").sequence == {"time_column": "date", "window": 14, "horizon": 1}
    motions = load_dataset(resolve("basic_motions"))
    assert motions.groupby("recording").size().eq(100).all() and motions["activity"].nunique() == 4


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 100_000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 100_000).hexdigest()


def test_resolve_a_path_and_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(path, index=False)
    ref = resolve(str(path))
    assert ref.kind == "file" and ref.path == path.resolve() and ref.sha256 == file_sha256(path)
    assert resolve(ref.source) == ref
    with pytest.raises(DataError, match=r"No dataset named 'nope': give a sample name \(iris"):
        resolve("nope")
    with pytest.raises(DataError, match="folder"):
        resolve(str(tmp_path))


def test_sample_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalog.yaml").write_text(
        "samples:\n- {name: tiny, file: tiny.csv, target: y, task: binary, image_shape: null, description: t}\n")
    (tmp_path / "tiny.csv").write_text("x,y\n1,0\n2,1\n")
    monkeypatch.setenv("WORKBENCH_SAMPLES", str(tmp_path))
    assert [r.name for r in list_samples()] == ["tiny"]
    assert resolve("tiny").target == "y"


def test_a_sample_resolves_without_reading_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # every `workbench train` resolves its sample: hashing each sample and listing each image zip
    # there cost 0.2-0.5 s; missing files show which entries were read (each is a warning when read)
    (tmp_path / "catalog.yaml").write_text(
        "samples:\n- {name: tiny, file: tiny.csv, target: y, task: binary, description: t}\n"
        "- {name: gone, file: gone.csv, target: y, description: g}\n"
        "- {name: pics, file: gone.zip, data_kind: image, description: p}\n")
    (tmp_path / "tiny.csv").write_text("x,y\n1,0\n2,1\n")
    monkeypatch.setenv("WORKBENCH_SAMPLES", str(tmp_path))
    with caplog.at_level("WARNING", logger="core.data.catalog"):
        assert resolve("TINY").target == "y"
        assert not caplog.records
        assert [r.name for r in list_samples()] == ["tiny"]
    assert len(caplog.records) == 2
    with pytest.raises(DataError, match=r"give a sample name \(tiny, gone, pics, \.\.\.\)"):
        resolve("gone")


def test_safe_filename() -> None:
    assert safe_filename("../../evil.csv") == "evil.csv"
    assert safe_filename("..\\..\\win\\evil.CSV") == "evil.csv"
    assert safe_filename(".bashrc") == "bashrc"
    assert safe_filename("my data (v2).csv") == "my_data_v2.csv"
    assert safe_filename("..") == "upload.csv"
    assert len(safe_filename("a" * 500 + ".csv")) <= 100


def test_upload_sanitises_name_and_resolves(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = b"a,b\n1,x\n2,y\n"
    ref = catalog.add_upload("../../evil.csv", data)
    sha = hashlib.sha256(data).hexdigest()
    assert ref.path == (tmp_path / "uploads" / f"{sha[:12]}_evil.csv").resolve()
    assert ref.sha256 == sha and ref.kind == "file"
    assert not (tmp_path.parent / "evil.csv").exists()
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [ref.name]  # no temp files left
    assert catalog.resolve(ref.name) == ref
    assert catalog.resolve("evil.csv") == ref  # by its original (safe) name
    assert resolve(ref.source) == ref
    assert catalog.uploads() == [ref]
    assert [r.name for r in catalog.all()][-1] == ref.name


def test_upload_refuses_oversize_before_writing(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    with pytest.raises(DataError, match="over the"):
        catalog.add_upload("big.csv", b"a,b\n" + b"1,2\n" * 1000, max_bytes=1000)
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


@pytest.mark.parametrize("filename, data", [
    ("picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    ("empty.csv", b""),
    ("header.csv", b"a,b,c\n"),
    ("sheet.xlsx", b"PK\x03\x04rest"),
])
def test_upload_that_does_not_load_is_removed(tmp_path: Path, filename: str, data: bytes) -> None:
    catalog = Catalog(tmp_path)
    with pytest.raises(DataError):
        catalog.add_upload(filename, data)
    assert catalog.uploads() == []


def test_refs_are_frozen() -> None:
    ref = resolve("iris")
    assert isinstance(ref, DatasetRef)
    with pytest.raises(AttributeError):
        ref.name = "x"  # type: ignore[misc]


def test_a_file_larger_than_the_memory_budget_is_refused_before_it_is_hashed(tmp_path, monkeypatch):
    import core.data.catalog as catalog_module
    from core.data.catalog import resolve
    from core.data.memory import BUDGET_ENV

    path = tmp_path / "big.csv"
    path.write_text("a,y\n" + "1.5,2\n" * 40_000)
    monkeypatch.setenv(BUDGET_ENV, "0.05")
    hash_of = catalog_module.cached_sha256

    def hashing(p):
        assert p.name != "big.csv", "hashed a file that cannot load"
        return hash_of(p)
    monkeypatch.setattr(catalog_module, "cached_sha256", hashing)
    with pytest.raises(DataError, match="too large to load"):
        resolve(str(path))

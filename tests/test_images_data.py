"""Image data: decoding every mode and format, the layouts a zip may have, the cache, and training on it."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import DataConfig, RunConfig
from core.data import Catalog
from core.data.images.archive import scan
from core.data.images.dataset import DecodeOptions, decode_all, load_images, target_size
from core.data.images.decode import BadImage, decode, probe
from core.errors import DataError
from core.runs.prepare import prepare_data
from tests.imagezips import class_zip, encoded, picture


def _rgb_square() -> Image.Image:
    a = np.zeros((20, 10, 3), dtype=np.uint8)
    a[:10, :, 0] = 255  # red top half, of a 10-wide, 20-high picture
    return Image.fromarray(a, "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_format_decodes_to_the_asked_size(fmt: str):
    arr = decode(encoded(_rgb_square(), fmt), (10, 20), 3)
    assert arr.shape == (3, 20, 10) and arr.dtype == np.uint8
    assert arr[0, 2, 5] > 200 and arr[0, 17, 5] < 60  # red on top, black below, whatever the format


def test_modes_become_rgb_or_grey():
    grey16 = Image.fromarray((np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000))
    assert grey16.mode.startswith("I;16")
    assert decode(encoded(grey16), (8, 8), 1)[0, 7, 7] == round(63_000 * 255 / 65535)
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent: white, as a viewer shows it
    assert decode(encoded(rgba), (8, 8), 3)[:, 0, 0].tolist() == [255, 255, 255]
    palette = _rgb_square().convert("P")
    assert decode(encoded(palette), (10, 20), 3)[0, 2, 5] > 200
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red in CMYK
    out = decode(encoded(cmyk, "JPEG"), (8, 8), 3)
    assert out[0, 4, 4] > 200 and out[1, 4, 4] < 60


def test_exif_orientation_is_applied():
    im = _rgb_square()  # 10 wide, 20 high, red on top
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the stored picture is lying on its side
    buf = io.BytesIO()
    im.rotate(90, expand=True).save(buf, "JPEG", exif=exif.tobytes())
    arr = decode(buf.getvalue(), (10, 20), 3)
    assert arr[0, 2, 5] > 200 and arr[0, 17, 5] < 60  # upright again


def test_a_pixel_bomb_is_refused_from_its_header():
    from tests.imagezips import png_header
    with pytest.raises(BadImage, match="pixels"):
        probe(png_header(50_000, 50_000))


def test_layouts_root_folder_and_csv(tmp_path: Path):
    nested = scan(class_zip(tmp_path / "nested.zip", root="my photos/set/"))
    assert nested.classes == ["a", "b"] and len(nested.entries) == 24
    with zipfile.ZipFile(tmp_path / "csv.zip", "w") as zf:
        rows = ["file,label"]
        for i in range(10):
            zf.writestr(f"img/{i}.png", encoded(picture(i % 2, i)))
            rows.append(f"img/{i}.png,{'cat' if i % 2 else 'dog'}")
        rows.append("img/missing.png,cat")
        zf.writestr("labels.csv", "\n".join(rows))
    listing = scan(tmp_path / "csv.zip")
    assert listing.csv_name == "labels.csv" and listing.counts == {"cat": 5, "dog": 5}
    assert ("img/missing.png", "listed in the CSV but not in the zip") in listing.skipped


def test_a_folder_of_class_folders_works_like_a_zip(tmp_path: Path):
    for c in "xy":
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(3):
            picture(0 if c == "x" else 1, i).save(tmp_path / "data" / c / f"{i}.png")
    (tmp_path / "data" / "x" / "link.png").symlink_to("/etc/hostname")
    ds = decode_all(tmp_path / "data", DecodeOptions())
    assert sorted(set(ds.labels)) == ["x", "y"] and len(ds.labels) == 6
    assert ("x/link.png", "symbolic link, not followed") in ds.skipped


def test_size_and_colour_come_from_the_data():
    assert target_size([(40, 30), (60, 40), (50, 34)], None) == (50, 34)
    assert target_size([(400, 300)] * 3, None) == (64, 48)  # capped
    assert target_size([(400, 300)] * 3, 32) == (32, 24)


def test_colour_auto_keeps_one_channel_for_grey_pictures_saved_in_colour(tmp_path: Path):
    ds = decode_all(class_zip(tmp_path / "g.zip", formats=("PNG", "JPEG")), DecodeOptions())
    assert ds.X.shape[1] == 1
    rgb = decode_all(class_zip(tmp_path / "g.zip", formats=("PNG", "JPEG")), DecodeOptions(color="rgb"))
    assert rgb.X.shape[1] == 3


def test_decoded_images_are_cached_by_content_hash(tmp_path: Path, monkeypatch):
    z = class_zip(tmp_path / "c.zip")
    ref = Catalog(tmp_path / "ws").resolve(str(z))
    first = load_images(ref.path, ref.sha256, DecodeOptions(), tmp_path / "ws")
    assert list((tmp_path / "ws" / "cache" / "images").glob("*.npy"))
    import core.data.images.dataset as dataset
    monkeypatch.setattr(dataset, "decode_all", lambda *a, **k: pytest.fail("decoded again"))
    second = load_images(ref.path, ref.sha256, DecodeOptions(), tmp_path / "ws")
    assert np.array_equal(first.X, second.X) and first.labels == second.labels


def test_catalog_sees_an_uploaded_zip_and_refuses_a_bad_one(tmp_path: Path):
    catalog = Catalog(tmp_path)
    data = class_zip(tmp_path / "u.zip").read_bytes()
    ref = catalog.add_upload("my pets.zip", data)
    assert ref.data_kind == "image" and ref.target == "label" and ref.description == "uploaded as my_pets.zip"
    assert "24 images in 2 classes" in catalog.resolve(str(tmp_path / "u.zip")).description
    assert [r.name for r in catalog.uploads()] == [ref.name]
    with pytest.raises(DataError, match="one class only"):
        catalog.add_upload("one.zip", class_zip(tmp_path / "one.zip", classes=1).read_bytes())
    assert len(catalog.uploads()) == 1  # the refused upload left nothing behind


def test_prepare_gives_uint8_images_per_split(tmp_path: Path):
    z = class_zip(tmp_path / "p.zip", classes=3, per_class=10, extra={"a/bad.png": b"\x89PNG\r\n\x1a\nbroken"})
    config = RunConfig(data=DataConfig(source=str(z), target="label")).evolve(model={"kind": "cnn"})
    prepared = prepare_data(config, Catalog(tmp_path / "ws"))
    assert prepared.X["train"].dtype == np.uint8 and prepared.X["train"].shape[1:] == (1, 16, 16)
    assert prepared.schema.task == "multiclass" and prepared.schema.classes == ("a", "b", "c")
    assert sum(len(v) for v in prepared.y.values()) == 30
    assert prepared.skipped and prepared.skipped[0][0] == "a/bad.png"
    assert any("a/bad.png" in w for w in prepared.warnings)
    with pytest.raises(Exception, match="needs image data|needs table"):
        prepare_data(config.evolve(model={"kind": "mlp", "params": {}}), Catalog(tmp_path / "ws"))

"""The image samples: zips of class folders, as people bring photos, with their datasheets.

`digits_images.zip`: scikit-learn's 1,797 digit scans as the scans they were, dark ink on light
paper, upscaled to mixed sizes (24-48 px, some not square) and saved as PNG, JPEG and BMP in
mixed modes (grey, RGB, palette, grey with alpha, 16-bit), with the junk a real zip carries
(__MACOSX/, .DS_Store, Thumbs.db, a README) and one truncated JPEG: every case the loader must
handle, in one sample. `faces.zip`: scikit-image's bundled LFW subset, 100 faces and 100
non-faces at 25 x 25. Both are written byte for byte the same on every run (fixed seeds and
zip timestamps).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn import datasets

STAMP = (2024, 1, 1, 0, 0, 0)
UCI = ("Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. Dua, D. and Graff, C. "
       "(2019). UCI Machine Learning Repository. University of California, Irvine.")


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _put(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _digit_file(ink: np.ndarray, i: int, rng: np.random.Generator) -> tuple[str, bytes]:
    """One scan: ink 0-16 on 8x8 -> paper-white background, dark strokes, a size and format of its own."""
    paper = (255 - ink * (235 / 16)).astype(np.uint8)
    side = int(rng.integers(24, 49))
    width = side if rng.random() < 0.7 else int(side * rng.uniform(0.8, 1.0))
    im = Image.fromarray(paper, "L").resize((width, side), Image.Resampling.BICUBIC)
    kind = i % 8
    if kind == 0:
        return "png", _save(im, "PNG")
    if kind == 1:
        return "png", _save(im.convert("RGB"), "PNG")
    if kind == 2:
        return "png", _save(im.convert("P"), "PNG")  # palette
    if kind == 3:
        la = Image.merge("LA", (im, Image.new("L", im.size, 255)))
        return "png", _save(la, "PNG")  # grey with an (opaque) alpha channel
    if kind == 4:
        wide = Image.fromarray(np.asarray(im, dtype=np.uint16) * 257)
        return "png", _save(wide, "PNG")  # 16-bit grey
    if kind == 5:
        return "jpg", _save(im, "JPEG", quality=90)
    if kind == 6:
        return "jpg", _save(im.convert("RGB"), "JPEG", quality=85)
    return "bmp", _save(im.convert("RGB") if i % 16 == 7 else im, "BMP")


def digits_zip(path: Path) -> dict[str, int]:
    raw = datasets.load_digits()
    rng = np.random.default_rng(13)
    counts = {"images": 0, "junk": 0, "broken": 1}
    with zipfile.ZipFile(path, "w") as zf:
        for i, (ink, label) in enumerate(zip(raw.images, raw.target)):
            suffix, data = _digit_file(ink, i, rng)
            _put(zf, f"digits/{label}/{i:04d}.{suffix}", data)
            counts["images"] += 1
        junk = {"__MACOSX/digits/0/._0000.png": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X",
                "digits/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(64), "digits/3/Thumbs.db": b"\xd0\xcf\x11\xe0" + bytes(60),
                "digits/README.txt": b"Scanned digits, one folder per digit.\n"}
        for name, data in junk.items():
            _put(zf, name, data)
            counts["junk"] += 1
        full = _save(Image.fromarray((255 - raw.images[7] * 14).astype(np.uint8)).resize((32, 32)), "JPEG")
        _put(zf, "digits/7/scan_cut_short.jpg", full[: len(full) // 2])  # a transfer that stopped half way
    return counts


def faces_zip(path: Path) -> dict[str, int]:
    from skimage import data as skdata  # scikit-image ships lfw_subset.npy in its package data

    images = skdata.lfw_subset()
    arr = np.asarray(images)
    arr = (arr * 255).round().astype(np.uint8) if arr.dtype != np.uint8 else arr
    with zipfile.ZipFile(path, "w") as zf:
        for i, img in enumerate(arr):
            label = "face" if i < 100 else "not_face"
            _put(zf, f"faces/{label}/{i:03d}.png", _save(Image.fromarray(img, "L"), "PNG"))
    return {"images": len(arr), "junk": 0, "broken": 0}


SAMPLES = {
    "digits_images": dict(
        build=digits_zip, title="Handwritten digit scans (class folders)", task="multiclass",
        description=("1,797 handwritten digit scans in a zip of class folders 0-9: PNG, JPEG and BMP files of "
                     "mixed sizes and modes, with junk files and one broken scan, as a real zip comes."),
        source=("The UCI Optical Recognition of Handwritten Digits scans via scikit-learn `load_digits` (8x8, ink "
                "0-16), drawn as dark ink on light paper and upscaled to 24-48 px by `image_samples.py`."),
        citation=UCI, licence="CC BY 4.0 (UCI Machine Learning Repository)",
        classes="0, 1, ..., 9 (the folder names)",
        notes=("Formats and modes cycle by image number: PNG in grey, RGB, palette, grey + alpha and 16-bit; "
               "JPEG in grey and RGB; BMP in grey and RGB. Sizes are random (seeded) from 24 to 48 px, three in "
               "ten images narrower than tall. The zip also holds `__MACOSX/`, `.DS_Store`, `Thumbs.db`, a "
               "`README.txt` and `digits/7/scan_cut_short.jpg`, half a JPEG: all are skipped and reported."),
    ),
    "faces": dict(
        build=faces_zip, title="Faces and non-faces (LFW subset)", task="binary",
        description="200 grey 25 x 25 crops from Labeled Faces in the Wild: 100 faces and 100 background patches.",
        source="scikit-image's bundled `lfw_subset` (skimage.data.lfw_subset), taken from the LFW photos.",
        citation=("Huang, G. B., Ramesh, M., Berg, T. and Learned-Miller, E. (2007). Labeled Faces in the Wild: A "
                  "Database for Studying Face Recognition in Unconstrained Environments. University of "
                  "Massachusetts, Amherst, Technical Report 07-49."),
        licence=("No explicit licence from the LFW authors (published for research); redistributed with "
                 "scikit-image (BSD-3-Clause)."),
        classes="face, not_face",
        notes="The non-faces were cut from the backgrounds of the same photos, so the task is face detection.",
    ),
}


def datasheet(name: str, meta: dict, counts: dict[str, int], size_bytes: int) -> str:
    return f"""# {meta['title']} (`{name}`)

{meta['description']}

- **Source:** {meta['source']}
- **Citation:** {meta['citation']}
- **Licence:** {meta['licence']}
- **Images:** {counts['images']:,}
- **Task:** {meta['task']} (the class is the folder name; the target is `label`)
- **Classes:** {meta['classes']}
- **File:** `{name}.zip` ({size_bytes / 1024:,.0f} KB), written by `generate.py`

## Layout

One folder per class inside the zip; Workbench decodes the images once (size and colour from the
data), caches them in the workspace, and trains the CNN or the ResNet on them.

{meta['notes']}
"""


def write_image_samples(folder: Path) -> tuple[list[dict], list[str]]:
    """Write each zip and datasheet; (catalog entries, README rows)."""
    entries, rows = [], []
    for name, meta in SAMPLES.items():
        path = folder / f"{name}.zip"
        counts = meta["build"](path)
        (folder / f"{name}.md").write_text(datasheet(name, meta, counts, path.stat().st_size), encoding="utf-8")
        entries.append({"name": name, "file": path.name, "data_kind": "image", "target": "label",
                        "task": meta["task"], "image_shape": None, "description": meta["description"]})
        licence = meta["licence"].split(" (")[0] if meta["licence"].startswith("CC") else "none stated (see datasheet)"
        rows.append(f"| [{name}]({name}.md) | {counts['images']:,} images | class folders | `label` "
                    f"| {meta['task']} | {licence} |")
    return entries, rows

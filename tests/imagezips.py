"""Tiny class-folder zips for the image tests: a few dozen small seeded images, and hostile variants."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def picture(label: int, seed: int, size: int = 16, mode: str = "L") -> Image.Image:
    """Class 0: a bright square top-left; class 1: a bright bar at the bottom; class 2: a cross. Noisy."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 60, (size, size)).astype(np.uint8)
    h = size // 2
    if label == 0:
        a[:h, :h] += 180
    elif label == 1:
        a[-h // 2:, :] += 180
    else:
        a[h - 2:h + 2, :] += 180
        a[:, h - 2:h + 2] = np.clip(a[:, h - 2:h + 2].astype(int) + 180, 0, 255)
    im = Image.fromarray(a, "L")
    return im if mode == "L" else im.convert(mode)


def encoded(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def class_zip(path: Path, classes: int = 2, per_class: int = 12, extra: dict[str, bytes] | None = None,
              root: str = "", formats: tuple[str, ...] = ("PNG",)) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for c in range(classes):
            for i in range(per_class):
                fmt = formats[i % len(formats)]
                suffix = {"PNG": "png", "JPEG": "jpg", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "TIFF": "tif"}[fmt]
                zf.writestr(f"{root}{'abc'[c]}/{i}.{suffix}", encoded(picture(c, 100 * c + i), fmt))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels and that holds none: a pixel bomb costs nothing to make."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def deflate_bomb(path: Path, megabytes: int = 300) -> Path:
    """A class zip with one entry of `megabytes` zeros: a few hundred KB packed."""
    class_zip(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("a/bomb.png", "w", force_zip64=True) as fh:
        block = b"\x00" * 2**20
        for _ in range(megabytes):
            fh.write(block)
    return path


def hostile_zips(folder: Path, tag: str) -> dict[str, tuple[Path, str]]:
    """name -> (zip, 'refused' | 'loads'): each hostile case of the issue, made in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    truncated = encoded(picture(0, 7))[:60]
    out = {
        "zip_slip": (class_zip(folder / "slip.zip", extra={f"../../../../tmp/wb-slip-{tag}.png": encoded(picture(0, 1))}),
                     "refused"),
        "absolute_name": (class_zip(folder / "absolute.zip", extra={f"/tmp/wb-abs-{tag}.png": encoded(picture(0, 2))}),
                          "refused"),
        "pixel_bomb": (class_zip(folder / "pixels.zip", extra={"a/huge.png": png_header(100_000, 100_000)}), "loads"),
        "deflate_bomb": (deflate_bomb(folder / "deflate.zip"), "refused"),
        "junk_files": (class_zip(folder / "junk.zip", extra={"__MACOSX/a/._0.png": b"\x00\x05\x16\x07", ".DS_Store": b"Bud1",
                                                             "a/Thumbs.db": b"\xd0\xcf", "notes.txt": b"hello",
                                                             "b/desktop.ini": b"[x]"}), "loads"),
        "broken_image": (class_zip(folder / "broken.zip", extra={"a/truncated.png": truncated,
                                                                 "b/garbage.jpg": b"\xff\xd8\xff\xe0 not really"}), "loads"),
        "one_class": (class_zip(folder / "one_class.zip", classes=1), "refused"),
        "one_image_in_a_class": (class_zip(folder / "single.zip", extra={"c/0.png": encoded(picture(2, 1))}), "refused"),
        "no_images": (_zip(folder / "empty.zip", {"a/readme.txt": b"x", "b/notes.md": b"y"}), "refused"),
    }
    not_zip = folder / "not_a_zip.zip"
    not_zip.write_text("this is a text file named .zip\n")
    out["not_a_zip"] = (not_zip, "refused")
    return out


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path

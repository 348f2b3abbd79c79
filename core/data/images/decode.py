"""Image bytes to a uint8 array with Pillow, safely: formats allowed by name, pixels counted first.

PNG, JPEG, BMP, GIF (first frame), WebP and TIFF (first page) are decoded; EXIF orientation is
applied; palette, alpha, 16-bit, float and CMYK modes become L or RGB (alpha over white, as a
viewer shows it). The pixel count is read from the header and checked before any pixel is
decoded, so a 50000 x 50000 'pixel bomb' costs nothing; Pillow's own bomb limit stays on too.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "WEBP", "TIFF")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to 120 MB of RGB: the largest one image may be
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "La")
GREY_TOLERANCE = 10  # JPEG's chroma noise on a grey picture stays well below this


class BadImage(Exception):
    """An entry that is no usable image; its message says why in a few words."""


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str
    format: str


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise BadImage("not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage("too many pixels (a decompression bomb)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"damaged ({str(exc)[:60]})") from None


def probe(data: bytes) -> Header:
    """Size, mode and format from the header alone; BadImage for what must not be decoded."""
    return open_checked(data)[1]


def open_checked(data: bytes) -> tuple[Image.Image, Header]:
    """The image opened (its pixels not yet decoded) and its header, checked as `probe` checks it.

    Opening costs more than decoding for small images (a BMP's palette is parsed in Python), so
    a caller that probes all files first and decodes them later hands this image to `decode`."""
    im = _open(data)
    width, height = im.size
    if width < 1 or height < 1:
        raise BadImage("an image of no pixels")
    if width * height > MAX_PIXELS:
        raise BadImage(f"{width} x {height} pixels, over the {MAX_PIXELS // 1_000_000} megapixel limit")
    return im, Header(width, height, im.mode, str(im.format))


def decode(data: bytes, size: tuple[int, int], channels: int = 3,
           opened: tuple[Image.Image, Header] | None = None) -> np.ndarray:
    """(channels, height, width) uint8 of the image resized to size = (width, height).

    opened: what `open_checked(data)` returned, its pixels not yet loaded (each image decodes once)."""
    im, header = opened or open_checked(data)
    try:
        if header.format == "JPEG":
            im.draft("RGB" if channels == 3 else "L", size)  # decode at 1/2, 1/4, 1/8 scale when that is enough
        im.seek(0)  # GIF, TIFF: the first frame
        im.load()
        im = ImageOps.exif_transpose(im)
        im = to_mode(im, "RGB" if channels == 3 else "L")
        if im.size != size:
            im = im.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        arr = np.asarray(im, dtype=np.uint8)
    except BadImage:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise BadImage(f"broken or truncated ({str(exc)[:60]})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def to_mode(im: Image.Image, mode: str) -> Image.Image:
    """L or RGB from any mode: 16-bit and float scaled to 8 bits, alpha composed over white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return im.convert(mode) if im.mode != mode else im


def is_grey(arr: np.ndarray) -> bool:
    """An RGB (3, H, W) array whose channels agree: a grey picture saved in colour."""
    if arr.shape[0] == 1:
        return True
    a = arr.astype(np.int16)
    return int(np.abs(a[0] - a[1]).max(initial=0)) <= GREY_TOLERANCE and \
        int(np.abs(a[1] - a[2]).max(initial=0)) <= GREY_TOLERANCE


__all__ = ["BadImage", "Header", "FORMATS", "MAX_PIXELS", "decode", "is_grey", "open_checked", "probe", "to_mode"]

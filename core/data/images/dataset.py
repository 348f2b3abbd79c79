"""A zip or folder of class folders, decoded once into a uint8 array and cached by content hash.

The first run on a dataset reads every image twice (headers for the size, then pixels); the
result, with the list of what was skipped, is kept in the workspace under the archive's SHA-256
and the decoding options, so every later run and the Data page start from one np.load.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic import write_atomic, write_atomic_with
from core.data.columns import shown
from core.data.images.archive import EntryReader, ImageListing, check_classes, scan
from core.data.images.decode import BadImage, Header, decode, is_grey, open_checked
from core.errors import ConfigError, WorkbenchError
from core.vocab import IMAGE_COLORS

log = logging.getLogger(__name__)

CACHE_FOLDER = "cache/images"
DECODER_VERSION = 1  # bump when decoding changes: old cache entries are then simply not found
DEFAULT_MAX_SIDE = 64  # the size chosen from the data is capped here (CPU-friendly); ask for more if needed
MIN_SIDE, MAX_SIDE = 8, 512
OPENED_BYTES = 256 * 2**20  # files kept open between the two passes; past this they are read again


@dataclass(frozen=True)
class DecodeOptions:
    size: int | None = None  # the longer side in pixels; None: the images' median size, capped
    color: str = "auto"  # auto: grayscale when every image is grey, else rgb

    def __post_init__(self) -> None:
        if self.color not in IMAGE_COLORS:
            raise ConfigError(f"image colour must be one of {IMAGE_COLORS}, got {self.color!r}")
        if self.size is not None and not MIN_SIDE <= int(self.size) <= MAX_SIDE:
            raise ConfigError(f"image size must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {self.size}")


@dataclass
class ImageDataset:
    X: np.ndarray  # (n, channels, height, width) uint8
    labels: list[str]
    names: list[str]  # each image's path inside the zip or folder
    hashes: list[str]  # SHA-256 (first 16 hex digits) of each file's bytes: duplicates share one
    source_sizes: list[tuple[int, int]]  # (width, height) of each file as stored
    formats: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    csv_name: str | None = None
    seconds: float = 0.0  # decoding time (0 when read from the cache)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.X.shape[1:])  # type: ignore[return-value]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def skipped_text(self, limit: int = 6) -> str:
        return ImageListing(Path("."), [], self.skipped).skipped_text(limit)


def load_images(path: Path, sha256: str, options: DecodeOptions, workspace: Path | None,
                label: str | None = None) -> ImageDataset:
    """The decoded dataset, from the cache when this archive was decoded with these options before."""
    key = cache_key(sha256, options)
    folder = Path(workspace) / CACHE_FOLDER if workspace is not None else None
    if folder is not None:
        cached = _read_cache(folder, key)
        if cached is not None:
            return cached
    dataset = decode_all(path, options, label)
    if folder is not None:
        _write_cache(folder, key, dataset)
    return dataset


def cache_key(sha256: str, options: DecodeOptions) -> str:
    raw = json.dumps({"sha": sha256, "opts": asdict(options), "v": DECODER_VERSION}, sort_keys=True)
    return f"{sha256[:16]}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def decode_all(path: Path, options: DecodeOptions, label: str | None = None) -> ImageDataset:
    started = time.perf_counter()
    name = label or path.name
    listing = scan(path, name)
    kept, headers, hashes = [], [], []
    # the images opened in the first pass, decoded in the second without reading or opening them again
    # (opening is most of the cost for small files), as long as their bytes fit in OPENED_BYTES
    opened: list[tuple[Image.Image, Header] | None] = []
    held = 0
    with EntryReader(path) as reader:
        for entry in listing.entries:
            try:
                data = reader.read(entry.name)
                image = open_checked(data)
            except BadImage as exc:
                listing.skipped.append((entry.name, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - a damaged zip member (CRC, deflate error) is one file lost
                listing.skipped.append((entry.name, f"cannot be read from the archive ({type(exc).__name__})"))
                continue
            kept.append(entry)
            headers.append(image[1])
            hashes.append(hashlib.sha256(data).hexdigest()[:16])
            held += len(data)
            opened.append(image if held <= OPENED_BYTES else None)
        listing.entries = kept
        check_classes(listing, name)
        size = target_size([(h.width, h.height) for h in headers], options.size)
        arrays, good = [], []
        for i, entry in enumerate(kept):
            image, opened[i] = opened[i], None  # each image's pixels are freed once it is decoded
            try:
                data = b"" if image is not None else reader.read(entry.name)
                arrays.append(decode(data, size, 3, image))
                good.append(i)
            except BadImage as exc:
                listing.skipped.append((entry.name, str(exc)))
            except Exception as exc:  # noqa: BLE001
                listing.skipped.append((entry.name, f"cannot be decoded ({type(exc).__name__})"))
    listing.entries = [kept[i] for i in good]
    check_classes(listing, name)
    X = np.stack(arrays)
    if options.color == "grayscale":
        X = _to_grey(X)
    elif options.color == "auto" and all(is_grey(a) for a in arrays):
        X = np.ascontiguousarray(X[:, :1])  # the channels agree: keep one
    log.info("decoded %d images of %s to %s in %.1f s (%d skipped)", len(X), name, X.shape[1:],
             time.perf_counter() - started, len(listing.skipped))
    return ImageDataset(X=X, labels=[e.label for e in listing.entries], names=[e.name for e in listing.entries],
                        hashes=[hashes[i] for i in good], source_sizes=[(headers[i].width, headers[i].height) for i in good],
                        formats=[headers[i].format for i in good], skipped=listing.skipped,
                        csv_name=listing.csv_name, seconds=time.perf_counter() - started)


def target_size(sizes: list[tuple[int, int]], longer_side: int | None) -> tuple[int, int]:
    """(width, height) every image is resized to: the median aspect, its longer side given or the median's
    (capped at DEFAULT_MAX_SIDE)."""
    widths = np.array([w for w, _ in sizes], dtype=float)
    heights = np.array([h for _, h in sizes], dtype=float)
    w, h = float(np.median(widths)), float(np.median(heights))
    side = float(longer_side) if longer_side else min(max(w, h), DEFAULT_MAX_SIDE)
    scale = side / max(w, h)
    return max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))


def _to_grey(X: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as Pillow's convert('L')."""
    luma = X[:, 0] * 0.299 + X[:, 1] * 0.587 + X[:, 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, None]


def _read_cache(folder: Path, key: str) -> ImageDataset | None:
    try:
        meta = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        X = np.load(folder / f"{key}.npy", allow_pickle=False)
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if len(X) != len(meta.get("labels", ())):
        return None
    return ImageDataset(X=X, labels=meta["labels"], names=meta["names"], hashes=meta["hashes"],
                        source_sizes=[tuple(s) for s in meta["source_sizes"]], formats=meta["formats"],
                        skipped=[tuple(s) for s in meta["skipped"]], csv_name=meta.get("csv_name"))


def _write_cache(folder: Path, key: str, ds: ImageDataset) -> None:
    try:
        write_atomic_with(folder / f"{key}.npy", lambda fh: np.save(fh, ds.X, allow_pickle=False))
        meta = {"labels": ds.labels, "names": ds.names, "hashes": ds.hashes, "source_sizes": ds.source_sizes,
                "formats": ds.formats, "skipped": ds.skipped, "csv_name": ds.csv_name}
        write_atomic(folder / f"{key}.json", json.dumps(meta))  # written last: it marks the entry complete
    except (OSError, WorkbenchError) as exc:  # a full disk loses the cache, not the run
        log.warning("could not cache decoded images: %s", exc)


def describe_skipped(ds: ImageDataset, name: str) -> str | None:
    text = ds.skipped_text()
    return f"{shown(name, 60)}: {text}" if text else None


__all__ = ["DecodeOptions", "ImageDataset", "CACHE_FOLDER", "DEFAULT_MAX_SIDE", "cache_key", "decode_all",
           "describe_skipped", "load_images", "target_size"]

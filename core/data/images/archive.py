"""A zip or a folder of class folders, listed safely: what is an image, of which class, and what is not.

Nothing is ever extracted to disk: entries are read into memory one at a time, so a name that
climbs out of the folder ('../../x', '/etc/x', 'C:\\x') cannot write anywhere. Such names are refused
all the same (Zip Slip: a zip that carries them was made to attack), and so are deflate bombs,
from the sizes the central directory declares (reading never goes past a declared size), before a
byte is inflated. Junk (__MACOSX/, .DS_Store, Thumbs.db, other files) is skipped and reported.

Layouts: `class/image.png`, `any/root/class/image.png` (one folder holding the class folders), and a
CSV beside the images with a path column and a label column.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from core.data.columns import shown
from core.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".webp", ".tif", ".tiff")
JUNK_NAMES = (".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r")
JUNK_FOLDERS = ("__macosx", ".git", ".svn", "@eadir", ".thumbnails", "$recycle.bin")
MAX_ENTRIES = 200_000
MAX_FILE_BYTES = 64 * 2**20  # one image file; a photo is a few MB
MAX_TOTAL_BYTES = 4 * 2**30  # everything the archive would inflate to
MAX_RATIO = 200  # deflate packs real images 1-3x, bitmaps maybe 20x; a bomb packs 1000x and more
RATIO_FLOOR = 2**20  # below this a high ratio is a blank image, harmless
MAX_CSV_BYTES = 32 * 2**20
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PATH_COLUMNS = ("path", "file", "filename", "file_name", "image", "img", "filepath")
LABEL_COLUMNS = ("label", "class", "target", "category", "y")


@dataclass(frozen=True)
class ImageEntry:
    name: str  # the path inside the zip or folder, '/'-separated
    label: str
    size: int  # bytes of the file (declared, for a zip)


@dataclass
class ImageListing:
    """The images of a zip or folder, their classes, and what was left out and why."""

    path: Path
    entries: list[ImageEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    csv_name: str | None = None  # the labels came from this CSV, not from folder names

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(e.label for e in self.entries).items()))

    @property
    def classes(self) -> list[str]:
        return list(self.counts)

    def skipped_text(self, limit: int = 6) -> str:
        """'3 files skipped: a.txt (not an image), ...' for a message; '' when nothing was skipped."""
        if not self.skipped:
            return ""
        shown_ = ", ".join(f"{shown(n, 60)} ({why})" for n, why in self.skipped[:limit])
        more = f" and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"{len(self.skipped)} file(s) skipped: {shown_}{more}"


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def looks_like_images(path: Path) -> bool:
    """A folder or a .zip: what resolve() hands to this module rather than the table reader. Other zips
    (an .xlsx workbook is one) go to the table reader, whose message says what the file is."""
    return path.is_dir() or path.suffix.lower() == ".zip"


def scan(path: str | Path, label: str | None = None) -> ImageListing:
    """List a zip or folder of class folders; DataError in words when it cannot be image data."""
    path = Path(path)
    name = label or path.name
    if path.is_dir():
        names = list(_folder_names(path))
        reader = None
    else:
        names, reader = _zip_names(path, name), path
    listing = _listing(path, name, names, reader)
    check_classes(listing, name)
    return listing


def check_classes(listing: ImageListing, name: str) -> None:
    """At least two classes, each with at least two images (one to learn from, one to test on)."""
    if not listing.entries:
        found = f" ({listing.skipped_text(3)})" if listing.skipped else ""
        raise DataError(f"'{shown(name, 80)}' holds no images{found}: put PNG, JPEG, BMP, GIF, WebP or TIFF "
                        "files in one folder per class.")
    counts = listing.counts
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(f"'{shown(name, 80)}' has one class only ('{shown(only, 40)}'): a classifier needs at "
                        "least two, so put the images in one folder per class (cats/, dogs/, ...).")
    single = [c for c, n in counts.items() if n < 2]
    if single:
        raise DataError(f"class '{shown(single[0], 40)}' of '{shown(name, 80)}' has only one image: each class "
                        "needs at least two (add images, or remove that folder).")


def read_entry(path: Path, entry_name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """One entry's bytes, from a folder or a zip, never more than `limit`."""
    if path.is_dir():
        target = path / entry_name
        with open(target, "rb") as fh:
            return fh.read(limit + 1)[:limit]
    with zipfile.ZipFile(path) as zf, zf.open(entry_name) as fh:
        return fh.read(limit)


class EntryReader:
    """Reads many entries with one open zip (opening it per entry re-reads the central directory)."""

    def __init__(self, path: Path):
        self.path = path
        self._zip = None if path.is_dir() else zipfile.ZipFile(path)

    def read(self, entry_name: str, limit: int = MAX_FILE_BYTES) -> bytes:
        if self._zip is None:
            with open(self.path / entry_name, "rb") as fh:
                return fh.read(limit)
        with self._zip.open(entry_name) as fh:  # ZipExtFile stops at the declared size, and checks the CRC
            return fh.read(limit)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "EntryReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- names -----------------------------------------------------------------------------------------
def _zip_names(path: Path, name: str) -> list[tuple[str, int]]:
    """(name, declared size) of every file in the zip, after the checks that refuse the whole zip."""
    if not is_zip(path):
        raise DataError(f"'{shown(name, 80)}' is not a zip file: give a .zip of class folders, or a folder.")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"'{shown(name, 80)}' is a damaged zip file ({shown(str(exc), 80)}): make it again.") from None
    if len(infos) > MAX_ENTRIES:
        raise DataError(f"'{shown(name, 80)}' holds {len(infos):,} entries, more than the {MAX_ENTRIES:,} "
                        "allowed: split it into smaller zips.")
    total = 0
    out: list[tuple[str, int]] = []
    for info in infos:
        raw = info.filename
        problem = _unsafe_name(raw)
        if problem:
            raise DataError(f"'{shown(name, 80)}' is refused: its entry '{shown(raw, 60)}' {problem}. "
                            "Nothing was unpacked.")
        if info.is_dir():
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(f"'{shown(name, 80)}' is refused: its entry '{shown(raw, 60)}' is a symbolic link, "
                            "which could point outside the folder. Nothing was unpacked.")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise DataError(f"'{shown(name, 80)}' is refused as a zip bomb: '{shown(raw, 60)}' would inflate "
                            f"{info.compress_size:,} bytes to {info.file_size:,}. Nothing was unpacked.")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise DataError(f"'{shown(name, 80)}' would unpack to more than {MAX_TOTAL_BYTES / 2**30:.0f} GB: "
                            "refused before unpacking; use fewer or smaller images.")
        out.append((raw, info.file_size))
    return out


def _unsafe_name(raw: str) -> str | None:
    """Why a name inside a zip must not be trusted, or None."""
    text = raw.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "has an absolute path"
    if any(part == ".." for part in text.split("/")):
        return "climbs out of the folder ('..')"
    if "\x00" in raw:
        return "has a NUL byte in its name"
    return None


def _folder_names(root: Path) -> Iterator[tuple[str, int]]:
    """Files under a folder, symbolic links never followed (they are reported, not read)."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            rel = full.relative_to(root).as_posix()
            count += 1
            if count > MAX_ENTRIES:
                raise DataError(f"the folder '{shown(root.name, 80)}' holds more than {MAX_ENTRIES:,} files: "
                                "split it into smaller folders.")
            try:
                st = full.lstat()
            except OSError:
                continue
            yield (rel, -1) if stat.S_ISLNK(st.st_mode) else (rel, st.st_size)


def _clean(text: str) -> str:
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


def _junk(parts: list[str]) -> str | None:
    lower = [p.lower() for p in parts]
    if any(p in JUNK_FOLDERS for p in lower[:-1]):
        return "system folder"
    leaf = lower[-1]
    if leaf in JUNK_NAMES or leaf.startswith("._"):
        return "system file"
    if leaf.startswith("."):
        return "hidden file"
    return None


# --- the listing --------------------------------------------------------------------------------------
def _listing(path: Path, name: str, names: list[tuple[str, int]], reader: Path | None) -> ImageListing:
    skipped: list[tuple[str, str]] = []
    images: list[tuple[list[str], int]] = []
    csvs: list[tuple[str, int]] = []
    for raw, size in names:
        parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue
        why = _junk(parts)
        if why:
            skipped.append((raw, why))
            continue
        if size < 0:
            skipped.append((raw, "symbolic link, not followed"))
            continue
        suffix = PurePosixPath(parts[-1]).suffix.lower()
        if suffix == ".csv":
            csvs.append((raw, size))
        elif suffix not in IMAGE_SUFFIXES:
            skipped.append((raw, "not an image"))
        elif size > MAX_FILE_BYTES:
            skipped.append((raw, f"larger than {MAX_FILE_BYTES // 2**20} MB"))
        elif size == 0:
            skipped.append((raw, "empty file"))
        else:
            images.append((parts, size))
    by_name = {"/".join(parts): (parts, size) for parts, size in images}
    if len(csvs) == 1 and csvs[0][1] <= MAX_CSV_BYTES:
        labelled = _from_csv(path, name, csvs[0][0], by_name, skipped)
        if labelled is not None:
            return ImageListing(path, labelled, skipped, csv_name=csvs[0][0])
    for raw, _ in csvs:
        skipped.append((raw, "not an image"))
    return ImageListing(path, _from_folders(images, skipped), skipped)


def _from_folders(images: list[tuple[list[str], int]], skipped: list[tuple[str, str]]) -> list[ImageEntry]:
    """The class of an image is the first folder below the common root of all images."""
    if not images:
        return []
    depth = 0
    while all(len(parts) > depth + 2 for parts, _ in images) and len({parts[depth] for parts, _ in images}) == 1:
        depth += 1  # one folder holds everything (dataset/cats/..., dataset/dogs/...): look inside it
    entries: list[ImageEntry] = []
    for parts, size in images:
        if len(parts) <= depth + 1:
            skipped.append(("/".join(parts), "not in a class folder"))
            continue
        label = _clean(parts[depth])
        if not label:
            skipped.append(("/".join(parts), "class folder without a name"))
            continue
        entries.append(ImageEntry("/".join(parts), label, size))
    return entries


def _from_csv(path: Path, name: str, csv_name: str, by_name: dict[str, tuple[list[str], int]],
              skipped: list[tuple[str, str]]) -> list[ImageEntry] | None:
    """Labels from a CSV of path + label; None when the CSV does not look like one (then folders count)."""
    try:
        text = read_entry(path, csv_name, MAX_CSV_BYTES).decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
    except (csv.Error, OSError, zipfile.BadZipFile) as exc:
        log.info("%s: cannot read %s (%s)", name, csv_name, exc)
        return None
    if len(rows) < 2 or len(rows[0]) < 2:
        return None
    header = [h.strip().lower() for h in rows[0]]
    path_col = next((i for i, h in enumerate(header) if h in PATH_COLUMNS), 0)
    label_col = next((i for i, h in enumerate(header) if h in LABEL_COLUMNS and i != path_col),
                     1 if path_col == 0 else 0)
    base = PurePosixPath(csv_name.replace("\\", "/")).parent
    entries: list[ImageEntry] = []
    listed: set[str] = set()
    for row in rows[1:]:
        if len(row) <= max(path_col, label_col):
            continue
        rel, label = row[path_col].strip().replace("\\", "/"), _clean(row[label_col])
        if _unsafe_name(rel):
            skipped.append((rel, "path in the CSV leaves the folder"))
            continue
        key = str(base / rel) if str(base) != "." else rel
        key = "/".join(p for p in key.split("/") if p not in ("", "."))
        if key not in by_name:
            skipped.append((rel, "listed in the CSV but not in the zip"))
            continue
        if not label:
            skipped.append((rel, "no label in the CSV"))
            continue
        listed.add(key)
        entries.append(ImageEntry(key, label, by_name[key][1]))
    if not entries:
        return None
    skipped.extend((n, "not listed in the CSV") for n in by_name if n not in listed)
    return entries


__all__ = ["ImageEntry", "ImageListing", "EntryReader", "IMAGE_SUFFIXES", "check_classes", "is_zip",
           "looks_like_images", "read_entry", "scan"]

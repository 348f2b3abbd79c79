"""Where datasets come from: the bundled samples, files on disk, and the user's uploads.

Each is found as a `DatasetRef` (core.data.ref): a name and a path, pinned by SHA-256, so a
run can record exactly which bytes it trained on and a reproduction can tell when the file changed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from core.data.columns import shown
from core.atomic import sha256_file as file_sha256
from core.atomic import write_atomic
from core.data.images.archive import looks_like_images, scan
from core.data.loading import SNIFF_BYTES, load_table, unsupported_reason
from core.data.memory import check_fits
from core.data.ref import DatasetRef
from core.errors import DataError

log = logging.getLogger(__name__)

_REPO_SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_DIR: Path = Path(os.environ.get("WORKBENCH_SAMPLES") or _REPO_SAMPLES)
CATALOG_FILE = "catalog.yaml"
UPLOADS = "uploads"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_MAX_NAME = 100
_sha_cache: dict[tuple[str, int, int], str] = {}
_catalog_cache: dict[tuple[str, int, int], dict] = {}  # read only: list_samples builds new refs
_image_cache: dict[tuple[str, int, int], tuple[str, str, str]] = {}  # (sha256, description, task) of a zip or folder
IMAGE_TARGET = "label"  # an image's class is its folder's name


def sample_dir() -> Path:
    """The samples folder; WORKBENCH_SAMPLES is read on each call so tests and tools can point elsewhere."""
    override = os.environ.get("WORKBENCH_SAMPLES")
    return Path(override) if override else SAMPLE_DIR


def cached_sha256(path: Path) -> str:
    """file_sha256, remembered per (path, mtime, size): listings re-hash only files that changed."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _sha_cache:
        _sha_cache[key] = file_sha256(path)
    return _sha_cache[key]


def _sample_catalog(path: Path) -> dict:
    """catalog.yaml parsed, remembered per (path, mtime, size): Home, Train and Tune list the samples
    at every rerun, and parsing the file was a third of the Home page's script time."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    raw = _catalog_cache.get(key)
    if raw is None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _catalog_cache.clear()  # one catalog in use at a time (tests point WORKBENCH_SAMPLES elsewhere)
        _catalog_cache[key] = raw
    return raw


def _sample_entries() -> tuple[Path, list]:
    """The samples folder and its catalog.yaml entries, unchecked (no file is read or hashed yet)."""
    folder = sample_dir()
    try:
        raw = _sample_catalog(folder / CATALOG_FILE)
    except (OSError, yaml.YAMLError) as exc:
        log.warning("no sample catalog at %s: %s", folder, exc)
        return folder, []
    return folder, list(raw.get("samples") or [])


def _sample_ref(folder: Path, entry: Any) -> DatasetRef | None:
    """One catalog entry as a ref (its file hashed, an image set listed), or None if it cannot be one."""
    try:
        path = folder / str(entry["file"])
        if entry.get("data_kind") == "image":
            return _image_ref(path, "sample", str(entry["name"]), str(entry.get("description") or ""))
        shape = entry.get("image_shape")
        return DatasetRef(
            name=str(entry["name"]), path=path, kind="sample", sha256=cached_sha256(path),
            target=entry.get("target"), task=entry.get("task"),
            image_shape=tuple(int(v) for v in shape) if shape else None,
            description=str(entry.get("description") or ""),
            sequence=dict(entry["sequence"]) if isinstance(entry.get("sequence"), dict) else None,
        )
    except (KeyError, TypeError, ValueError, OSError) as exc:
        log.warning("skipping sample entry %r: %s", entry, exc)
        return None


def _named_sample(text: str) -> DatasetRef | None:
    """The sample called `text` (any case), building that one ref only: hashing every sample and
    listing every image set cost each `workbench train` 0.2-0.5 s before it read a row."""
    folder, entries = _sample_entries()
    for entry in entries:
        if text and isinstance(entry, dict) and str(entry.get("name", "")).lower() == text.lower():
            ref = _sample_ref(folder, entry)
            if ref is not None:
                return ref
    return None


def list_samples() -> list[DatasetRef]:
    """The samples named in sample_data/catalog.yaml whose files exist, in catalog order."""
    folder, entries = _sample_entries()
    return [ref for ref in (_sample_ref(folder, entry) for entry in entries) if ref is not None]


def sample_sequence(source: str | None) -> dict[str, Any] | None:
    """The sequence settings a sample is read with (seattle_weather: its date column and a 14-day
    window), or None for a table sample or anything that is not a sample's name."""
    ref = _named_sample(str(source or "").strip())
    return dict(ref.sequence) if ref is not None and ref.sequence is not None else None


def resolve(source: str, workspace: Path | None = None) -> DatasetRef:
    """A sample name, a path to a CSV/Parquet file, or the name of a file in workspace/uploads."""
    text = str(source).strip()
    sample = _named_sample(text)
    if sample is not None:
        return sample
    path = Path(text).expanduser()
    if text and path.is_file():
        return _file_ref(path)
    if text and path.is_dir():
        return _image_ref(path)
    if text and workspace is not None:
        found = _find_upload(Path(workspace) / UPLOADS, text)
        if found is not None:
            return _file_ref(found)
    names = ", ".join(str(e.get("name")) for e in _sample_entries()[1][:4] if isinstance(e, dict)) or "iris"
    raise DataError(f"No dataset named '{shown(text, 80)}': give a sample name ({names}, ...), "
                    "a path to a CSV or Parquet file, or a zip or folder of class folders of images")


def safe_filename(filename: str) -> str:
    """The basename only, in safe characters: '../../evil.csv' -> 'evil.csv', never a path."""
    base = re.split(r"[\\/]", str(filename))[-1]  # a browser on Windows may send C:\...\x.csv
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")  # no hidden files, no '..'
    stem, dot, suffix = base.rpartition(".")
    if dot and stem and len(suffix) <= 10:
        stem, suffix = stem[: _MAX_NAME - len(suffix) - 1].rstrip("._-"), "." + suffix.lower()
        base = f"{stem}{suffix}" if stem else ""
    else:
        base = base[:_MAX_NAME]
    return base or "upload.csv"


class Catalog:
    """The datasets one workspace can see: samples plus the files uploaded into it."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace)

    @property
    def uploads_dir(self) -> Path:
        return self.workspace / UPLOADS

    def samples(self) -> list[DatasetRef]:
        return list_samples()

    def uploads(self) -> list[DatasetRef]:
        """Uploaded files, newest first; half-written temp files (dot-names) are skipped."""
        if not self.uploads_dir.is_dir():
            return []
        files = [p for p in self.uploads_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
        files.sort(key=lambda p: (-p.stat().st_mtime_ns, p.name))
        return [_file_ref(p) for p in files]

    def all(self) -> list[DatasetRef]:
        return self.samples() + self.uploads()

    def resolve(self, source: str) -> DatasetRef:
        return resolve(source, self.workspace)

    def add_upload(self, filename: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> DatasetRef:
        """Store an uploaded file as uploads/<sha256[:12]>_<safe name>, if it loads as a table."""
        name = safe_filename(filename)
        if len(data) > max_bytes:
            raise DataError(f"'{name}' is {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB "
                            "upload limit: upload a smaller file, or a sample of its rows.")
        if not data:
            raise DataError(f"'{name}' is empty: export the data again with a header row and at least one row.")
        if name.endswith(".zip"):
            return self._add_image_zip(name, data)
        # Refuse what cannot be a table before anything is written: compressed files, images...
        problem = unsupported_reason(name, data[:SNIFF_BYTES])
        if problem is not None:
            raise DataError(problem)
        sha = hashlib.sha256(data).hexdigest()
        dest = write_atomic(self.uploads_dir / f"{sha[:12]}_{name}", data)
        try:
            load_table(dest, label=name)
        except DataError:
            dest.unlink(missing_ok=True)  # never leave a file the app cannot read in the list
            raise
        log.info("stored upload %s (%d bytes)", dest.name, len(data))
        return DatasetRef(name=dest.name, path=dest.resolve(), kind="file", sha256=sha,
                          description=f"uploaded as {name}")

    def _add_image_zip(self, name: str, data: bytes) -> DatasetRef:
        """A zip of class folders: listed (every safety check of core.data.images.archive) before it is kept."""
        sha = hashlib.sha256(data).hexdigest()
        dest = write_atomic(self.uploads_dir / f"{sha[:12]}_{name}", data)
        try:
            ref = _image_ref(dest)
        except DataError:
            dest.unlink(missing_ok=True)  # never leave a file the app cannot read in the list
            raise
        log.info("stored image upload %s (%d bytes)", dest.name, len(data))
        return ref


def _find_upload(folder: Path, text: str) -> Path | None:
    """By stored name ('3f2a..._sales.csv'), else the newest upload of that original name."""
    if not folder.is_dir() or Path(text).name != text or text.startswith("."):
        return None  # only plain names: a name with separators must not reach outside uploads/
    exact = folder / text
    if exact.is_file():
        return exact
    wanted = safe_filename(text)
    matches = [p for p in folder.iterdir() if p.is_file() and p.name.partition("_")[2] == wanted]
    return max(matches, key=lambda p: p.stat().st_mtime_ns) if matches else None


def _file_ref(path: Path) -> DatasetRef:
    path = path.resolve()
    if looks_like_images(path):
        return _image_ref(path)
    size = path.stat().st_size
    check_fits(path.name, size, size)  # a file larger than the memory budget: refused before minutes of hashing
    original = path.name.partition("_")[2] if path.parent.name == UPLOADS else ""
    return DatasetRef(name=path.name, path=path, kind="file", sha256=cached_sha256(path),
                      description=f"uploaded as {original}" if original else "")


def _image_ref(path: Path, kind: str = "file", name: str | None = None, description: str = "") -> DatasetRef:
    """A zip or folder of class folders, listed (and so checked) once per version of it."""
    path = path.resolve()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _image_cache or path.is_dir():  # a folder's own mtime misses changes in its class folders
        listing = scan(path, name or path.name)
        sha = cached_sha256(path) if path.is_file() else _folder_sha256(path, [e.name for e in listing.entries])
        counts = listing.counts
        words = f"{len(listing.entries):,} images in {len(counts)} classes"
        _image_cache[key] = (sha, words, "binary" if len(counts) == 2 else "multiclass")
    sha, words, task = _image_cache[key]
    if not description:
        original = path.name.partition("_")[2] if path.parent.name == UPLOADS else ""
        description = f"uploaded as {original}" if original else words  # as a table's: the label reads it
    return DatasetRef(name=name or path.name, path=path, kind=kind, sha256=sha, target=IMAGE_TARGET, task=task,
                      description=description, data_kind="image")


def _folder_sha256(root: Path, names: list[str]) -> str:
    """A folder's content hash: its images' names and contents (each file's hash is remembered)."""
    digest = hashlib.sha256()
    for rel in sorted(names):
        digest.update(rel.encode("utf-8", "surrogatepass") + b"\0" + cached_sha256(root / rel).encode() + b"\n")
    return digest.hexdigest()


__all__ = ["SAMPLE_DIR", "DatasetRef", "Catalog", "file_sha256", "list_samples", "resolve", "safe_filename",
           "sample_sequence"]

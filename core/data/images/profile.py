"""What the Data page shows about a set of images: how many per class, their sizes and shapes,
samples of each class, and the same picture found twice (within a class, or across classes)."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from core.data.images.dataset import ImageDataset
from core.data.images.prepare import duplicates_across_classes


@dataclass
class ImageProfile:
    n_images: int
    counts: dict[str, int]  # class -> images, in class order
    shape: tuple[int, int, int]  # what every image was decoded to: (channels, height, width)
    widths: list[int]  # of the files as stored
    heights: list[int]
    formats: dict[str, int]
    skipped: list[tuple[str, str]]
    duplicate_groups: int  # groups of two or more identical files
    duplicate_files: int  # files beyond the first of each group (what removing them would save)
    across_classes: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def aspects(self) -> list[float]:
        return [w / h for w, h in zip(self.widths, self.heights)]

    @property
    def imbalance(self) -> float:
        """Largest class over smallest: 1 is balanced."""
        sizes = list(self.counts.values())
        return max(sizes) / max(min(sizes), 1) if sizes else 1.0


def profile_images(ds: ImageDataset, classes: list[str] | None = None) -> ImageProfile:
    counts = Counter(ds.labels)
    order = classes or sorted(counts)
    groups: dict[str, int] = defaultdict(int)
    for h in ds.hashes:
        groups[h] += 1
    repeated = [n for n in groups.values() if n > 1]
    return ImageProfile(
        n_images=len(ds.labels), counts={c: counts[c] for c in order if c in counts}, shape=ds.shape,
        widths=[w for w, _ in ds.source_sizes], heights=[h for _, h in ds.source_sizes],
        formats=dict(Counter(ds.formats).most_common()), skipped=list(ds.skipped),
        duplicate_groups=len(repeated), duplicate_files=sum(n - 1 for n in repeated),
        across_classes=duplicates_across_classes(ds))


def samples_per_class(ds: ImageDataset, per_class: int = 6, seed: int = 0) -> dict[str, list[int]]:
    """Seeded picks of image indices per class, for the sample grid."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(ds.labels):
        by_class[label].append(i)
    return {c: sorted(rng.choice(rows, size=min(per_class, len(rows)), replace=False).tolist())
            for c, rows in sorted(by_class.items())}


def as_picture(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W) grey or (H, W, 3) RGB, as st.image and plotly take it."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


__all__ = ["ImageProfile", "as_picture", "profile_images", "samples_per_class"]

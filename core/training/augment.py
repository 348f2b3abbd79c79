"""Image augmentation on the training device: each batch changed at random, seeded, no host work.

One affine warp per image does the crop (a random zoom and shift), the horizontal flip and the
rotation together (affine_grid + grid_sample), then colour jitter (brightness, contrast,
saturation) and cutout (a square blanked out) follow as elementwise arithmetic. Every random
number comes from torch's default generator on the batch's device, which `Trainer.fit` seeds
with the run's seed, and no shape depends on the data: the transform can be captured in the
train step's CUDA graph (`graph_safe`; not yet run on a GPU here).

Input: a batch of raw pixels (n, C, H, W), uint8 or float in 0..255; output: float in 0..255,
which the model's first layer (core.models.images.Pixels) scales as it scales real pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from core.vocab import AUGMENTATIONS

# name -> (default strength when switched on, low, high, words)
LIMITS: dict[str, tuple[float, float, float, str]] = {
    "crop": (0.15, 0.0, 0.5, "zooms in by up to this share of the side and shifts as far"),
    "flip": (1.0, 0.0, 1.0, "mirrors half of the images left to right (1 = on)"),
    "rotation": (15.0, 0.0, 180.0, "turns each image by up to this many degrees either way"),
    "color": (0.2, 0.0, 1.0, "changes brightness, contrast and saturation by up to this share"),
    "cutout": (0.25, 0.0, 0.75, "blanks a square of up to this share of the side"),
}


@dataclass(frozen=True)
class AugmentSpec:
    crop: float = 0.0
    flip: bool = False
    rotation: float = 0.0
    color: float = 0.0
    cutout: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.crop or self.flip or self.rotation or self.color or self.cutout)

    def describe(self) -> str:
        parts = [f"crop {self.crop:g}" if self.crop else "", "flip" if self.flip else "",
                 f"rotation ±{self.rotation:g}°" if self.rotation else "", f"colour {self.color:g}" if self.color else "",
                 f"cutout {self.cutout:g}" if self.cutout else ""]
        return ", ".join(p for p in parts if p) or "none"


def resolve_augment(raw: Mapping[str, Any] | None) -> AugmentSpec:
    """A TrainConfig.augment mapping ({'flip': true, 'rotation': 10}) checked and coerced."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"unknown augmentation(s): {', '.join(unknown)} (choose from {', '.join(AUGMENTATIONS)})")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        default, low, high, _ = LIMITS[name]
        if isinstance(value, bool) or value is None:
            number = default if value else 0.0
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"augmentation {name} takes a number from {low:g} to {high:g}, got {value!r}") from None
        if not (low <= number <= high) or not math.isfinite(number):
            raise ConfigError(f"augmentation {name} must be from {low:g} to {high:g}, got {number:g}")
        values[name] = bool(number) if name == "flip" else number
    return AugmentSpec(**values)


class Augment:
    """The batch transform for Trainer(batch_transform=...)."""

    graph_safe = True

    def __init__(self, spec: AugmentSpec):
        self.spec = spec

    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        s = self.spec
        x = xb.float()
        n = x.shape[0]
        if s.crop or s.flip or s.rotation:
            x = self._warp(x, n)
        if s.color:
            x = self._jitter(x, n)
        if s.cutout:
            x = self._cutout(x, n)
        return x

    def _uniform(self, n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low

    def _warp(self, x: torch.Tensor, n: int) -> torch.Tensor:
        s = self.spec
        angle = self._uniform(n, -s.rotation, s.rotation, x) * (math.pi / 180.0)
        zoom = self._uniform(n, 1.0 - s.crop, 1.0, x)  # < 1 samples a smaller window: zooms in
        room = (1.0 - zoom) + s.crop  # shift within what the zoom left, plus a little past the edge
        tx = (torch.rand(n, device=x.device) * 2 - 1) * room
        ty = (torch.rand(n, device=x.device) * 2 - 1) * room
        sign = torch.where(torch.rand(n, device=x.device) < 0.5, -1.0, 1.0) if s.flip else torch.ones(n, device=x.device)
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor, n: int) -> torch.Tensor:
        j = self.spec.color
        shape = (n, 1, 1, 1)
        bright = self._uniform(n, 1 - j, 1 + j, x).reshape(shape)
        contrast = self._uniform(n, 1 - j, 1 + j, x).reshape(shape)
        x = x * bright
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
        if x.shape[1] == 3:
            sat = self._uniform(n, 1 - j, 1 + j, x).reshape(shape)
            grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
            x = (x - grey) * sat + grey
        return x.clamp(0.0, 255.0)

    def _cutout(self, x: torch.Tensor, n: int) -> torch.Tensor:
        _, _, h, w = x.shape
        half = self._uniform(n, 0.0, self.spec.cutout, x).reshape(n, 1, 1) * (min(h, w) / 2)
        cy = (torch.rand(n, device=x.device) * h).reshape(n, 1, 1)
        cx = (torch.rand(n, device=x.device) * w).reshape(n, 1, 1)
        ys = torch.arange(h, device=x.device, dtype=x.dtype).reshape(1, h, 1) + 0.5
        xs = torch.arange(w, device=x.device, dtype=x.dtype).reshape(1, 1, w) + 0.5
        hole = ((ys - cy).abs() < half) & ((xs - cx).abs() < half)  # (n, H, W)
        fill = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(hole[:, None], fill, x)


def make_augment(raw: Mapping[str, Any] | None) -> Augment | None:
    """The transform a run trains with, or None when no augmentation is asked for."""
    spec = resolve_augment(raw)
    return Augment(spec) if spec.active else None


def preview(images: np.ndarray, raw: Mapping[str, Any] | None, copies: int = 4, seed: int = 0) -> np.ndarray:
    """(n, copies, C, H, W) uint8: each image as `copies` random training batches could show it."""
    spec = resolve_augment(raw)
    x = torch.as_tensor(np.ascontiguousarray(images))
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        batch = x.repeat_interleave(copies, dim=0)
        out = Augment(spec)(batch) if spec.active else batch.float()
    arr = out.round().clamp(0, 255).to(torch.uint8).numpy()
    return arr.reshape(len(images), copies, *arr.shape[1:])


__all__ = ["AugmentSpec", "Augment", "LIMITS", "make_augment", "preview", "resolve_augment"]

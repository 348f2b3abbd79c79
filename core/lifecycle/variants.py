"""A run's optimised variants: each in runs/<run>/variants/<id>/ as its weights and a variant.json.

variant.json is written last, so a folder without one is an unfinished variant and is not listed.
It holds what the trade-off table shows: how the variant was made, its test metrics, its size on
disk and its CPU latency. The weights are safetensors (torch variants, core.lifecycle.tensors) or
ONNX, never pickle.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.atomic import write_atomic
from core.numbers import finite_or_none
from core.vocab import metric_direction, metric_label

VARIANTS_DIR = "variants"
RECORD = "variant.json"
RUNTIMES = ("torch", "onnxruntime")


@dataclass
class Variant:
    id: str  # "fp32", "prune-global-50", "int8-dynamic", "prune-global-50+int8", "onnx-int8-static", ...
    label: str  # in words: "50% pruned (global), 3 fine-tune epochs"
    runtime: str  # RUNTIMES
    precision: str  # "fp32" | "int8"
    file: str  # the weights, relative to the variant's folder ("" for the run's own model)
    method: str = "none"  # none | global | structured
    sparsity: float = 0.0  # share of zero weights in the Linear/Conv layers
    finetune_epochs: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # on the run's test rows
    primary: str = "accuracy"
    size_bytes: int = 0
    baseline_bytes: int = 0  # the float32 file of the same format: the run's model, or its plain ONNX
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # batch_1/batch_256 -> p50_ms, p99_ms
    params: dict[str, Any] = field(default_factory=dict)  # the model's parameters (smaller after structured)
    notes: list[str] = field(default_factory=list)
    created_at: float = 0.0

    @property
    def size_ratio(self) -> float | None:
        return self.size_bytes / self.baseline_bytes if self.baseline_bytes else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "size_ratio": self.size_ratio}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Variant":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def variants_dir(run_dir: Path) -> Path:
    return run_dir / VARIANTS_DIR


def variant_dir(run_dir: Path, variant_id: str) -> Path:
    return variants_dir(run_dir) / variant_id


def start_variant(run_dir: Path, variant_id: str) -> Path:
    """A fresh folder for a variant (an older one of the same id is replaced)."""
    folder = variant_dir(run_dir, variant_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def save_variant(run_dir: Path, variant: Variant) -> Variant:
    write_atomic(variant_dir(run_dir, variant.id) / RECORD, json.dumps(variant.to_dict(), indent=1))
    return variant


def list_variants(run_dir: Path) -> list[Variant]:
    """The run's finished variants: the float32 baseline first, then as they were made."""
    out = []
    folder = variants_dir(run_dir)
    for record in sorted(folder.glob(f"*/{RECORD}")) if folder.is_dir() else []:
        try:
            out.append(Variant.from_dict(json.loads(record.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # a damaged record is left out, not fatal
    return sorted(out, key=lambda v: (v.id != "fp32", v.runtime, v.created_at))


def delta(variant: Variant, baseline: Variant | None) -> float | None:
    """The variant's primary test metric minus the float32 model's (negative: worse for a score)."""
    if baseline is None:
        return None
    a, b = variant.metrics.get(variant.primary), baseline.metrics.get(variant.primary)
    return None if a is None or b is None else float(a) - float(b)


def tradeoff_table(variants: list[Variant]) -> pd.DataFrame:
    """One row per variant: how it was made, what it scores, its size and its latency."""
    baseline = next((v for v in variants if v.id == "fp32"), None)
    rows = []
    for v in variants:
        b1, b256 = v.latency.get("batch_1", {}), v.latency.get("batch_256", {})
        rows.append({
            "variant": v.label, "id": v.id, "runtime": v.runtime, "precision": v.precision,
            "sparsity": v.sparsity, "finetune_epochs": v.finetune_epochs,
            v.primary: finite_or_none(v.metrics.get(v.primary)), "change": delta(v, baseline),
            "size_kb": v.size_bytes / 1024, "size_ratio": v.size_ratio,
            "b1_p50_ms": b1.get("p50_ms"), "b1_p99_ms": b1.get("p99_ms"),
            "b256_p50_ms": b256.get("p50_ms"), "b256_p99_ms": b256.get("p99_ms"),
        })
    return pd.DataFrame(rows)


def within(variant: Variant, baseline: Variant, tolerance: float) -> bool:
    """Whether the variant's primary metric is no more than `tolerance` worse than the baseline's."""
    d = delta(variant, baseline)
    if d is None:
        return False
    return d >= -tolerance if metric_direction(variant.primary) == "max" else d <= tolerance


def sparsity_points(variants: list[Variant]) -> pd.DataFrame:
    """Primary metric against sparsity: the float32 model at 0, then each pruned float32 variant."""
    rows = []
    for v in variants:
        if v.precision != "fp32" or v.runtime != "torch":
            continue
        methods = ["global", "structured"] if v.id == "fp32" else [v.method]
        for method in methods:
            rows.append({"method": method, "sparsity": v.sparsity, "metric": v.metrics.get(v.primary),
                         "label": v.label, "finetune_epochs": v.finetune_epochs})
    return pd.DataFrame(rows, columns=["method", "sparsity", "metric", "label", "finetune_epochs"]) \
        .sort_values(["method", "sparsity"]).reset_index(drop=True)


def sparsity_figure(variants: list[Variant]):
    """The accuracy-vs-sparsity chart: one line per pruning method, from the unpruned model."""
    import plotly.graph_objects as go

    points = sparsity_points(variants)
    primary = variants[0].primary if variants else "accuracy"
    fig = go.Figure()
    for method, colour in (("global", "#1f77b4"), ("structured", "#ff7f0e")):
        part = points[points.method == method]
        if len(part) < 2:
            continue  # the unpruned point alone says nothing about this method
        # plain lists: the browser's figure then holds numbers, not base64 typed arrays
        fig.add_trace(go.Scatter(x=(part.sparsity * 100).round(2).tolist(), y=part.metric.tolist(),
                                 mode="lines+markers", name=method, line={"color": colour}, text=part.label.tolist(),
                                 hovertemplate="%{text}<br>%{y:.4f}<extra></extra>"))
    fig.update_layout(xaxis_title="weights set to zero (%)", yaxis_title=f"test {metric_label(primary)}",
                      height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="pruning")
    return fig


__all__ = ["RECORD", "RUNTIMES", "Variant", "delta", "list_variants", "save_variant", "sparsity_figure",
           "sparsity_points", "start_variant", "tradeoff_table", "variant_dir", "variants_dir", "within"]

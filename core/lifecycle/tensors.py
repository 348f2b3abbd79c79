"""Optimised weights in safetensors, never pickle: sparse tensors and int8 tensors with their scales.

A safetensors file holds named plain tensors and a str -> str header. Two encodings sit on top:

    bitmask   a tensor with many zeros (pruned) as its non-zero values and one bit per element
              (`name::values`, `name::mask`): half the bytes at 50% sparsity, an eighth of them gone
              at 90%
    int8      a quantised tensor as its int8 values, one float32 scale per output channel and the
              zero points if any is not 0 (`name::int8`, `name::scale`, `name::zero_point`); the int8
              values may themselves be stored as a bitmask

The header's "workbench" entry says how each name is stored, so `load_tensors` rebuilds them all.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from core.atomic import write_atomic
from core.errors import WorkbenchError

HEADER_KEY = "workbench"
SPARSE_FROM = 0.3  # a share of zeros from which the bitmask is smaller than the dense tensor


def _bitmask(t: torch.Tensor, name: str, out: dict[str, torch.Tensor]) -> dict[str, Any]:
    flat = t.reshape(-1)
    keep = flat != 0
    out[f"{name}::values"] = flat[keep].contiguous()
    out[f"{name}::mask"] = torch.from_numpy(np.packbits(keep.numpy().astype(np.uint8)))
    return {"encoding": "bitmask", "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}


def _plain_or_sparse(t: torch.Tensor, name: str, out: dict[str, torch.Tensor]) -> dict[str, Any]:
    t = t.detach().cpu().contiguous()
    if t.dim() >= 2 and t.numel() >= 64 and float((t == 0).float().mean()) >= SPARSE_FROM:
        return _bitmask(t, name, out)
    out[name] = t
    return {"encoding": "dense"}


def encode(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Plain tensors for safetensors and the layout of each name (quantised tensors as int8 + scales)."""
    out: dict[str, torch.Tensor] = {}
    layout: dict[str, Any] = {}
    for name, t in state.items():
        if t.is_quantized:
            if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                scale, zero = t.q_per_channel_scales(), t.q_per_channel_zero_points()
                axis = int(t.q_per_channel_axis())
            else:
                scale, zero, axis = torch.tensor([t.q_scale()]), torch.tensor([t.q_zero_point()]), None
            inner = _plain_or_sparse(t.int_repr(), f"{name}::int8", out)
            out[f"{name}::scale"] = scale.to(torch.float32).contiguous()
            if bool((zero != 0).any()):
                out[f"{name}::zero_point"] = zero.to(torch.int32).contiguous()
            layout[name] = {"encoding": "int8", "axis": axis, "values": inner}
        else:
            layout[name] = _plain_or_sparse(t, name, out)
    return out, layout


def save_tensors(path: str | Path, state: dict[str, torch.Tensor], meta: dict[str, Any] | None = None) -> Path:
    tensors, layout = encode(state)
    header = {HEADER_KEY: json.dumps({"layout": layout, "meta": meta or {}})}
    return write_atomic(path, save_bytes(tensors, metadata=header))


def _decode_plain(name: str, spec: dict[str, Any], raw: dict[str, torch.Tensor]) -> torch.Tensor:
    if spec["encoding"] == "dense":
        return raw[name]
    if spec["encoding"] != "bitmask":
        raise WorkbenchError(f"unknown tensor encoding {spec['encoding']!r}")
    shape = tuple(spec["shape"])
    n = int(np.prod(shape)) if shape else 1
    keep = torch.from_numpy(np.unpackbits(raw[f"{name}::mask"].numpy(), count=n).astype(bool))
    values = raw[f"{name}::values"]
    flat = torch.zeros(n, dtype=values.dtype)
    flat[keep] = values
    return flat.reshape(shape)


def decode(raw: dict[str, torch.Tensor], layout: dict[str, Any]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, spec in layout.items():
        if spec["encoding"] != "int8":
            out[name] = _decode_plain(name, spec, raw)
            continue
        ints = _decode_plain(f"{name}::int8", spec["values"], raw)
        scale = raw[f"{name}::scale"].to(torch.float64)
        zero = raw.get(f"{name}::zero_point", torch.zeros(len(scale), dtype=torch.int32)).to(torch.int64)
        if spec["axis"] is None:
            out[name] = torch._make_per_tensor_quantized_tensor(ints, float(scale[0]), int(zero[0]))
        else:
            out[name] = torch._make_per_channel_quantized_tensor(ints, scale, zero, int(spec["axis"]))
    return out


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state saved by save_tensors, and its meta. safetensors parses a header and raw bytes: a
    pickle in the file's place is refused, never run."""
    data = Path(path).read_bytes()
    try:
        raw = load_bytes(data)
        with_header = json.loads(_header(data).get(HEADER_KEY, "{}"))
        return decode(raw, with_header["layout"]), with_header.get("meta", {})
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged or foreign: one line
        raise WorkbenchError(f"{Path(path).name} is damaged or not a Workbench weights file "
                             f"({type(exc).__name__}): optimise the run again") from None


def _header(data: bytes) -> dict[str, str]:
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]).get("__metadata__", {})


__all__ = ["save_tensors", "load_tensors", "encode", "decode"]

"""A run's resume checkpoint: the trainer's whole state (core.training.resume) in its run folder.

Tensors go to resume.safetensors, everything else to resume.json, which names each tensor where it
was and is written last with the tensor file's sha256: a checkpoint is the pair, or nothing. Never
pickle. The kept weights alone stay in checkpoint.safetensors, as a warm start reads them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as safetensors_load, save as safetensors_bytes

from core.atomic import sha256_file, write_atomic

TENSORS, META = "resume.safetensors", "resume.json"


def save(run_dir: Path, state: dict[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    write_atomic(run_dir / TENSORS, safetensors_bytes({k: v.contiguous() for k, v in tensors.items()}))
    write_atomic(run_dir / META, json.dumps({"sha256": sha256_file(run_dir / TENSORS), "state": skeleton}))


def exists(run_dir: Path) -> bool:
    return (run_dir / META).is_file() and (run_dir / TENSORS).is_file()


def load(run_dir: Path) -> dict[str, Any] | None:
    """The saved state, or None where there is none or its two files do not belong together."""
    if not exists(run_dir):
        return None
    meta = json.loads((run_dir / META).read_text())
    if meta.get("sha256") != sha256_file(run_dir / TENSORS):
        return None  # the tensors of another save than the JSON's: a save cut short between the two
    tensors = safetensors_load((run_dir / TENSORS).read_bytes())
    return _unflatten(meta["state"], tensors)


def discard(run_dir: Path) -> None:
    for name in (META, TENSORS):
        (run_dir / name).unlink(missing_ok=True)


def _flatten(value: Any, tensors: dict[str, torch.Tensor], path: str = "s") -> Any:
    if torch.is_tensor(value):
        tensors[path] = value.detach().cpu()
        return {"__tensor__": path}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _flatten(v, tensors, f"{path}.{k}") for k, v in value.items()}}
        # an optimiser's state is keyed by parameter number
        items = list(value.items())
        return {"__items__": [[k, _flatten(v, tensors, f"{path}.{i}")] for i, (k, v) in enumerate(items)]}
    if isinstance(value, (list, tuple)):
        return {"__list__": [_flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(value)],
                "tuple": isinstance(value, tuple)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot keep a {type(value).__name__} in a checkpoint")


def _unflatten(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__dict__" in value:
        return {k: _unflatten(v, tensors) for k, v in value["__dict__"].items()}
    if "__items__" in value:
        return {k: _unflatten(v, tensors) for k, v in value["__items__"]}
    if "__list__" in value:
        items = [_unflatten(v, tensors) for v in value["__list__"]]
        return tuple(items) if value.get("tuple") else items
    raise ValueError("not a checkpoint's JSON")

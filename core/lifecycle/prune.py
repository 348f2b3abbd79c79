"""Magnitude pruning with torch.nn.utils.prune: global (single weights) or structured (whole neurons).

    global      the smallest |w| over every Linear and Conv weight of the model are set to zero, as
                one pool, until `sparsity` of those weights are zero
    structured  in every hidden Linear or Conv layer (not the output layer), the `sparsity` share of
                its neurons or channels with the smallest L2 norm is removed whole: its weights, its
                bias and the scale and shift of the norm after it, so it outputs exactly zero. An MLP
                then shrinks for real (hidden_sizes smaller, `shrink_mlp`); other models keep the
                zeroed channels, which the bitmask storage makes small on disk but not faster

Fine-tuning keeps the masks (prune's forward hooks multiply them in at every step); `make_permanent`
bakes them into the weights afterwards.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.utils.prune as tprune
from torch import nn

from core.errors import ConfigError
from core.models import build_model

PRUNE_METHODS = ("global", "structured")
_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def check_sparsity(sparsity: float) -> float:
    if not 0.0 < float(sparsity) < 1.0:
        raise ConfigError(f"sparsity is the share of weights set to zero, between 0 and 1 (0.5 = half); "
                          f"got {sparsity!r}")
    return float(sparsity)


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _PRUNABLE)]


def _weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Every weight matrix magnitude pruning may zero: Linear/Conv weights, and a recurrent layer's
    input and hidden weights (weight_ih_l0, weight_hh_l0, ...)."""
    found: list[tuple[nn.Module, str]] = [(m, "weight") for _, m in prunable_layers(model)]
    for _, module in model.named_modules():
        if isinstance(module, nn.RNNBase):
            found += [(module, name) for name, _ in module.named_parameters(recurse=False) if name.startswith("weight_")]
    return found


def prune_global(model: nn.Module, sparsity: float) -> None:
    weights = _weights(model)
    if not weights:
        raise ConfigError("this model has no Linear, Conv or recurrent layers to prune")
    tprune.global_unstructured(weights, pruning_method=tprune.L1Unstructured, amount=check_sparsity(sparsity))


def prune_structured(model: nn.Module, sparsity: float) -> list[int]:
    """Zero whole neurons/channels in each hidden layer; returns how many each hidden layer keeps."""
    sparsity = check_sparsity(sparsity)
    modules = list(model.named_modules())
    layers = [i for i, (_, m) in enumerate(modules) if isinstance(m, _PRUNABLE)]
    if len(layers) < 2:
        raise ConfigError("structured pruning removes hidden neurons, and this model has no hidden layer: "
                          "use global pruning")
    if any(isinstance(m, nn.RNNBase) for _, m in modules):
        raise ConfigError("structured pruning covers Linear and Conv layers; a recurrent layer's units feed "
                          "each other: use global pruning")
    kept: list[int] = []
    for i in layers[:-1]:  # the output layer keeps every output
        layer = modules[i][1]
        units = layer.weight.shape[0]
        norms = layer.weight.detach().reshape(units, -1).norm(dim=1)
        n_keep = max(1, units - int(round(sparsity * units)))
        keep = torch.zeros(units, dtype=torch.bool)
        keep[norms.argsort(descending=True)[:n_keep]] = True
        _mask_units(layer, keep)
        following = modules[i + 1][1] if i + 1 < len(modules) else None
        if isinstance(following, _NORMS):
            _mask_units(following, keep)
        kept.append(n_keep)
    return kept


def _mask_units(module: nn.Module, keep: torch.Tensor) -> None:
    for name in ("weight", "bias"):
        param = getattr(module, name, None)
        if param is None:
            continue
        shape = (-1,) + (1,) * (param.dim() - 1)
        tprune.custom_from_mask(module, name, keep.reshape(shape).expand_as(param).to(param.dtype))


def make_permanent(model: nn.Module) -> nn.Module:
    for _, module in model.named_modules():
        if not tprune.is_pruned(module):
            continue
        for name in [n.removesuffix("_orig") for n, _ in module.named_parameters(recurse=False) if n.endswith("_orig")]:
            tprune.remove(module, name)
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        for m in model.modules():
            if isinstance(m, nn.RNNBase):
                m.flatten_parameters()  # its weights were re-registered: cuDNN's flat copy follows them
    return model


def sparsity_of(model: nn.Module) -> float:
    """The share of zeros among the weights pruning covers."""
    weights = [getattr(m, name).detach() for m, name in _weights(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total) if total else 0.0


def shrink_mlp(model: nn.Sequential, params: dict[str, Any]) -> tuple[nn.Sequential, dict[str, Any]] | None:
    """A structurally pruned MLP rebuilt without its zeroed neurons: the same outputs from a smaller
    network. None when the model is not a plain chain of Linear layers (norms, activations, dropout)."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if not all(isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.Dropout))
               for m in model) or len(linears) < 2:
        return None
    keeps = [(lin.weight.detach().abs().sum(dim=1) != 0) | (_bias_nonzero(lin)) for lin in linears[:-1]]
    keeps = [k if bool(k.any()) else _first_only(k) for k in keeps]
    new_params = {**params, "hidden_sizes": [int(k.sum()) for k in keeps]}
    small = build_model("mlp", new_params, linears[0].in_features, linears[-1].out_features)
    old_layers, new_layers = list(model), list(small)
    if len(old_layers) != len(new_layers):
        return None
    rows: torch.Tensor | None = None  # the kept inputs of the next Linear
    k = 0
    with torch.no_grad():
        for old, new in zip(old_layers, new_layers):
            if isinstance(old, nn.Linear):
                out_keep = keeps[k] if k < len(keeps) else torch.ones(old.out_features, dtype=torch.bool)
                w = old.weight[out_keep]
                new.weight.copy_(w[:, rows] if rows is not None else w)
                if old.bias is not None:
                    new.bias.copy_(old.bias[out_keep])
                rows, k = out_keep, k + 1
            elif isinstance(old, nn.BatchNorm1d):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(new, name).copy_(getattr(old, name)[rows])
                new.num_batches_tracked.copy_(old.num_batches_tracked)
    return small.eval(), new_params


def _bias_nonzero(lin: nn.Linear) -> torch.Tensor:
    if lin.bias is None:
        return torch.zeros(lin.out_features, dtype=torch.bool)
    return lin.bias.detach() != 0


def _first_only(keep: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(keep)
    out[0] = True
    return out


__all__ = ["PRUNE_METHODS", "check_sparsity", "make_permanent", "prune_global", "prune_structured", "prunable_layers",
           "shrink_mlp", "sparsity_of"]

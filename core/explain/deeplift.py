"""Batched DeepLIFT-SHAP (rescale rule) over the model zoo's own layers.

shap.DeepExplainer computes the same numbers for ReLU-style nets, but with one
forward/backward pass per explained row and per output, each on the row tiled
against the whole background. Here the rows and the references go forward once
each (they never need to be paired in the forward pass), and the multipliers of
every (output, row, reference) triple travel backward together as one tensor:
a handful of batched matrix products in all. The rules are shap's, so the
values match shap.DeepExplainer's (and are exactly additive):

* Linear, Conv2d, BatchNorm (eval: affine), global average pooling, the pixel scaling of
  image models (core.models.images.Pixels), Dropout (eval: identity), Flatten, Unflatten:
  the multiplier is the layer's own (transposed) linear map;
* elementwise activations: (f(x) - f(r)) / (x - r), or f'(r) where x ~ r;
* MaxPool2d: shap's rule, the output difference split between the positions
  that are the maximum for the row and for the reference.

A model with any other layer is not "supported": the caller falls back to
shap.DeepExplainer.
"""
from __future__ import annotations

import contextlib
import logging
import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_input

from core.models.images import Pixels

log = logging.getLogger(__name__)

_LINEAR = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d, Pixels)
_RESHAPE = (nn.Flatten, nn.Unflatten, nn.Dropout, nn.Identity)
_ELEMENTWISE = (nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.Softplus)
_EPS_NONLINEAR = 1e-6  # shap's nonlinear_1d threshold
_EPS_MAXPOOL = 1e-7  # shap's maxpool threshold
DEFAULT_MAX_ELEMENTS = 1 << 25  # floats in the largest multiplier tensor: 128 MiB, ~4x that at peak
DENSE_LIMIT = 1 << 24  # a run of linear layers becomes one matrix up to this many entries (64 MiB)

Progress = Callable[[float, str], None]


def supports(model: nn.Module) -> bool:
    """Whether every layer of this Sequential has a rule here."""
    if not isinstance(model, nn.Sequential) or len(model) == 0:
        return False
    for layer in model:
        if isinstance(layer, nn.MaxPool2d):
            if layer.dilation not in (1, (1, 1)) or layer.ceil_mode or layer.return_indices:
                return False
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                return False
        elif isinstance(layer, nn.Unflatten):
            if layer.dim != 1:
                return False
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if layer.training or layer.running_mean is None:
                return False
        elif isinstance(layer, nn.AdaptiveAvgPool2d):
            if layer.output_size not in (1, (1, 1)):
                return False
        elif not isinstance(layer, _LINEAR + _RESHAPE + _ELEMENTWISE):
            return False
    return not model.training


def deeplift_shap(model: nn.Sequential, x: torch.Tensor, background: torch.Tensor, *,
                  max_elements: int = DEFAULT_MAX_ELEMENTS,
                  progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values (n, d, K) of every output for the flat rows `x` (n, d), and the base values (K,).

    The base value of output k is its mean over the background; for every row,
    base + sum of the row's values = the model's output, up to float rounding.
    Rows are processed in chunks so the largest multiplier tensor stays under
    `max_elements` floats.
    """
    if not supports(model):
        raise ValueError("the model has a layer without a batched DeepLIFT rule")
    device = next((p.device for p in model.parameters()), x.device)
    x = x.to(device=device, dtype=torch.float32)
    ref = background.to(device=device, dtype=torch.float32)
    with torch.no_grad(), _full_precision():
        stages = _stages(list(model), ref[:1])
        ref_acts = _forward(stages, ref)
        for stage, r_in in zip(stages, ref_acts):
            stage.prepare(r_in)  # what depends on the references alone is worked out once for all chunks
        base = ref_acts[-1].mean(0)
        n_out = ref_acts[-1].shape[1]
        widest = max(a.shape[1] for a in ref_acts)
        chunk = max(1, min(len(x), max_elements // max(n_out * len(ref) * widest, 1)))
        phis = []
        for start in range(0, len(x), chunk):
            xc = x[start:start + chunk]
            phis.append(_attribute(stages, _forward(stages, xc), ref_acts, n_out))
            if progress is not None:
                progress(min(1.0, (start + len(xc)) / len(x)), "DeepLIFT-SHAP")
    values = torch.cat(phis, dim=1) if phis else torch.zeros((n_out, 0, x.shape[1]), device=device)
    return values.permute(1, 2, 0).float().cpu().numpy(), base.float().cpu().numpy()


@contextlib.contextmanager
def _full_precision() -> Iterator[None]:
    """TF32 off while we work: its ~1e-3 relative error would show in the additivity check."""
    saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]


class _Stage:
    """Layers that go forward together and share one backward rule. Activations are kept flat (n, F)."""

    def __init__(self, layers: list[nn.Module], in_shape: tuple[int, ...]):
        self.layers, self.in_shape = layers, in_shape

    def prepare(self, r_in: torch.Tensor) -> None:
        """Precompute what depends on the references' input only."""

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        out = flat.reshape(len(flat), *self.in_shape)
        for layer in self.layers:
            out = layer(out)
        return out.reshape(len(flat), -1)


class _Affine(_Stage):
    """A run of linear layers, folded into one dense Jacobian when it is small enough."""

    def __init__(self, layers: list[nn.Module], in_shape: tuple[int, ...]):
        super().__init__(layers, in_shape)
        device = next((p.device for layer in layers for p in layer.parameters()), torch.device("cpu"))
        self.shapes = [in_shape]  # each layer's input shape, then the run's output shape
        act = torch.zeros(1, *in_shape, device=device)
        for layer in layers:
            act = layer(act)
            self.shapes.append(tuple(act.shape[1:]))
        n_in, n_out = math.prod(in_shape), math.prod(self.shapes[-1])
        self.jacobian: torch.Tensor | None = None
        if n_in * n_out <= DENSE_LIMIT:
            basis = torch.eye(n_in, device=device)
            zero = torch.zeros(1, n_in, device=device)
            self.jacobian = (self.forward(basis) - self.forward(zero)).T.contiguous()  # (n_out, n_in)

    def backward(self, mult: torch.Tensor) -> torch.Tensor:
        if self.jacobian is not None:
            return mult @ self.jacobian
        for i in range(len(self.layers) - 1, -1, -1):
            mult = _layer_backward(self.layers[i], mult, self.shapes[i], self.shapes[i + 1])
        return mult


class _Elementwise(_Stage):
    def prepare(self, r_in: torch.Tensor) -> None:
        with torch.enable_grad():
            r = r_in.detach().requires_grad_(True)
            self.local = torch.autograd.grad(self.forward(r).sum(), r)[0]  # f'(r), elementwise

    def backward(self, mult: torch.Tensor, x_in: torch.Tensor, x_out: torch.Tensor, r_in: torch.Tensor,
                 r_out: torch.Tensor) -> torch.Tensor:
        """The secant slope (f(x) - f(r)) / (x - r), or the reference's own gradient where x ~ r."""
        d_in = x_in[:, None] - r_in[None]
        d_out = x_out[:, None] - r_out[None]
        close = d_in.abs() < _EPS_NONLINEAR
        ratio = torch.where(close, self.local[None].expand_as(d_in), d_out / torch.where(close, 1.0, d_in))
        return mult * ratio[None]


class _MaxPool(_Stage):
    def prepare(self, r_in: torch.Tensor) -> None:
        self.r_pos = self._argmax(r_in)

    def backward(self, mult: torch.Tensor, x_in: torch.Tensor, x_out: torch.Tensor, r_in: torch.Tensor,
                 r_out: torch.Tensor) -> torch.Tensor:
        """shap's maxpool rule. Where the row's max y_x >= the reference's y_r, y_x - y_r goes to the row's
        max position, else to the reference's (shap's max(y_x, y_r) split, one of its halves being 0)."""
        x_pos, r_pos = self._argmax(x_in), self.r_pos  # flat input positions (n, F_out)
        pos = torch.where(x_out[:, None] >= r_out[None], x_pos[:, None], r_pos[None])  # (m, b, F_out)
        m, b = len(x_in), len(r_in)
        d_in = x_in[:, None].expand(m, b, -1).gather(2, pos) - r_in[None].expand(m, b, -1).gather(2, pos)
        close = d_in.abs() < _EPS_MAXPOOL
        coef = torch.where(close, 0.0, (x_out[:, None] - r_out[None]) / torch.where(close, 1.0, d_in))
        n_out = mult.shape[0]
        out = torch.zeros(n_out, m, b, x_in.shape[1], device=mult.device, dtype=mult.dtype)
        # Summing first and dividing after (shap) equals dividing each part by the same input delta.
        return out.scatter_add_(3, pos[None].expand(n_out, m, b, -1), (mult * coef[None]).expand(n_out, m, b, -1))

    def _argmax(self, flat: torch.Tensor) -> torch.Tensor:
        layer = self.layers[0]
        assert isinstance(layer, nn.MaxPool2d)
        c, h, w = self.in_shape
        _, idx = F.max_pool2d(flat.reshape(len(flat), c, h, w), layer.kernel_size, layer.stride, layer.padding,
                              return_indices=True)
        offsets = torch.arange(c, device=flat.device).reshape(1, c, 1, 1) * (h * w)
        return (idx + offsets).reshape(len(flat), -1)


def _stages(layers: list[nn.Module], probe: torch.Tensor) -> list[_Stage]:
    """Split the Sequential at its nonlinearities; fold each run of linear layers into one stage."""
    stages: list[_Stage] = []
    run: list[nn.Module] = []
    shape, run_shape = tuple(probe.shape[1:]), tuple(probe.shape[1:])
    act = probe
    for layer in layers:
        if isinstance(layer, _LINEAR + _RESHAPE):
            run.append(layer)
        else:
            if run:
                stages.append(_Affine(run, run_shape))
                run = []
            stages.append((_MaxPool if isinstance(layer, nn.MaxPool2d) else _Elementwise)([layer], shape))
        act = layer(act)
        shape = tuple(act.shape[1:])
        if not run:
            run_shape = shape
    if run:
        stages.append(_Affine(run, run_shape))
    return stages


def _forward(stages: list[_Stage], x: torch.Tensor) -> list[torch.Tensor]:
    acts = [x.reshape(len(x), -1)]
    for stage in stages:
        acts.append(stage.forward(acts[-1]))
    return acts


def _attribute(stages: list[_Stage], xs: list[torch.Tensor], rs: list[torch.Tensor], n_out: int) -> torch.Tensor:
    """(K, m, d) values for one chunk of m rows, from their activations and the references'."""
    m, b = xs[0].shape[0], rs[0].shape[0]
    # mult[k, i, j, f]: d output_k / d activation_f, for row i against reference j (DeepLIFT's multipliers).
    # The row and reference axes stay size 1 until the first nonlinearity makes them real.
    mult = torch.eye(n_out, device=xs[0].device, dtype=xs[0].dtype).reshape(n_out, 1, 1, n_out)
    for i in range(len(stages) - 1, -1, -1):
        stage = stages[i]
        if isinstance(stage, _Affine):
            mult = stage.backward(mult)
        else:
            assert isinstance(stage, (_Elementwise, _MaxPool))
            mult = stage.backward(mult, xs[i], xs[i + 1], rs[i], rs[i + 1])
    delta = xs[0][:, None] - rs[0][None]  # (m, b, d)
    return torch.einsum("kmbd,mbd->kmd", mult.expand(n_out, m, b, -1), delta) / b


def _layer_backward(layer: nn.Module, mult: torch.Tensor, in_shape: tuple[int, ...],
                    out_shape: tuple[int, ...]) -> torch.Tensor:
    """One linear layer's transposed map on flat multipliers, for runs too big for a dense Jacobian."""
    if isinstance(layer, nn.Linear):
        assert len(in_shape) == 1, "Linear on a flat input"
        return mult @ layer.weight
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        assert layer.running_var is not None  # supports() checked: eval mode with running statistics
        scale = layer.running_var.add(layer.eps).rsqrt()
        if layer.weight is not None:
            scale = scale * layer.weight
        return mult * scale.repeat_interleave(math.prod(out_shape[1:]))
    if isinstance(layer, nn.Conv2d):
        lead = mult.shape[:3]
        grad = conv2d_input((math.prod(lead), *in_shape), layer.weight,
                                          mult.reshape(-1, *out_shape), layer.stride, layer.padding,
                                          layer.dilation, layer.groups)
        return grad.reshape(*lead, -1)
    if isinstance(layer, Pixels):
        return mult * layer.scale  # x * scale + shift, value by value
    if isinstance(layer, nn.AdaptiveAvgPool2d):  # global average: each position gets 1/(H W) of its channel's
        c, h, w = in_shape
        return (mult / (h * w)).repeat_interleave(h * w, dim=-1)
    return mult  # Flatten, Unflatten, Dropout, Identity: the identity on flat multipliers


__all__ = ["supports", "deeplift_shap", "DEFAULT_MAX_ELEMENTS"]

"""PyTorch front of the equihls custom ops (torch is needed by this module only).

`scalar_products` computes the Gram matrix of each event's vectors under a diagonal ±1 metric.
In eager mode it is ordinary differentiable torch code; the legacy TorchScript ONNX exporter
writes it as a single `equihls::ScalarProducts` node, which `export` then makes runnable by ONNX
Runtime by attaching the model-local function from `equihls.onnx_ops`.

Typical use (four-momenta [E, px, py, pz] in GeV, products in GeV^2):

    from equihls.torch_ops import scalar_products, export
    g = scalar_products(p)                       # p: [B, N, 4] -> g: [B, N, N]
    export(model, (p,), "model.onnx", input_names=["x"], output_names=["y"])
"""
from __future__ import annotations

import warnings
from typing import Sequence

import onnx
import torch

from .onnx_ops import DOMAIN, DOMAIN_VERSION, SCALAR_PRODUCTS, attach_functions

MINKOWSKI = (1, -1, -1, -1)


def _check_metric(metric, d=None) -> tuple:
    m = tuple(int(v) for v in metric)
    if not m or any(v not in (1, -1) for v in m):
        raise ValueError(f"scalar_products: metric must list +1/-1 per component, got {list(metric)}")
    if d is not None and len(m) != d:
        raise ValueError(f"scalar_products: metric {list(m)} has {len(m)} entries but x has {d} components")
    return m


def _gram(x: torch.Tensor, metric: tuple) -> torch.Tensor:
    eta = torch.tensor(metric, dtype=x.dtype, device=x.device)
    return torch.matmul(x * eta, x.transpose(-1, -2))


class _ScalarProducts(torch.autograd.Function):
    """Gram matrix under diag(metric); exported as one equihls::ScalarProducts node."""

    @staticmethod
    def forward(ctx, x, metric):
        ctx.metric = metric
        ctx.save_for_backward(x)
        if torch.jit.is_tracing():  # the metric is a constant by design: silence the TracerWarning
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                return _gram(x, metric)
        return _gram(x, metric)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        eta = torch.tensor(ctx.metric, dtype=x.dtype, device=x.device)
        # y_ij = sum_d eta_d x_id x_jd  =>  dL/dx_kd = eta_d * sum_j (G_kj + G_jk) x_jd
        gx = torch.matmul(grad + grad.transpose(-1, -2), x) * eta
        return gx, None

    @staticmethod
    def symbolic(g, x, metric):
        y = g.op(f"{DOMAIN}::{SCALAR_PRODUCTS}", x, metric_i=list(metric))
        try:  # output type [B, N, N], same element type as x
            xt = x.type()
            sizes = xt.varyingSizes()
            if sizes is not None and len(sizes) == 3:
                y.setType(xt.with_sizes([sizes[0], sizes[1], sizes[1]]))
            else:
                y.setType(xt)
        except Exception:  # shape unknown to the tracer: ONNX shape inference fills it in
            pass
        return y


def scalar_products(x: torch.Tensor, metric: Sequence[int] = MINKOWSKI) -> torch.Tensor:
    """Pairwise scalar products of the vectors of each event under a diagonal ±1 metric.

    Args:
        x: tensor [B, N, D]: B events, N vectors per event, D components per vector (for
           four-momenta D = 4, order [E, px, py, pz], e.g. in GeV).
        metric: D integers, each +1 or -1: the diagonal of the metric (default Minkowski
           (1, -1, -1, -1); use (1,)*D for Euclidean dot products).

    Returns:
        tensor [B, N, N], y[b,i,j] = sum_d metric[d] x[b,i,d] x[b,j,d] (unit: square of the unit
        of x, e.g. GeV^2). Differentiable. Exported by the TorchScript ONNX exporter
        (dynamo=False) as one `equihls::ScalarProducts` node with attribute `metric`; use
        `equihls.torch_ops.export` so that the file also carries the op's definition.
    """
    if x.dim() != 3:
        raise ValueError(f"scalar_products: x must be [B, N, D], got shape {list(x.shape)}")
    # under tracing the shape is fixed anyway; equihls checks len(metric) == D when compiling
    m = _check_metric(metric, None if torch.jit.is_tracing() else x.shape[-1])
    return _ScalarProducts.apply(x, m)


def export(model: torch.nn.Module, args, path: str, **kwargs) -> onnx.ModelProto:
    """Export `model` to ONNX at `path` with equihls ops kept as `equihls::ScalarProducts` nodes.

    Calls `torch.onnx.export(model, args, path, dynamo=False, opset_version=17,
    custom_opsets={"equihls": 1}, **kwargs)` (kwargs may override opset_version and add to
    custom_opsets; e.g. input_names, output_names, dynamic_axes={'x': {0: 'batch'}}), then
    loads the file, attaches the ScalarProducts function (`equihls.onnx_ops.attach_functions`)
    so that ONNX Runtime can run it, runs the ONNX checker and saves it back to `path`.

    Args:
        model: the torch module (inputs/outputs in the model's own units).
        args: example inputs (tuple of tensors, e.g. one [B, N, D] tensor).
        path: output .onnx file.

    Returns:
        the saved ModelProto.
    """
    opset = kwargs.pop("opset_version", 17)
    custom = {DOMAIN: DOMAIN_VERSION, **kwargs.pop("custom_opsets", {})}
    if kwargs.pop("dynamo", False):
        raise ValueError("equihls.torch_ops.export uses the TorchScript exporter (dynamo=False); "
                         "the dynamo exporter does not call the symbolic of equihls ops")
    with warnings.catch_warnings():  # the TorchScript exporter is used on purpose: no deprecation noise
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, path, dynamo=False, opset_version=opset, custom_opsets=custom, **kwargs)
    m = attach_functions(onnx.load(path))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m

"""PyTorch front of the equihls custom ops (torch is needed by this module only).

`scalar_products` computes the Gram matrix of each event's vectors under a diagonal ±1 metric;
`tensor_product` applies a constant bilinear coupling (e.g. a Clebsch-Gordan tensor) to two
feature vectors. In eager mode they are ordinary differentiable torch code; the legacy
TorchScript ONNX exporter writes each call as a single `equihls::ScalarProducts` /
`equihls::TensorProduct` node, which `export` then makes runnable by ONNX Runtime by attaching
the model-local functions from `equihls.onnx_ops`.

Typical use (four-momenta [E, px, py, pz] in GeV, products in GeV^2):

    from equihls.torch_ops import scalar_products, export
    g = scalar_products(p)                       # p: [B, N, 4] -> g: [B, N, N]
    export(model, (p,), "model.onnx", input_names=["x"], output_names=["y"])
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import onnx
import torch

from .onnx_ops import DOMAIN, DOMAIN_VERSION, SCALAR_PRODUCTS, TENSOR_PRODUCT, attach_functions

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


class _TensorProduct(torch.autograd.Function):
    """out[..., k] = sum_ij C[i,j,k] a[..., i] b[..., j]; exported as one equihls::TensorProduct node.

    C travels as a float32 numpy array (not a tensor argument) so that the exporter sees it as a
    constant and the symbolic can write it as the node's `cg` attribute."""

    @staticmethod
    def forward(ctx, a, b, cg, irreps):
        with warnings.catch_warnings():  # C is a constant by design: silence the TracerWarning
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            c = torch.from_numpy(cg).to(dtype=a.dtype, device=a.device)
        ctx.save_for_backward(a, b, c)
        return torch.einsum("...i,...j,ijk->...k", a, b, c)

    @staticmethod
    def backward(ctx, grad):
        a, b, c = ctx.saved_tensors
        ga = torch.einsum("...j,...k,ijk->...i", b, grad, c) if ctx.needs_input_grad[0] else None
        gb = torch.einsum("...i,...k,ijk->...j", a, grad, c) if ctx.needs_input_grad[1] else None
        return ga, gb, None, None

    @staticmethod
    def symbolic(g, a, b, cg, irreps):
        named = {f"{k}_s": v for k, v in zip(("irreps_in1", "irreps_in2", "irreps_out"), irreps) if v}
        y = g.op(f"{DOMAIN}::{TENSOR_PRODUCT}", a, b, cg_t=torch.from_numpy(cg), **named)
        try:  # output type [..., Dk], same element type as a
            at = a.type()
            sizes = at.varyingSizes()
            if sizes is not None and len(sizes) >= 1:
                y.setType(at.with_sizes(list(sizes[:-1]) + [int(cg.shape[2])]))
        except Exception:  # shape unknown to the tracer: ONNX shape inference fills it in
            pass
        return y


def tensor_product(a: torch.Tensor, b: torch.Tensor, cg, irreps_in1: str = "", irreps_in2: str = "",
                   irreps_out: str = "") -> torch.Tensor:
    """Constant bilinear coupling of two feature vectors (e.g. a Clebsch-Gordan tensor product).

    Args:
        a: tensor [..., Da] (e.g. [B, N, 3] vectors of N particles).
        b: tensor [..., Db] with the same leading axes as a.
        cg: constant coefficients [Da, Db, Dk] (torch tensor or numpy array; not trained).
        irreps_in1, irreps_in2, irreps_out: representations of a, b and the output, e3nn-style
            O(3) irreps ("1x1o", "2x0e+1x1o") or a real Lorentz form ("(1/2,1/2)", ...); "" means
            undeclared. Only recorded in the export; equihls checks that cg intertwines them.

    Returns:
        tensor [..., Dk], out[..., k] = sum_ij cg[i,j,k] a[..., i] b[..., j] (unit: unit of a
        times unit of b times unit of cg). Differentiable in a and b. Exported by the TorchScript
        ONNX exporter (dynamo=False) as one `equihls::TensorProduct` node; use
        `equihls.torch_ops.export` so that the file also carries the op's definition.
    """
    if torch.compiler.is_compiling():   # torch.export (dynamo=True): plain torch, recognised as Bilinear
        c = cg if isinstance(cg, torch.Tensor) else torch.from_numpy(np.asarray(cg, dtype=np.float32))
        return torch.einsum("...i,...j,ijk->...k", a, b, c.to(dtype=a.dtype))
    with warnings.catch_warnings():  # C is a constant by design: silence the TracerWarning
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        c = cg.detach().cpu().numpy() if isinstance(cg, torch.Tensor) else np.asarray(cg)
    c = np.ascontiguousarray(c, dtype=np.float32)
    if c.ndim != 3:
        raise ValueError(f"tensor_product: cg must be [Da, Db, Dk], got shape {list(c.shape)}")
    if torch.jit.is_tracing():  # shapes are fixed by the trace; equihls checks them when compiling
        pass
    elif a.shape[-1] != c.shape[0] or b.shape[-1] != c.shape[1]:
        raise ValueError(f"tensor_product: a [..., {a.shape[-1]}] and b [..., {b.shape[-1]}] do not match "
                         f"cg {list(c.shape)}")
    elif a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f"tensor_product: a {list(a.shape)} and b {list(b.shape)} must share their leading axes")
    return _TensorProduct.apply(a, b, c, (str(irreps_in1), str(irreps_in2), str(irreps_out)))


def export(model: torch.nn.Module, args, path: str, **kwargs) -> onnx.ModelProto:
    """Export `model` to ONNX at `path` with equihls ops kept as `equihls::ScalarProducts` /
    `equihls::TensorProduct` nodes.

    Calls `torch.onnx.export(model, args, path, dynamo=False, opset_version=17,
    custom_opsets={"equihls": 1}, **kwargs)` (kwargs may override opset_version and add to
    custom_opsets; e.g. input_names, output_names, dynamic_axes={'x': {0: 'batch'}}), then
    loads the file, attaches the functions of the equihls ops it uses (`equihls.onnx_ops.attach_functions`)
    so that ONNX Runtime can run it, runs the ONNX checker and saves it back to `path`.

    With `dynamo=True` (torch's default exporter) the equihls ops are exported as the torch code
    of their forward (a MatMul under the metric, an Einsum with the constant coupling), which
    `equihls compile` recognises as the same ScalarProducts / Bilinear blocks; the file then has
    no custom domain. kwargs go to `torch.onnx.export(..., dynamo=True)` unchanged (e.g.
    dynamic_shapes, external_data); opset_version defaults to the exporter's.

    Args:
        model: the torch module (inputs/outputs in the model's own units).
        args: example inputs (tuple of tensors, e.g. one [B, N, D] tensor).
        path: output .onnx file.

    Returns:
        the saved ModelProto.
    """
    if kwargs.pop("dynamo", False):
        if "custom_opsets" in kwargs:
            raise ValueError("equihls.torch_ops.export(dynamo=True) writes no custom domain: drop custom_opsets")
        torch.onnx.export(model, args, path, dynamo=True, **kwargs)
        m = onnx.load(path)
        onnx.checker.check_model(m)
        return m
    opset = kwargs.pop("opset_version", 17)
    custom = {DOMAIN: DOMAIN_VERSION, **kwargs.pop("custom_opsets", {})}
    with warnings.catch_warnings():  # the TorchScript exporter is used on purpose: no deprecation noise
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, path, dynamo=False, opset_version=opset, custom_opsets=custom, **kwargs)
    m = attach_functions(onnx.load(path))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m

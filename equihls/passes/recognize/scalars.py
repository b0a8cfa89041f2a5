"""Recognition passes: rewrite standard-op subgraphs into equihls ops.

Scalar products (Gram matrix under a diagonal ±1 metric) are recognised in the forms exporters
write them:
  Einsum("bid,d,bjd->bij", x, eta, x) and Einsum("bid,bjd->bij", Mul(x, eta), x)
  MatMul(Mul(x, eta), Transpose(x, perm=[0,2,1]))
  ReduceSum(Mul(Mul(Unsqueeze(x, 2), eta), Unsqueeze(x, 1)), axes=[-1])
and as explicit equihls::ScalarProducts nodes. A candidate is rewritten only if both operands are
the same tensor and the metric is a constant diagonal of ±1; otherwise it is left alone (and the
compile refuses it later, naming the node).
"""
from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir.graph import DOMAIN
from ..common import const, eq_node, int_list, norm_axes, producer_op
from ...ir.supports import Supports, supports


def _last_axis_vector(c, d):
    """c as a length-d vector if it only varies along the last axis (or is a scalar), else None."""
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        return np.full(d, float(c.reshape(-1)[0]))
    if c.shape and c.shape[-1] == d and c.size == d:
        return c.reshape(d)
    return None


def metric_operand(g, t, d):
    """Split t into (base tensor, per-component factor vector of length d).

    Recognises t = Mul(x, c), Mul(c, x) with c varying only along the last axis, and
    t = MatMul(x, C) with C a constant diagonal matrix; anything else is (t, ones).
    """
    mul = producer_op(g, t, "Mul")
    if mul is not None:
        for a, b in (mul.inputs, mul.inputs[::-1]):
            c = const(g, b)
            if c is not None and const(g, a) is None:
                v = _last_axis_vector(c, d)
                if v is not None:
                    base, m = metric_operand(g, a, d)
                    return base, m * v
    mm = producer_op(g, t, "MatMul")
    if mm is not None:
        c = const(g, mm.inputs[1])
        if c is not None and c.shape == (d, d) and np.count_nonzero(c - np.diag(np.diag(c))) == 0:
            base, m = metric_operand(g, mm.inputs[0], d)
            return base, m * np.diag(c)
    return t, np.ones(d)


def _valid_metric(m):
    return m is not None and np.all(np.isin(m, (-1.0, 1.0)))


def _make(g, node, x, metric, out=None):
    """Replace `node` by ScalarProducts(x) writing node's output."""
    sp = eq_node("ScalarProducts", node.name, [x], [out or node.outputs[0]], metric=tuple(int(v) for v in metric))
    g.replace(node, [sp])
    return True


def _pair(g, a, b, d, extra=None):
    """(x, metric) if a and b are the same tensor up to diagonal ±1 factors, else None."""
    xa, ma = metric_operand(g, a, d)
    xb, mb = metric_operand(g, b, d)
    # (1, N, D) only: a first axis that merged the batch (e3nn's reshape(-1, mul, d)) is not one event's N
    if xa != xb or const(g, xa) is not None or len(g.shapes[xa]) != 3 or g.shapes[xa][0] != 1:
        return None
    m = ma * mb * (extra if extra is not None else 1.0)
    return (xa, m) if _valid_metric(m) else None


def _match_einsum(g, node):
    eq = node.attrs.get("equation", "").replace(" ", "")
    if "->" not in eq or "." in eq:
        return None
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != len(node.inputs):
        return None
    run = [(t, x) for t, x in zip(terms, node.inputs) if len(t) == 3]
    met = [(t, x) for t, x in zip(terms, node.inputs) if len(t) == 1]
    if len(run) != 2 or len(run) + len(met) != len(terms) or len(met) > 1:
        return None
    (t0, x0), (t1, x1) = run
    b, i, dd = t0
    if t1[0] != b or t1[2] != dd or t1[1] in (b, i, dd) or i in (b, dd):
        return None
    j = t1[1]
    if out not in (b + i + j, b + j + i):
        return None
    d = g.shapes[x0][-1]
    extra = None
    if met:
        tm, xm = met[0]
        c = const(g, xm)
        if tm != dd or c is None or c.size != d:
            return None
        extra = c.reshape(d)
    return _pair(g, x0, x1, d, extra)


def _match_matmul(g, node):
    a, bt = node.inputs
    tr = producer_op(g, bt, "Transpose")
    if tr is None or len(g.shapes.get(a, ())) != 3:
        return None
    if list(tr.attrs.get("perm", [])) != [0, 2, 1]:
        return None
    return _pair(g, a, tr.inputs[0], g.shapes[a][-1])


def _mul_leaves(g, t, leaves):
    mul = producer_op(g, t, "Mul")
    if mul is None:
        leaves.append(t)
        return
    for i in mul.inputs:
        _mul_leaves(g, i, leaves)


def _match_reducesum(g, node):
    x_in = node.inputs[0]
    shp = g.shapes[x_in]
    axes = int_list(g, node, "axes", 1)
    if not isinstance(axes, list) or len(shp) != 4 or norm_axes(axes, 4) != [3]:
        return None
    d = shp[3]
    leaves = []
    _mul_leaves(g, x_in, leaves)
    factor = np.ones(d)
    sides = {}
    for leaf in leaves:
        c = const(g, leaf)
        if c is not None:
            v = _last_axis_vector(c, d)
            if v is None:
                return None
            factor = factor * v
            continue
        uq = producer_op(g, leaf, "Unsqueeze")
        if uq is None:
            return None
        ax = int_list(g, uq, "axes", 1)
        if not isinstance(ax, list) or len(ax) != 1:
            return None
        a = ax[0] % 4
        if a not in (1, 2) or a in sides:
            return None
        sides[a] = uq.inputs[0]
    if set(sides) != {1, 2}:
        return None
    hit = _pair(g, sides[1], sides[2], d, factor)
    if hit is None:
        return None
    keep = node.attrs.get("keepdims", 1)
    return hit, keep


@supports(
    Supports(("Einsum",), "`Einsum(\"bid,d,bjd->bij\", x, η, x)`, `Einsum(\"bid,bjd->bij\", x·η, x)`",
             "ScalarProducts",
             "η constant diagonal ±1 (or none = Euclidean); both operands the same tensor"),
    Supports(("MatMul", "Transpose"), "`MatMul(x·η, Transpose(x, [0,2,1]))` (also `MatMul(x, diag(η))`)",
             "ScalarProducts",
             "same checks"),
    Supports(("ReduceSum", "Unsqueeze", "Mul"), "`ReduceSum(Unsqueeze(x,2)·η·Unsqueeze(x,1), axes=[-1])`",
             "ScalarProducts",
             "any order of the Mul tree; keepdims"),
    Supports(("equihls::ScalarProducts",), "`equihls::ScalarProducts(x, metric=[…])`", "ScalarProducts",
             "custom node with a FunctionProto body, emitted by `equihls.ops.torch_ops`"))
def recognize_scalar_products(g) -> bool:
    """Rewrite every recognised Gram-matrix form into an equihls ScalarProducts node."""
    changed = False
    for node in list(g.nodes):
        if node.domain == DOMAIN and node.op == "ScalarProducts":
            m = node.attrs.get("metric")
            if m is None or not _valid_metric(np.asarray(m, dtype=float)) or len(m) != g.shapes[node.inputs[0]][-1]:
                raise ModelError(f"ScalarProducts '{node.name}': attribute metric={m} must list ±1 for each of the "
                                 f"{g.shapes[node.inputs[0]][-1]} components")
            continue
        if node.domain != "":
            continue
        if node.op == "Einsum":
            hit = _match_einsum(g, node)
            if hit:
                changed |= _make(g, node, *hit)
        elif node.op == "MatMul" and const(g, node.inputs[1]) is None:
            hit = _match_matmul(g, node)
            if hit:
                changed |= _make(g, node, *hit)
        elif node.op == "ReduceSum":
            hit = _match_reducesum(g, node)
            if hit:
                (x, metric), keep = hit
                if keep:
                    # keepdims: the Gram matrix gets a trailing axis of 1 (same memory layout)
                    tmp = g.fresh(node.outputs[0] + "_gram")
                    n = g.shapes[x][1]
                    g.shapes[tmp] = (1, n, n)
                    out = node.outputs[0]
                    route = eq_node("Route", g.fresh(node.name + "_keepdims"), [tmp], [out], src=np.arange(n * n))
                    _make(g, node, x, metric, out=tmp)
                    g.nodes.insert(g.nodes.index(g.producer(tmp)) + 1, route)
                else:
                    _make(g, node, x, metric)
                changed = True
    return changed


def _is_one(c):
    return c is not None and np.all(np.asarray(c) == 1.0)


@supports(Supports(("Mul", "Sign", "Log", "Add", "Abs"), "`Mul(Sign(g), Log(Add(Abs(g), 1)))`", "LUT psi",
                  "ψ(x)=sgn(x)·log(1+\\|x\\|), log-indexed table, error computed exactly"))
def recognize_psi(g) -> bool:
    """Rewrite Mul(Sign(g), Log(Add(Abs(g), 1))) (any operand order) into LUT(func='psi')."""
    changed = False
    for node in list(g.nodes):
        if node.domain != "" or node.op != "Mul":
            continue
        for s, l in (node.inputs, node.inputs[::-1]):
            sign, log = producer_op(g, s, "Sign"), producer_op(g, l, "Log")
            if sign is None or log is None:
                continue
            add = producer_op(g, log.inputs[0], "Add")
            if add is None:
                continue
            for a, one in (add.inputs, add.inputs[::-1]):
                ab = producer_op(g, a, "Abs")
                c = const(g, one)
                if ab is not None and _is_one(c) and ab.inputs[0] == sign.inputs[0] and \
                        np.broadcast_shapes(np.shape(c), g.shapes[a]) == g.shapes[a]:
                    g.replace(node, [eq_node("LUT", node.name, [sign.inputs[0]], node.outputs, func="psi")])
                    changed = True
                    break
            if changed and g.producer(node.outputs[0]).op == "LUT":
                break
    return changed

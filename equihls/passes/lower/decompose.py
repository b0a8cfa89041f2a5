"""Decomposition of composite standard ops into ops that are lowered already (exact where the
math is: products, max/min, sums, comparisons, selections; Exp/Log/Sqrt/Reciprocal are emitted as
standard nodes for the table lowering that runs after this pass).

    Pow(x, n)                 n integer >= 2: products by squaring; n <= -1: Reciprocal of them;
                              n = 1: a copy; n = +-0.5: Sqrt (and Reciprocal); other n: left
    Clip(x, lo, hi)           Max(x, lo), Min(., hi) (saturating, exact); Relu for [0, inf)
    Max / Min / Mean          variadic: chains of binary Max/Min, Sum * 1/n
    LeakyRelu / PRelu         max(x, a x) (0 <= a <= 1), min(x, a x) (a > 1), else relu(x) + a min(x, 0)
    HardSigmoid / HardSwish   max(0, min(1, a x + b)), times x
    BatchNormalization        inference form: folded into the Dense writing its input (channel axis
                              = the Dense's output axis, single reader), else x * s + t per channel
    InstanceNormalization,    mean, centred square mean (ReduceMean, Sub, Mul), Sqrt and Reciprocal
    LayerNormalization        of (var + eps), scale and bias
    Softmax / LogSoftmax      x - ReduceMax(x) (exact), Exp, ReduceSum, Reciprocal / Log
    ReduceL1 / ReduceL2 /     ReduceSum of Abs / of x*x (Sqrt of it), max-shifted log-sum-exp
    ReduceSumSquare / ReduceLogSumExp
    Pad                       constant pads (not on the batch axis), any mode: Concat of the flat x
                              with the constant value (constant mode), then one Gather (routing)

Shapes: every new tensor gets its per-event shape (batch axis 1, ONNX broadcasting rules).
Opset forms: axes as attribute or input (int_list), Softmax's pre-13 flattening (g.opset).
"""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedNodeError
from ...ir import Node
from ...ir.supports import Supports, supports
from ..common import const, int_list, norm_axes
from .exact import identity_route


class _Builder:
    """Emits standard nodes for one decomposed node: fresh names, shapes recorded."""

    def __init__(self, g, node):
        self.g, self.node, self.nodes = g, node, []
        self.folded = False   # the rule folded the node into its producer (no new nodes)

    def const(self, value) -> str:
        """A new constant: float64 data, integer arrays (a Reshape's shape) kept integer."""
        v = np.asarray(value)
        return self.g.add_const(self.node.name + "_c", v if v.dtype.kind in "iu" else v.astype(np.float64))

    def op(self, op, inputs, shape=None, out=None, **attrs) -> str:
        """Append `op`(inputs) -> a new tensor (or `out`, the decomposed node's output, named
        like the node); shape defaults to the inputs' broadcast shape."""
        g = self.g
        inputs = [t if isinstance(t, str) else self.const(t) for t in inputs]
        if shape is None:
            shape = tuple(np.broadcast_shapes(*(g.shapes[t] for t in inputs)))
        name = self.node.name if out is not None else g.fresh(f"{self.node.name}_{op.lower()}")
        if out is None:
            out = g.fresh(f"{self.node.name}_{op.lower()}")
            g.shapes[out] = tuple(shape)
        self.nodes.append(Node(op, name, list(inputs), [out], dict(attrs)))
        return out

    def reduce(self, op, x, axes, keepdims=1, out=None) -> str:
        shp = self.g.shapes[x]
        kept = [1 if a in axes else d for a, d in enumerate(shp)] if keepdims else \
            [d for a, d in enumerate(shp) if a not in axes]
        return self.op(op, [x], shape=kept, out=out, axes=list(axes), keepdims=int(keepdims))

    def copy(self, x, out):
        self.nodes.append(identity_route(self.g, self.node.name, x, out))
        return out


def _scalar(g, node, attr, index, default=None):
    """A scalar given as attribute or constant input: its value, the default when absent,
    'dynamic' when computed at run time or not one value."""
    if attr in node.attrs:
        return float(node.attrs[attr])
    if len(node.inputs) > index and node.inputs[index]:
        c = const(g, node.inputs[index])
        return "dynamic" if c is None or np.size(c) != 1 else float(np.asarray(c).reshape(-1)[0])
    return default


def _reduce_axes(g, node, x):
    """The reduced axes of a Reduce* node (attribute or input form), None for dynamic axes or a no-op."""
    axes = int_list(g, node, "axes", 1)
    if axes == "dynamic":
        return None
    rank = len(g.shapes[x])
    if not axes:
        return None if node.attrs.get("noop_with_empty_axes", 0) else list(range(rank))
    return norm_axes(axes, rank)


def _power(b, x, n):
    """x**n (n >= 1) by squaring: exact products."""
    result, sq = None, x
    while n:
        if n & 1:
            result = sq if result is None else b.op("Mul", [result, sq])
        n >>= 1
        if n:
            sq = b.op("Mul", [sq, sq])
    return result


def _pow(b, g, node, x, out):
    e = const(g, node.inputs[1])
    if e is None or np.size(e) != 1:
        return False
    e = float(np.ravel(e)[0])
    if e.is_integer() and e != 0:
        p = _power(b, x, int(abs(e)))
        if e < 0:
            b.op("Reciprocal", [p], out=out)
        elif p == x:
            b.copy(x, out)
        else:
            b.nodes[-1].outputs = [out]
            b.nodes[-1].name = node.name
        return True
    if abs(e) == 0.5:
        if e > 0:
            b.op("Sqrt", [x], out=out)
        else:
            b.op("Reciprocal", [b.op("Sqrt", [x])], out=out)
        return True
    return False


def _clip(b, g, node, x, out):
    lo = _scalar(g, node, "min", 1)
    hi = _scalar(g, node, "max", 2)
    if "dynamic" in (lo, hi):
        return False
    if lo is not None and hi is not None and lo > hi:
        raise UnsupportedNodeError(node, f"Clip with min {lo} > max {hi}")
    if lo == 0 and hi is None:
        b.op("Relu", [x], out=out)
    elif lo is None and hi is None:
        b.copy(x, out)
    elif hi is None:
        b.op("Max", [x, lo], out=out)
    elif lo is None:
        b.op("Min", [x, hi], out=out)
    else:
        b.op("Min", [b.op("Max", [x, lo]), hi], out=out)
    return True


def _variadic(b, g, node, x, out):
    ins = [t for t in node.inputs if t]
    if len(ins) == 1:
        b.copy(ins[0], out)
        return True
    # runtime operands first (sum/max/min are commutative): no binary step has two constant operands
    ins = sorted(ins, key=lambda t: const(g, t) is not None)
    if node.op == "Mean":
        b.op("Mul", [b.op("Sum", ins), 1.0 / len(ins)], out=out)
        return True
    if len(ins) == 2:
        return False   # lowered directly (lower_elementwise)
    acc = ins[0]
    for k, t in enumerate(ins[1:]):
        last = k == len(ins) - 2
        acc = b.op(node.op, [acc, t], shape=None if not last else g.shapes[out], out=out if last else None)
    return True


def _leaky(b, x, out, alpha):
    """leaky relu with slope alpha (a scalar or a constant array) for x < 0."""
    a = np.asarray(alpha, dtype=np.float64)
    ax = b.op("Mul", [x, a])
    if np.all((a >= 0) & (a <= 1)):
        b.op("Max", [x, ax], out=out)
    elif np.all(a > 1):
        b.op("Min", [x, ax], out=out)
    else:
        b.op("Add", [b.op("Relu", [x]), b.op("Mul", [b.op("Min", [x, 0.0]), a])], out=out)


def _prelu(b, g, node, x, out):
    slope = const(g, node.inputs[1])
    if slope is not None:
        _leaky(b, x, out, slope)
    else:   # a runtime slope: relu(x) + slope * min(x, 0), an exact product
        b.op("Add", [b.op("Relu", [x]), b.op("Mul", [b.op("Min", [x, 0.0]), node.inputs[1]])], out=out)
    return True


def _hard_sigmoid(b, x, alpha, beta, out):
    y = b.op("Add", [b.op("Mul", [x, alpha]), beta])
    return b.op("Max", [b.op("Min", [y, 1.0]), 0.0], out=out)


def _channel(v, rank):
    """A per-channel (axis 1) vector reshaped to broadcast over a rank-`rank` tensor."""
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (rank - 2))


def _batchnorm(b, g, node, x, out):
    if node.attrs.get("training_mode", 0) or \
            any(o and (g.consumers(o) or o in g.outputs) for o in node.outputs[1:]):
        return False   # training form: batch statistics (refused)
    params = [const(g, t) for t in node.inputs[1:5]]
    if any(p is None for p in params):
        return False
    scale, bias, mean, var = (np.asarray(p, dtype=np.float64).reshape(-1) for p in params)
    if len(g.shapes[x]) < 2 or not all(p.size == g.shapes[x][1] for p in (scale, bias, mean, var)):
        return False   # opset < 9 spatial=0 form (per-element statistics)
    eps = float(node.attrs.get("epsilon", 1e-5))
    s = scale / np.sqrt(var + eps)
    t = bias - mean * s
    rank = len(g.shapes[x])
    dense = g.producer(x)
    if rank == 2 and dense is not None and dense.is_equihls and dense.op == "Dense" and \
            len(g.consumers(x)) == 1 and x not in g.outputs:
        # the channel axis is the Dense's output axis: scale its columns, fold the shift into its bias
        w, bias_d = g.consts[dense.inputs[1]], g.consts[dense.inputs[2]]
        dense.inputs[1] = g.add_const(dense.name + "_W", w * s[None, :])
        dense.inputs[2] = g.add_const(dense.name + "_b", bias_d * s + t)
        dense.outputs = [out]
        b.folded = True
        return True
    b.op("Add", [b.op("Mul", [x, _channel(s, rank)]), _channel(t, rank)], out=out)
    return True


def _normalize(b, x, axes, eps, scale, bias, out):
    """(x - mean) / sqrt(var + eps) * scale + bias over `axes` (scale/bias: tensors or None)."""
    m = b.reduce("ReduceMean", x, axes)
    d = b.op("Sub", [x, m])
    v = b.reduce("ReduceMean", b.op("Mul", [d, d]), axes)
    r = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [v, eps])])])
    y = b.op("Mul", [d, r], out=out if scale is None and bias is None else None)
    if scale is not None:
        y = b.op("Mul", [y, scale], out=out if bias is None else None)
    if bias is not None:
        b.op("Add", [y, bias], out=out)


def _instancenorm(b, g, node, x, out):
    scale, bias = const(g, node.inputs[1]), const(g, node.inputs[2])
    rank = len(g.shapes[x])
    if scale is None or bias is None or rank < 3:
        return False
    _normalize(b, x, list(range(2, rank)), float(node.attrs.get("epsilon", 1e-5)), _channel(scale, rank),
               _channel(bias, rank), out)
    return True


def _layernorm(b, g, node, x, out):
    if any(o and (g.consumers(o) or o in g.outputs) for o in node.outputs[1:]):
        return False   # Mean / InvStdDev outputs read: not decomposed
    rank = len(g.shapes[x])
    axis = node.attrs.get("axis", -1) % rank
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    _normalize(b, x, list(range(axis, rank)), float(node.attrs.get("epsilon", 1e-5)), node.inputs[1], bias, out)
    return True


# exp of x - max(x): the interval analysis sees x - max as [lo - hi, hi - lo], but it is <= 0, and
# below -32 exp is under 1.3e-14 (inputs there saturate to the edge), so its table spans [-32, 0]
EXP_OF_NONPOSITIVE = [-32.0, 0.0]
SUM_OF_EXP = [1.0, 1e300]    # a sum of those exps, one of them exp(0) = 1: no pole of 1/s or log s


def _softmax(b, g, node, x, out):
    rank = len(g.shapes[x])
    if g.opset >= 13:
        axes = [node.attrs.get("axis", -1) % rank]
    else:   # opset < 13: the input is coerced to 2-D at `axis`: softmax over all axes from it on
        axes = list(range(node.attrs.get("axis", 1) % rank, rank))
    d = b.op("Sub", [x, b.reduce("ReduceMax", x, axes)])    # exact, <= 0: exp stays in (0, 1]
    e = b.op("Exp", [d], clamp=EXP_OF_NONPOSITIVE)
    s = b.reduce("ReduceSum", e, axes)      # >= 1: the max's term is the table's exact exp(0) = 1
    if node.op == "Softmax":
        b.op("Mul", [e, b.op("Reciprocal", [s], clamp=SUM_OF_EXP)], out=out)
    else:
        b.op("Sub", [d, b.op("Log", [s], clamp=SUM_OF_EXP)], out=out)
    return True


def _reduce(b, g, node, x, out):
    axes = _reduce_axes(g, node, x)
    if axes is None:
        return False
    kd = int(node.attrs.get("keepdims", 1))
    if node.op == "ReduceL1":
        b.reduce("ReduceSum", b.op("Abs", [x]), axes, kd, out=out)
    elif node.op == "ReduceSumSquare":
        b.reduce("ReduceSum", b.op("Mul", [x, x]), axes, kd, out=out)
    elif node.op == "ReduceL2":
        b.op("Sqrt", [b.reduce("ReduceSum", b.op("Mul", [x, x]), axes, kd)], out=out)
    else:   # ReduceLogSumExp: m + log(sum(exp(x - m))), m the exact max
        m = b.reduce("ReduceMax", x, axes)
        ls = b.op("Log", [b.reduce("ReduceSum", b.op("Exp", [b.op("Sub", [x, m])], clamp=EXP_OF_NONPOSITIVE),
                                   axes)], clamp=SUM_OF_EXP)
        y = b.op("Add", [ls, m], out=out if kd else None)
        if not kd:
            b.op("Reshape", [y, np.asarray(g.shapes[out], dtype=np.int64)], out=out)
    return True


def _hard(b, g, node, x, out):
    if node.op == "HardSigmoid":
        _hard_sigmoid(b, x, float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5)), out)
    else:
        b.op("Mul", [x, _hard_sigmoid(b, x, 1.0 / 6.0, 0.5, None)], out=out)
    return True


def _pad(b, g, node, x, out):
    """Pad with constant pads, value and axes: pure data movement plus one constant. The op is run on
    the element indices of x with -1 as the pad value, which gives the routing table; the -1 entries
    read the constant appended after the flat x."""
    from .ops import _eval_node_proto

    if node.attrs.get("mode", "constant") not in ("constant", b"constant"):
        value = None
    else:
        value = _scalar(g, node, "value", 2, 0.0)
        if value == "dynamic":
            return False
    if any(t and const(g, t) is None for t in node.inputs[1:]):
        return False
    shp = g.shapes[x]
    n = int(np.prod(shp))
    args = [np.arange(n, dtype=np.int64).reshape(shp)] + \
        [None if not t else np.asarray(const(g, t)) for t in node.inputs[1:]]
    inputs = list(node.inputs)
    if len(args) > 3 and args[3] is not None:      # opset 18 axes: the full-rank pads of the IR's opset
        rank, axes = len(shp), [int(a) % len(shp) for a in np.ravel(args[3])]
        pads, given = np.zeros(2 * rank, dtype=np.int64), np.ravel(args[1]).astype(np.int64)
        for k, a in enumerate(axes):
            pads[a], pads[rank + a] = given[k], given[len(axes) + k]
        args, inputs = [args[0], pads, args[2]], inputs[:3]
    if value is not None and "value" not in node.attrs and len(inputs) > 1:   # opset 11+: the value is input 2
        args += [None] * (3 - len(args))
        inputs += [""] * (3 - len(inputs))
        args[2], inputs[2] = np.array(-1, dtype=np.int64), "value"
    probe = Node(node.op, node.name, inputs, node.outputs,
                 {**node.attrs, **({"value": -1.0} if value is not None and "value" in node.attrs else {})})
    try:
        (table,) = _eval_node_proto(probe, args)
    except Exception:          # noqa: BLE001  (a form the reference evaluator rejects: left, then refused)
        return False
    table = np.asarray(table, dtype=np.int64)
    if table.shape[0] != shp[0] or tuple(table.shape) != tuple(g.shapes[out]):
        return False           # pads on the batch axis would mix events
    flat = b.op("Reshape", [x, np.array([1, n], dtype=np.int64)], shape=(1, n))
    if (table < 0).any():
        flat = b.op("Concat", [flat, np.full((1, 1), value, dtype=np.float64)], shape=(1, n + 1), axis=1)
        table = np.where(table < 0, n, table)
    b.op("Gather", [flat, table.reshape(table.shape[1:])], shape=g.shapes[out], out=out, axis=1)
    return True


def _leaky_relu(b, g, node, x, out):
    _leaky(b, x, out, float(node.attrs.get("alpha", 0.01)))
    return True


RULES = {"Pow": _pow, "Clip": _clip, "Max": _variadic, "Min": _variadic, "Mean": _variadic,
         "LeakyRelu": _leaky_relu, "PRelu": _prelu, "HardSigmoid": _hard, "HardSwish": _hard,
         "BatchNormalization": _batchnorm, "InstanceNormalization": _instancenorm,
         "LayerNormalization": _layernorm, "Softmax": _softmax, "LogSoftmax": _softmax,
         "ReduceL1": _reduce, "ReduceL2": _reduce, "ReduceSumSquare": _reduce, "ReduceLogSumExp": _reduce,
         "Pad": _pad}


@supports(
    Supports(("Pow",), "`Pow(x, n)`, n constant", "Eltwise mul (by squaring)",
             "n integer ≥ 2 exact; n ≤ −1: `Reciprocal` of the product, n = ±½: `Sqrt`, left to the table "
             "lowering; other n left"),
    Supports(("Clip", "Max", "Min", "Mean"), "`Clip` (constant bounds, attribute or input form), variadic "
             "`Max`/`Min`, `Mean`", "Eltwise max/min (Unary relu for [0, ∞)), Sum × 1/n", "saturating, exact"),
    Supports(("LeakyRelu", "PRelu"), "`LeakyRelu`, `PRelu`",
             "Eltwise max(x, a·x) (0 ≤ a ≤ 1), min (a > 1), else relu(x) + a·min(x, 0)", "exact but for a·x"),
    Supports(("HardSigmoid", "HardSwish"), "`HardSigmoid`, `HardSwish`", "Eltwise mul/add/min/max",
             "max(0, min(1, αx+β)) (× x)"),
    Supports(("BatchNormalization",), "`BatchNormalization` (inference form)",
             "folded into the Dense writing its input, else Eltwise ×s + t per channel",
             "constant statistics; training mode refused"),
    Supports(("InstanceNormalization", "LayerNormalization"), "`InstanceNormalization`, `LayerNormalization`",
             "ReduceSum / Eltwise for the mean and centred square mean",
             "`Sqrt`, `Reciprocal` of var + ε left to the table lowering"),
    Supports(("Softmax", "LogSoftmax"), "`Softmax`, `LogSoftmax` (opset < 13: over all axes from `axis`)",
             "x − ReduceMax(x), then ReduceSum and Eltwise",
             "max-subtraction exact; `Exp`, `Reciprocal` / `Log` left to the table lowering"),
    Supports(("ReduceL1", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp"),
             "`ReduceL1`, `ReduceSumSquare`, `ReduceL2`, `ReduceLogSumExp`",
             "ReduceSum of Unary abs / of x·x, max-shifted log-sum-exp",
             "L1 and sum of squares exact; `Sqrt`, `Exp`, `Log` left to the table lowering"),
    Supports(("Pad",), "`Pad` (constant pads, value and axes; not on the batch axis; any mode)",
             "Concat with the constant value, Gather (Route / Concat2)", "exact: data movement"))
def decompose(g) -> bool:
    """Rewrite the composite ops of RULES into standard ops lowered by the other passes (module doc)."""
    changed = False
    for node in list(g.nodes):
        rule = RULES.get(node.op) if not node.domain else None
        if rule is None or not node.inputs or not node.inputs[0]:
            continue
        x = node.inputs[0]
        if const(g, x) is not None and node.op not in ("Max", "Min", "Mean"):
            continue
        if node.op == "Pow" and (len(node.inputs) < 2 or const(g, x) is not None):
            continue
        b = _Builder(g, node)
        if not rule(b, g, node, x, node.outputs[0]):
            continue   # left as it is (constants a rule added before giving up are dropped as dead)
        if b.folded:
            g.nodes.remove(node)
        else:
            g.replace(node, b.nodes)
        changed = True
    return changed

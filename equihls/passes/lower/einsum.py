"""Lowering of any ONNX Einsum of 1 to 3 operands to Route / ReduceSum / Eltwise / Dense blocks.

The equation is first made explicit ('...' expanded to letters from the operand ranks, an
implicit output made the sorted letters seen once). Then, with every operand's index letters:

  1. constant operands are merged (numpy einsum) into one constant K over the letters still needed;
  2. each runtime operand has its diagonals taken and the letters no one else needs summed
     (one ReduceSum through an index table, or a Route when nothing is summed);
  3. runtime operands are multiplied pairwise: Eltwise mul with `exact` (the output type holds the
     full product, nothing rounds), its index tables ia / ib doing the broadcasts and transposes,
     then the letters no longer needed summed exactly (ReduceSum);
  4. K, if any, is applied as a Dense: the runtime tensor routed to [rows, in] (rows: its free
     letters that K lacks, kept as rows; in: letters shared with K), W [in, out-cols] built from K
     (a shared letter that the output keeps becomes a diagonal in W); with no shared letter summed
     it is an Eltwise mul by the broadcast constant instead;
  5. a final Route puts the letters in the output order.

Sizes are capped (MAX_ELEMENTS per intermediate, MAX_WEIGHTS per W); an Einsum over a cap, with
more than 3 operands, or with an equation that does not parse is left for the refusal check,
whose message `refusal(g, node)` writes (node, equation and the size that is too big).
"""
from __future__ import annotations

import string

import numpy as np

from ...ir import Node
from ...ir.fixedpoint import is_pow2
from ...ir.supports import Supports, supports
from ..common import const, eq_node

MAX_OPERANDS = 3
MAX_ELEMENTS = 65_536     # elements of one intermediate tensor (per event)
MAX_WEIGHTS = 1 << 20     # entries of one Dense weight matrix


class _Refused(Exception):
    """Why an Einsum is not lowered (the refusal check reports it)."""


# what _build raises for an Einsum it does not lower (the latter three: a malformed equation)
_NOT_LOWERED = (_Refused, KeyError, ValueError, IndexError)


def _terms(node, shapes) -> tuple[list[str], str]:
    """The equation with '...' expanded and the output explicit: (input terms, output term)."""
    eq = node.attrs.get("equation", "")
    if isinstance(eq, bytes):
        eq = eq.decode()
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise _Refused(f"equation has {len(ins)} operand terms for {len(shapes)} inputs")
    used = set("".join(ins).replace(".", "") + rhs.replace(".", ""))
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for t, s in zip(ins, shapes):
        if "..." in t:
            n_ell = max(n_ell, len(s) - (len(t) - 3))
    ell = "".join(spare[:n_ell])
    out_ins = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if len(t) != len(s) or not all(c in string.ascii_letters for c in t):
            raise _Refused(f"term '{t}' does not match an operand of rank {len(s)}")
        out_ins.append(t)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_ins)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    if len(set(out)) != len(out) or any(c not in "".join(out_ins) for c in out):
        raise _Refused(f"output term '{out}' repeats a letter or uses one no operand has")
    return out_ins, out


def _dims(terms, shapes) -> dict:
    """Letter -> extent; broadcasting of size-1 axes as ONNX Einsum allows for '...' letters."""
    dims = {}
    for t, s in zip(terms, shapes):
        for c, d in zip(t, s):
            if dims.get(c, 1) == 1:
                dims[c] = int(d)
            elif d not in (1, dims[c]):
                raise _Refused(f"letter '{c}' has extents {dims[c]} and {d}")
    return dims


def _table(term: str, shape, letters: str, dims: dict) -> np.ndarray:
    """Flat index into an operand (index letters `term`, `shape`) of every point of the grid over
    `letters` (row-major). Letters of `letters` that the term lacks broadcast (stride 0); a letter
    repeated in the term reads the diagonal; a size-1 axis broadcasts."""
    strides = np.cumprod((list(shape) + [1])[::-1])[::-1][1:] if shape else np.array([], dtype=np.int64)
    grid = np.indices([dims[c] for c in letters], dtype=np.int64) if letters else np.zeros((0,), np.int64)
    flat = np.zeros([dims[c] for c in letters], dtype=np.int64)
    for c, d, st in zip(term, shape, strides):
        if d == 1:
            continue
        flat = flat + grid[letters.index(c)] * int(st)
    return flat.reshape(-1)


class _Plan:
    """The new nodes, shapes and constants of one Einsum's lowering, committed to g only at the end."""

    def __init__(self, g, node):
        self.g, self.node, self.nodes, self.shapes, self.consts = g, node, [], {}, {}

    def tensor(self, base: str, shape) -> str:
        name = self.g.fresh(f"{self.node.name}_{base}")
        self.shapes[name] = tuple(int(d) for d in shape)
        n = int(np.prod(shape, dtype=np.int64))
        if n > MAX_ELEMENTS:
            raise _Refused(f"intermediate '{base}' would have {n} elements (cap {MAX_ELEMENTS})")
        return name

    def constant(self, base: str, value) -> str:
        name = self.g.fresh(f"{self.node.name}_{base}")
        value = np.asarray(value, dtype=np.float64)
        self.consts[name], self.shapes[name] = value, tuple(value.shape)
        return name

    def add(self, kind, inputs, out, **attrs):
        self.nodes.append(eq_node(kind, self.g.fresh(self.node.name + "_" + kind.lower()), inputs, [out], **attrs))

    def commit(self):
        self.g.shapes.update(self.shapes)
        self.g.consts.update(self.consts)
        self.nodes[-1].name = self.node.name    # the last node keeps the ONNX node's name
        self.g.replace(self.node, self.nodes)


def _shape(letters: str, dims: dict) -> tuple:
    return tuple(dims[c] for c in letters)


def _reduce(p: _Plan, x: str, term: str, shape, keep: str, dims: dict, base: str) -> str:
    """x (letters `term`) -> letters `keep`, summing the others (Route when none is summed)."""
    summed = "".join(dict.fromkeys(c for c in term if c not in keep))
    src = _table(term, shape, keep + summed, dims)
    out = p.tensor(base, _shape(keep, dims))
    if summed:
        n = int(np.prod([dims[c] for c in summed]))
        p.add("ReduceSum", [x], out, src=src, n_reduce=n)
    else:
        p.add("Route", [x], out, src=src)
    return out


def _build(g, node) -> _Plan:
    """The lowering of `node` (raises _Refused with the reason when it cannot be lowered)."""
    if not 1 <= len(node.inputs) <= MAX_OPERANDS:
        raise _Refused(f"{len(node.inputs)} operands (at most {MAX_OPERANDS} are lowered)")
    shapes = [tuple(g.shapes[t]) for t in node.inputs]
    terms, out = _terms(node, shapes)
    dims = _dims(terms, shapes)
    p = _Plan(g, node)
    rt = [k for k, t in enumerate(node.inputs) if const(g, t) is None]
    ct = [k for k in range(len(node.inputs)) if k not in rt]
    if not rt:
        raise _Refused("every operand is constant (constant folding should have computed it)")
    # 1. constants merged over the letters still needed
    k_term, k_val = "", None
    if ct:
        needed = set(out) | set("".join(terms[k] for k in rt))
        k_term = "".join(dict.fromkeys(c for k in ct for c in terms[k] if c in needed))
        vals = [np.broadcast_to(np.asarray(const(g, node.inputs[k]), dtype=np.float64),
                                [dims[c] if d == 1 else d for c, d in zip(terms[k], shapes[k])]) for k in ct]
        k_val = np.einsum(",".join(terms[k] for k in ct) + "->" + k_term, *vals)
    # 2. each runtime operand: diagonals taken, letters only it has (and the output lacks) summed
    ops = []
    for j, k in enumerate(rt):
        others = set(out) | set(k_term) | set("".join(terms[i] for i in rt if i != k))
        t = terms[k]
        keep = "".join(dict.fromkeys(c for c in t if c in others))
        if keep == t:
            ops.append((node.inputs[k], t, shapes[k]))
        else:
            x = _reduce(p, node.inputs[k], t, shapes[k], keep, dims, f"op{j}")
            ops.append((x, keep, _shape(keep, dims)))
    # 3. runtime products, exact, then exact sums of the letters no longer needed
    acc, acc_t, acc_s = ops[0]
    for j, (b, b_t, b_s) in enumerate(ops[1:], start=1):
        later = set(out) | set(k_term) | set("".join(t for _, t, _ in ops[j + 1:]))
        union = "".join(dict.fromkeys(acc_t + b_t))
        keep = "".join(c for c in union if c in later)
        summed = "".join(c for c in union if c not in later)
        grid = keep + summed
        prod = p.tensor(f"product{j}", _shape(grid, dims))
        ia, ib = _table(acc_t, acc_s, grid, dims), _table(b_t, b_s, grid, dims)
        p.add("Eltwise", [acc, b], prod, op="mul", pow2=False, exact=True, ia=ia, ib=ib)
        acc, acc_t, acc_s = prod, grid, _shape(grid, dims)
        if summed:
            acc = _reduce(p, acc, grid, acc_s, keep, dims, f"sum{j}")
            acc_t, acc_s = keep, _shape(keep, dims)
    a_t, a_s = acc_t, acc_s
    # 4. the constant: Dense (a contraction with it) or Eltwise mul (no letter summed)
    if k_val is not None:
        shared = "".join(c for c in a_t if c in k_term)
        rows = "".join(c for c in a_t if c not in k_term)
        cols = "".join(c for c in k_term if c not in a_t) + "".join(c for c in shared if c in out)
        if all(c in out for c in shared):
            grid = rows + cols
            y = p.tensor("scaled", _shape(grid, dims))
            kc = p.constant("K", k_val)
            p.add("Eltwise", [acc, kc], y, op="mul", pow2=bool(is_pow2(k_val)),
                  ia=_table(a_t, a_s, grid, dims), ib=_table(k_term, k_val.shape, grid, dims))
        else:
            n_in = int(np.prod([dims[c] for c in shared]))
            n_out = int(np.prod([dims[c] for c in cols]))
            if n_in * n_out > MAX_WEIGHTS:
                raise _Refused(f"weight matrix {n_in}x{n_out} has {n_in * n_out} entries (cap {MAX_WEIGHTS})")
            w = np.zeros([dims[c] for c in shared + cols])
            idx = np.indices(w.shape).reshape(len(w.shape), -1)
            pos = {c: i for i, c in enumerate(shared + cols)}
            keep_pt = np.ones(idx.shape[1], dtype=bool)
            for c in cols:
                if c in shared:   # a letter shared and kept: W is diagonal in it
                    keep_pt &= idx[pos[c]] == idx[shared.index(c)]
            kidx = tuple(idx[shared.index(c) if c in shared else pos[c]] for c in k_term)
            w.reshape(-1)[keep_pt] = k_val[kidx][keep_pt] if k_term else k_val
            n_rows = int(np.prod([dims[c] for c in rows]))
            xr = p.tensor("rows", (n_rows, n_in))
            p.add("Route", [acc], xr, src=_table(a_t, a_s, rows + shared, dims))
            y = p.tensor("dense", (n_rows, n_out))
            p.add("Dense", [xr, p.constant("W", w.reshape(n_in, n_out)),
                            p.constant("b", np.zeros(n_out))], y)
            grid = rows + cols
        acc, a_t, a_s = y, grid, [dims[c] for c in grid]
    # 5. output order
    res = node.outputs[0]
    if int(np.prod(g.shapes[res], dtype=np.int64)) != int(np.prod([dims[c] for c in out], dtype=np.int64)):
        raise _Refused(f"output shape {list(g.shapes[res])} does not match the equation")
    p.add("Route", [acc], res, src=_table(a_t, a_s, out, dims))
    return p


def refusal(g, node) -> str:
    """Why this Einsum is not lowered (the refusal check's reason), naming the equation."""
    eq = node.attrs.get("equation", "")
    try:
        _build(g, node)
    except _NOT_LOWERED as e:
        return f"Einsum '{node.name}' with equation '{eq}' is not lowered: {e}"
    return f"Einsum '{node.name}' with equation '{eq}' was lowerable but left (a pass order problem)"


@supports(Supports(("Einsum",), "any other `Einsum` of 1–3 operands (diagonals, traces, '...', outer products, "
                   "contractions)", "Route / ReduceSum / Eltwise (exact mul) / Dense",
                   f"runtime products exact; one rounding per constant Dense; caps {MAX_ELEMENTS} elements, "
                   f"{MAX_WEIGHTS} weights"))
def lower_einsum(g) -> bool:
    """Einsum of 1–3 operands (at least one runtime) -> blocks (see module doc)."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op != "Einsum" or any(t not in g.shapes for t in node.inputs):
            continue
        try:
            plan = _build(g, node)
        except _NOT_LOWERED:
            continue   # left for the refusal check, which names the node and the reason (refusal())
        plan.commit()
        changed = True
    return changed


def matmul_equation(ra: int, rb: int) -> str:
    """The Einsum equation of ONNX MatMul (numpy matmul: a rank-1 operand is a vector, leading
    axes broadcast) for operands of ranks ra, rb >= 1."""
    a = "j" if ra == 1 else ("..." if ra > 2 else "") + "ij"
    b = "j" if rb == 1 else ("..." if rb > 2 else "") + "jk"
    out = ("..." if max(ra, rb) > 2 else "") + ("i" if ra > 1 else "") + ("k" if rb > 1 else "")
    return f"{a},{b}->{out}"


def _as_einsum(g, node) -> Node:
    ra, rb = (len(g.shapes[t]) for t in node.inputs)
    return Node("Einsum", node.name, list(node.inputs), list(node.outputs), {"equation": matmul_equation(ra, rb)})


def matmul_refusal(g, node) -> str:
    """Why a MatMul of runtime tensors is not lowered (the refusal check's reason)."""
    einsum = _as_einsum(g, node)
    try:
        _build(g, einsum)
    except _NOT_LOWERED as e:
        return f"both inputs are runtime tensors; as the Einsum '{einsum.attrs['equation']}' it is not lowered: {e}"
    return "both inputs are runtime tensors and it was lowerable but left (a pass order problem)"


@supports(Supports(("MatMul",), "`MatMul` of two runtime tensors (attention's q·kᵀ and softmax·v), or with a "
                   "constant left / rank ≠ 2 operand", "lowered as the `Einsum` it equals",
                   "exact products and exact sums (no rounding inside); leading axes broadcast as in numpy"))
def matmul_as_einsum(g) -> bool:
    """MatMul that is not x·W (W constant, 2-D: lower_matmul_const) -> the blocks of the Einsum it
    equals (module doc); one over the caps stays, for the refusal check (matmul_refusal)."""
    changed = False
    for node in list(g.nodes):
        if node.domain or node.op != "MatMul" or any(t not in g.shapes for t in node.inputs):
            continue
        a, b = (const(g, t) for t in node.inputs)
        if (a is not None and b is not None) or min(len(g.shapes[t]) for t in node.inputs) < 1:
            continue
        if a is None and b is not None and b.ndim == 2 and len(g.shapes[node.inputs[0]]) >= 2:
            continue        # x·W: a Dense (lower_matmul_const)
        try:
            plan = _build(g, _as_einsum(g, node))
        except _NOT_LOWERED:
            continue
        plan.node = node
        plan.commit()
        changed = True
    return changed

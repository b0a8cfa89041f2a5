"""Recognition of constant bilinear couplings (Clebsch-Gordan tensor products) as Bilinear nodes.

out[..., k] = sum_ij C[i,j,k] a[..., i] b[..., j] is recognised as equihls::TensorProduct nodes
and as Einsum("<p>i,<p>j,ijk-><p>k", a, b, C) with C a rank-3 constant (any common prefix <p> of
batch/particle letters or "...", C in any operand position, its letters in any order). C is
checked (declared irreps) or inferred (undeclared) to be an O(3) / Lorentz intertwiner, first in
equihls' standard bases, then in any output basis (symmetry/induced.py: the representation C
induces on its output and its irreps; Cartesian dot / cross / symmetric traceless products,
F^{mu nu}-style forms in any coordinates). A basis-free result records the basis Q
(output = Q · standard coordinates) as attrs["irreps_basis"]. Einsums that mix the particle axes
(e.g. "bni,bmj,ijk->bnmk") do not match and are refused later.
"""
from __future__ import annotations

import warnings

import numpy as np

from ...errors import ModelError
from ...ir.graph import DOMAIN
from ...symmetry import induced
from ...symmetry.groups import Rep, boost, embed_o3, random_direction, random_rotation
from ...symmetry.lorentz import REAL_REPS, rep_dim, rep_matrix
from ...symmetry.o3 import Irrep, Irreps
from ..common import const, eq_node
from ...ir.supports import Supports, supports

# Relative tolerance of the intertwiner check: ONNX stores C in float32 (relative rounding
# ~6e-8 per entry), which the group action amplifies by at most a few units for the elements used.
INTERTWINER_RTOL = 1e-6
# Largest rapidity of the test boosts: keeps the rep matrices of the rank-2 tensor forms O(10).
_MAX_RAPIDITY = 0.6
_N_ELEMENTS = 3


def _is_lorentz_name(s: str) -> bool:
    return "(" in s


def _test_elements(lorentz: bool) -> list:
    """Fixed pseudo-random group elements: 3x3 O(3) matrices, or 4x4 Lorentz matrices."""
    rng = np.random.default_rng(20240613)
    out = []
    for k in range(_N_ELEMENTS):
        r = random_rotation(rng)
        r = -r if k % 2 else r   # improper elements too: parity is part of the declaration
        if lorentz:
            out.append(embed_o3(r) @ boost(float(rng.uniform(-_MAX_RAPIDITY, _MAX_RAPIDITY)), random_direction(rng)))
        else:
            out.append(r)
    return out


def _rep_matrices(names, lorentz: bool) -> list:
    """For each test element, the three representation matrices of `names` (a, b, out)."""
    if lorentz:
        return [[rep_matrix(n, el) for n in names] for el in _test_elements(True)]
    reps = [Irreps.parse(n) for n in names]
    return [[r.D(el) for r in reps] for el in _test_elements(False)]


def intertwiner_error(c, mats) -> float:
    """Largest relative violation of C D1 D2 = D3 C over the given rep matrices.

    c: [Da, Db, Dk]; mats: list of (D1 [Da,Da], D2 [Db,Db], D3 [Dk,Dk]). The violation is
    |einsum('ijk,ia,jb->kab', C, D1, D2) - einsum('kc,abc->kab', D3, C)|_max divided by
    max|C| times the largest row sum of |D1| |D2| and of |D3| (the size the terms can reach)."""
    c = np.asarray(c, dtype=np.float64)
    cmax = float(np.abs(c).max(initial=0.0))
    if cmax == 0.0:
        return 0.0
    worst = 0.0
    for d1, d2, d3 in mats:
        lhs = np.einsum("ijk,ia,jb->kab", c, d1, d2)
        rhs = np.einsum("kc,abc->kab", d3, c)
        scale = cmax * max(np.abs(d1).sum(0).max() * np.abs(d2).sum(0).max(), np.abs(d3).sum(1).max())
        worst = max(worst, float(np.abs(lhs - rhs).max()) / scale)
    return worst


def _declared_dims(names, lorentz):
    if lorentz:
        return [rep_dim(n) for n in names]
    return [Irreps.parse(n).dim for n in names]


def check_intertwiner(node_desc: str, c, names) -> str:
    """Check that c [Da, Db, Dk] intertwines the declared representations `names` (a, b, out).

    names: three strings, all O(3) irreps ("1x1o") or all real Lorentz forms ("(1/2,1/2)").
    Returns the canonical record "in1*in2->out". Raises ModelError naming `node_desc` when the
    strings do not parse, their dimensions do not match c, or c is not an intertwiner."""
    kinds = {_is_lorentz_name(n) for n in names}
    if len(kinds) != 1:
        raise ModelError(f"{node_desc}: irreps {', '.join(names)} mix Lorentz and O(3) representations")
    lorentz = kinds.pop()
    try:
        dims = _declared_dims(names, lorentz)
    except ValueError as e:
        raise ModelError(f"{node_desc}: cannot read the declared irreps: {e}") from None
    if tuple(dims) != tuple(np.shape(c)):
        raise ModelError(f"{node_desc}: irreps {names[0]} ⊗ {names[1]} -> {names[2]} have dimensions {dims} but the "
                         f"coefficient tensor is {list(np.shape(c))}")
    err = intertwiner_error(c, _rep_matrices(names, lorentz))
    if not err <= INTERTWINER_RTOL:
        raise ModelError(f"{node_desc}: coefficient tensor is not an intertwiner for {names[0]} ⊗ {names[1]} -> "
                         f"{names[2]} (relative violation {err:.2g} > {INTERTWINER_RTOL:g})")
    return f"{names[0]}*{names[1]}->{names[2]}"


def _o3_candidates(d):
    """Single O(3) irreps of dimension d, natural parity (-1)**l first."""
    if d % 2 == 0:
        return []
    l = (d - 1) // 2
    nat = "o" if l % 2 else "e"
    return [f"1x{l}{nat}", f"1x{l}{'e' if nat == 'o' else 'o'}"]


# The real Lorentz forms by dimension, the candidates for an axis of that size.
_LORENTZ_BY_DIM = {}
for _name, _d in REAL_REPS.items():
    _LORENTZ_BY_DIM.setdefault(_d, []).append(_name)


def infer_irreps(c):
    """Representations that c [Da, Db, Dk] intertwines, as "in1*in2->out", or None.

    Tries single O(3) irreps whose dimension 2l+1 matches each axis (both parities of the
    inputs; the output parity is their product), then the real Lorentz forms by dimension
    ((0,0): 1, (1/2,1/2): 4, (1,0)+(0,1): 6, (1,1): 9); the first that passes the check wins.
    An all-zero c certifies nothing and gives None."""
    da, db, dk = np.shape(c)
    if not np.any(c):
        return None
    trials = []
    for n1 in _o3_candidates(da):
        for n2 in _o3_candidates(db):
            p = "e" if (n1[-1] == n2[-1]) else "o"
            for n3 in _o3_candidates(dk):
                if n3[-1] == p:
                    trials.append(((n1, n2, n3), False))
    for n1 in _LORENTZ_BY_DIM.get(da, []):
        for n2 in _LORENTZ_BY_DIM.get(db, []):
            for n3 in _LORENTZ_BY_DIM.get(dk, []):
                trials.append(((n1, n2, n3), True))
    for names, lorentz in trials:
        if intertwiner_error(c, _rep_matrices(names, lorentz)) <= INTERTWINER_RTOL:
            return f"{names[0]}*{names[1]}->{names[2]}"
    return None


def _parse_terms(eq):
    """Einsum equation -> (input terms, output term) with '...' kept as one token '.', or None."""
    eq = eq.replace(" ", "")
    if eq.count("->") != 1:
        return None
    lhs, out = eq.split("->")
    terms = [t.replace("...", ".") for t in lhs.split(",")] + [out.replace("...", ".")]
    if any(t.count(".") > 1 for t in terms):
        return None
    return terms[:-1], terms[-1]


def _match_bilinear_einsum(g, node):
    """(a, b, C [Da, Db, Dk]) if node is Einsum('<p>x,<p>y,xyz-><p>z') up to operand order and
    the letters' order in the constant term, with a rank-3 constant; else None."""
    parsed = _parse_terms(node.attrs.get("equation", ""))
    if parsed is None or len(node.inputs) != 3:
        return None
    terms, out = parsed
    if len(terms) != 3:
        return None
    cidx = [k for k, t in enumerate(node.inputs) if const(g, t) is not None]
    if len(cidx) != 1 or len(terms[cidx[0]]) != 3 or "." in terms[cidx[0]]:
        return None
    k = cidx[0]
    c = np.asarray(const(g, node.inputs[k]), dtype=np.float64)
    if c.ndim != 3:
        return None
    (ta, a), (tb, b) = [(t, x) for j, (t, x) in enumerate(zip(terms, node.inputs)) if j != k]
    tc = terms[k]
    if not ta or not tb or not out:
        return None
    pre = ta[:-1]
    la, lb, lo = ta[-1], tb[-1], out[-1]
    if tb[:-1] != pre or out[:-1] != pre or "." in (la + lb + lo):
        return None
    letters = pre.replace(".", "")
    if len(set(letters)) != len(letters) or set(letters) & set(tc) or len(set(tc)) != 3 or {la, lb, lo} != set(tc):
        return None
    sa, sb = g.shapes.get(a), g.shapes.get(b)
    if sa is None or sb is None or tuple(sa[:-1]) != tuple(sb[:-1]):
        return None
    c = np.transpose(c, [tc.index(la), tc.index(lb), tc.index(lo)])
    if c.shape[:2] != (sa[-1], sb[-1]):
        return None
    return a, b, c


def _match_outer_reshape_matmul(g, node):
    """(a, b, C [Da, Db, Dk]) if node is MatMul(Reshape(Einsum('<p>i,<p>j-><p>ij', a, b)), W) with W a
    constant [Da*Db, Dk] and the Reshape merging the last two axes (e3nn's outer product, then the
    flattened Wigner-3j / CG matrix), each intermediate read only by the next; else None."""
    w = const(g, node.inputs[1])
    if w is None or np.ndim(w) != 2:
        return None
    rs = g.producer(node.inputs[0])
    if rs is None or rs.domain != "" or rs.op != "Reshape" or len(g.consumers(rs.outputs[0])) != 1:
        return None
    es = g.producer(rs.inputs[0])
    if es is None or es.domain != "" or es.op != "Einsum" or len(es.inputs) != 2 \
            or len(g.consumers(es.outputs[0])) != 1 or any(const(g, t) is not None for t in es.inputs):
        return None
    parsed = _parse_terms(es.attrs.get("equation", ""))
    if parsed is None:
        return None
    (ta, tb), out = parsed
    if not ta or not tb or ta[:-1] != tb[:-1] or out != ta + tb[-1] or ta[-1] == tb[-1] \
            or ta[-1] in ta[:-1] or tb[-1] in ta:
        return None
    a, b = es.inputs
    sa, sb, so, sr = (tuple(g.shapes.get(t, ())) for t in (a, b, es.outputs[0], rs.outputs[0]))
    if not sa or sa[:-1] != sb[:-1] or so != sa + sb[-1:] or sr != sa[:-1] + (sa[-1] * sb[-1],):
        return None
    if np.shape(w)[0] != sa[-1] * sb[-1]:
        return None
    return a, b, np.asarray(w, dtype=np.float64).reshape(sa[-1], sb[-1], -1)


def _make_bilinear(g, node, a, b, c, irreps=None, basis=None):
    cname = g.add_const(node.name.strip("/").replace("/", "_") + "_cg", np.asarray(c, dtype=np.float64))
    attrs = {} if irreps is None else {"irreps": irreps}
    if basis is not None:
        attrs["irreps_basis"] = tuple(tuple(float(v) for v in row) for row in basis)
    g.replace(node, [eq_node("Bilinear", node.name, [a, b, cname], [node.outputs[0]], **attrs)])
    return True


def _infer_or_warn(node, c, what):
    """(irreps record, basis or None): the standard bases first, then basis-free; a warning that no
    symmetry is certified when neither fits."""
    found = infer_irreps(c)
    if found is not None:
        return found, None
    free = induce_irreps(c)
    if free is None:
        warnings.warn(f"{what} '{node.name}': no O(3) or Lorentz irreps fit its coefficient tensor "
                      f"{list(np.shape(c))} in any output basis; lowered as a plain bilinear map, no symmetry is "
                      f"certified for it", UserWarning, stacklevel=2)
        return None, None
    return free


# Output irreps tried by the basis-free recognition: O(3) up to this degree.
_MAX_INDUCED_L = 4


def _o3_output_candidates(dk: int) -> list:
    """(name, D) of the O(3) irreps of dimension <= dk, by degree, natural parity first."""
    out = []
    for l in range(min(_MAX_INDUCED_L, (dk - 1) // 2) + 1):
        for p in ("eo" if l % 2 == 0 else "oe"):
            out.append((f"1x{l}{p}", Irreps.parse(f"1x{l}{p}").D))
    return out


def _lorentz_rep(name: str):
    """Lambda -> the real form's matrix (the test elements are Lorentz by construction)."""
    return lambda L: rep_matrix(name, L, check=False)


def _lorentz_output_candidates() -> list:
    return [(n, _lorentz_rep(n)) for n in REAL_REPS]


def _o3_content(names) -> str:
    """('1x0e', '1x1o', '1x1o') -> '1x0e+2x1o' (consecutive copies merged)."""
    merged = []
    for n in names:
        ir = Irrep(n[2:])
        if merged and merged[-1][1] == ir:
            merged[-1][0] += 1
        else:
            merged.append([1, ir])
    return "+".join(f"{m}x{ir}" for m, ir in merged)


def induced_output(c, in1: str, in2: str):
    """(output content, basis Q [Dk, Dk]) that c [Da, Db, Dk] induces from inputs in1 ⊗ in2 (O(3)
    irreps strings or real Lorentz forms), or None when c intertwines into no representation or
    its output is not a sum of the standard irreps. Output = Q · standard coordinates."""
    lorentz = _is_lorentz_name(in1)
    if lorentz:
        rho = [_lorentz_rep(n) for n in (in1, in2)]
        cands = _lorentz_output_candidates()
    else:
        rho = [Irreps.parse(n).D for n in (in1, in2)]
        cands = _o3_output_candidates(np.shape(c)[2])
    found = induced.induced_irreps(c, rho[0], rho[1], _test_elements(lorentz), cands)
    if found is None:
        return None
    content = "+".join(found.names) if lorentz else _o3_content(found.names)
    return content, found.basis


# Largest output dimension the basis-free recognition decomposes (its linear systems grow as Dk^2 d^2).
_MAX_INDUCED_DIM = 32


def induce_irreps(c):
    """(record "in1*in2->out", basis Q) from the representation c [Da, Db, Dk] induces on its output
    (symmetry/induced.py), trying single O(3) irreps of natural parity for the inputs (the output
    parities follow; with both inputs of the other parity they are the same), then the real
    Lorentz forms by dimension; None when none fits. An all-zero c certifies nothing."""
    da, db, dk = np.shape(c)
    if not np.any(c) or dk > _MAX_INDUCED_DIM:
        return None
    trials = []
    if _o3_candidates(da) and _o3_candidates(db):
        trials.append((_o3_candidates(da)[0], _o3_candidates(db)[0]))
    trials += [(n1, n2) for n1 in _LORENTZ_BY_DIM.get(da, []) for n2 in _LORENTZ_BY_DIM.get(db, [])]
    for n1, n2 in trials:
        found = induced_output(c, n1, n2)
        if found is not None:
            return f"{n1}*{n2}->{found[0]}", found[1]
    return None


def _tensor_product_cg(g, node):
    from onnx import numpy_helper

    cg = node.attrs.get("cg")
    if cg is None:
        raise ModelError(f"TensorProduct '{node.name}': attribute cg (the [Da, Db, Dk] coefficient tensor) is missing")
    c = np.asarray(numpy_helper.to_array(cg) if not isinstance(cg, np.ndarray) else cg, dtype=np.float64)
    a, b = node.inputs[:2]
    sa, sb = g.shapes[a], g.shapes[b]
    if c.ndim != 3 or c.shape[:2] != (sa[-1], sb[-1]):
        raise ModelError(f"TensorProduct '{node.name}': cg has shape {list(c.shape)} but a is {list(sa)} and b is "
                         f"{list(sb)} (need [{sa[-1]}, {sb[-1]}, Dk])")
    if tuple(sa[:-1]) != tuple(sb[:-1]):
        raise ModelError(f"TensorProduct '{node.name}': a {list(sa)} and b {list(sb)} must share their leading axes")
    return c


@supports(
    Supports(("equihls::TensorProduct",), "`equihls::TensorProduct(a, b, cg=C, irreps_in1, irreps_in2, irreps_out)`",
             "Bilinear",
             "custom node from `equihls.ops.torch_ops.tensor_product`; C must intertwine the declared irreps, in the "
             "standard basis or in its own output basis (else an error naming the node)"),
    Supports(("Einsum",), "`Einsum(\"<p>i,<p>j,ijk-><p>k\", a, b, C)` (C constant rank 3, any operand position, any "
             "common prefix incl. `...`)", "Bilinear",
             "irreps inferred (single O(3) irreps, real Lorentz forms; in any output basis, e.g. Cartesian) and "
             "recorded; no fit: lowered with a warning that no symmetry is certified"),
    Supports(("Einsum", "Reshape", "MatMul"), "`MatMul(Reshape(Einsum(\"<p>i,<p>j-><p>ij\", a, b)), W)` (e3nn's "
             "outer product, then a constant [Da·Db, Dk] CG matrix)", "Bilinear",
             "irreps inferred (single O(3) irreps, real Lorentz forms; in any output basis) and recorded; no fit: "
             "lowered with a warning that no symmetry is certified"))
def recognize_tensor_products(g) -> bool:
    """Rewrite equihls::TensorProduct nodes and bilinear Einsums into Bilinear nodes.

    TensorProduct with declared irreps: the coefficient tensor must intertwine them
    (ModelError naming the node otherwise). Undeclared irreps and Einsum('<p>i,<p>j,ijk-><p>k')
    with a rank-3 constant: the irreps are inferred (`infer_irreps`) and recorded in
    attrs["irreps"]; if none fit, the node is still lowered with a UserWarning that no symmetry
    is certified for it. Other Einsums are left alone (and refused later)."""
    changed = False
    for node in list(g.nodes):
        if node.domain == DOMAIN and node.op == "TensorProduct":
            c = _tensor_product_cg(g, node)
            names = [str(node.attrs.get(k, "") or "").strip() for k in ("irreps_in1", "irreps_in2", "irreps_out")]
            desc = f"TensorProduct '{node.name}'"
            if all(names):
                found = _check_declared(desc, c, names)
            elif any(names):
                raise ModelError(f"{desc}: declare all of irreps_in1, irreps_in2, irreps_out or none "
                                 f"(got {names})")
            else:
                found = _infer_or_warn(node, c, "TensorProduct")
            changed |= _make_bilinear(g, node, node.inputs[0], node.inputs[1], c, *found)
        elif node.domain == "" and node.op == "Einsum":
            hit = _match_bilinear_einsum(g, node)
            if hit:
                a, b, c = hit
                changed |= _make_bilinear(g, node, a, b, c, *_infer_or_warn(node, c, "Einsum"))
        elif node.domain == "" and node.op == "MatMul":
            hit = _match_outer_reshape_matmul(g, node)
            if hit:
                a, b, c = hit
                changed |= _make_bilinear(g, node, a, b, c, *_infer_or_warn(node, c, "outer product + MatMul"))
    return changed


def _check_declared(desc: str, c, names):
    """(record, basis or None) for declared irreps: the standard basis (check_intertwiner), else the
    output basis the coupling induces from the declared inputs when its irreps are the declared
    output's; the standard-basis error when neither holds."""
    try:
        return check_intertwiner(desc, c, names), None
    except ModelError as err:
        if "not an intertwiner" not in str(err) or np.shape(c)[2] > _MAX_INDUCED_DIM:
            raise
        found = induced_output(c, names[0], names[1])
        if found is None:
            raise
        basis = induced.reorder_basis(Rep(found[0]).copies(), found[1], Rep(names[2]).copies())
        if basis is None:
            raise ModelError(f"{err}; in its own output basis it couples {names[0]} ⊗ {names[1]} -> {found[0]}, "
                             f"not {names[2]}") from None
        return f"{names[0]}*{names[1]}->{names[2]}", basis


def _coupling_state(g, t):
    """(content, basis Q [D, D], rows R, names) of tensor t when recognised couplings compute it,
    through sums over rows (particles) and routings of whole vectors; None otherwise. t's per-event
    values are R rows of D components, each row Q · standard coordinates of `content`."""
    p = g.producer(t)
    if p is None:
        return None
    per_event = int(np.prod(g.shapes[t][1:], dtype=np.int64))
    if p.op == "Bilinear" and p.attrs.get("irreps"):
        content = p.attrs["irreps"].split("->")[1]
        q = p.attrs.get("irreps_basis")
        d = int(g.shapes[t][-1])
        return content, (np.eye(d) if q is None else np.asarray(q, dtype=np.float64)), per_event // d, (p.name,)
    if p.op == "ReduceSum":
        s = _coupling_state(g, p.inputs[0])
        if s is None or per_event != s[1].shape[0]:
            return None
        n, src, d = int(p.attrs["n_reduce"]), np.asarray(p.attrs["src"]), s[1].shape[0]
        comp = (src % d).reshape(per_event, n)
        if not (comp == comp[:, :1]).all() or sorted(comp[:, 0]) != list(range(d)):
            return None                  # a sum that mixes components, or not every component once
        return s[0], s[1][comp[:, 0]], 1, (*s[3], p.name)
    if p.op in ("Route", "Concat2"):
        parts = [_coupling_state(g, i) for i in p.inputs]
        if any(s is None or s[2] != 1 for s in parts) or len({_is_lorentz_name(s[0]) for s in parts}) != 1:
            return None
        q = parts[0][1]
        for s in parts[1:]:
            q = np.block([[q, np.zeros((len(q), len(s[1])))], [np.zeros((len(s[1]), len(q))), s[1]]])
        src = np.asarray(p.attrs["src"])
        if sorted(src.tolist()) != list(range(len(q))):
            return None                  # a selection or a broadcast: not the whole representation
        return "+".join(s[0] for s in parts), q[src], 1, sum((s[3] for s in parts), ()) + (p.name,)
    return None


def output_representation(g, t):
    """(content, basis Q or None for the standard basis, producing nodes) of a graph output that
    recognised couplings compute (directly, summed over particles, concatenated, permuted), or None."""
    s = _coupling_state(g, t)
    if s is None or s[2] != 1 and g.producer(t).op != "Bilinear":
        return None
    content, q, _, names = s
    return content, (None if np.allclose(q, np.eye(len(q))) else q), ", ".join(names)

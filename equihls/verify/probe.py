"""Compile-time probe of the exact symmetry lines: finds roundings that break them.

Rounding a tensor that transforms under the group (a four-vector, a 1o vector) does not commute
with the group action, so the firmware stops being exactly equivariant on the lattice-preserving
elements (integer Lorentz words, signed axis permutations) even though every block is bit-exact.
`equihls check` finds that later; this probe finds it at compile time and names the cause.

It runs the numpy twin (bit-identical to the C simulation, which the self-check has just
established) on the sample events and on their images under a few exact elements of each
declared group. When an output does not transform exactly, the suspects are the rounded tensors
whose exact (pre-rounding) values change under an element without a particle permutation: an
invariant tensor is unchanged there, so its rounding cannot be the cause.
"""
from __future__ import annotations

import numpy as np

from . import check
from ..symmetry import groups as G
from ..blocks import twin

DEFAULT_ELEMENTS = 4      # exact elements per line
DEFAULT_EVENTS = 128      # sample events probed


def rounded_tensors(g, prec) -> list:
    """Computed tensors, in graph order, whose type has fewer fractional bits than the exact
    result of their node (they round)."""
    return [n.outputs[0] for n in g.nodes if prec.types[n.outputs[0]].frac < prec.acc_frac[n.name]]


def _upstream(g, t: str) -> set:
    """Every tensor that `t` is computed from (transitively)."""
    seen, todo = set(), [t]
    while todo:
        node = g.producer(todo.pop())
        for i in (node.inputs if node else []):
            if i not in seen:
                seen.add(i)
                todo.append(i)
    return seen


def _root_causes(g, suspects: list) -> list:
    """The suspects not computed from another suspect: a tensor downstream of a broken one
    changes because of it, so only the first roundings on each path are causes."""
    return [t for t in suspects if not (_upstream(g, t) & set(suspects))]


def _twin(g, prec, xs: list):
    """Twin on float events (on the input grid) -> (outputs as float arrays [n, *shape], accs)."""
    raw_in = {i: prec.types[i].from_float(x.reshape(len(x), -1))[0] for i, x in zip(g.inputs, xs)}
    raws, _, accs = twin.run(g, prec, raw_in, trace=True)
    ys = [prec.types[o].to_float(raws[o]).reshape(len(xs[0]), *g.shapes[o][1:]) for o in g.outputs]
    return ys, accs


def probe(g, prec, spec: dict | None, x_q: dict, n_elements: int = DEFAULT_ELEMENTS,
          n_events: int = DEFAULT_EVENTS, seed: int = 0) -> dict | None:
    """Exact-line probe of graph `g` with types `prec` against the declared symmetry `spec`
    (check.declare_symmetry's dict, or None: returns None).

    x_q: input name -> events [batch, *shape] already on the input type's grid (the first
    `n_events` are used). Each exact line is :func:`equihls.check.exact_line` with the twin as the
    simulator, on elements that can be compared exactly and move something
    (:func:`equihls.verify.check.comparable_elements`). Returns
    {"lines": [{group, line, elements, pairs, mismatched, verdict}], "group_verdicts",
    "verdict", "passed", "suspects": [{tensor, type, exact_type}]}: verdicts as in
    :func:`equihls.check.summarize` (a line that compared 0 pairs is "not checked", and so is a
    group none of whose lines compared anything; "passed" only when every group passed);
    suspects are the rounded tensors (graph order) that are not invariant on the mismatching
    events and not computed from another such tensor, with the accumulator type that keeps them
    exact (for ``--type``); covariant_rounded: every rounded tensor whose exact value some checked
    element without permutation or translation changes (a sign flip, an integer Lorentz matrix),
    mismatch or not.
    """
    if not spec:
        return None
    xs = [np.asarray(x_q[i], dtype=np.float64)[:n_events] for i in g.inputs]
    last = {}

    def run(*xx):
        ys, last["accs"] = _twin(g, prec, list(xx))
        return ys

    ctx = check.Context(spec, xs, run, [prec.types[i] for i in g.inputs], [prec.types[o] for o in g.outputs],
                        [g.shapes[i][1:] for i in g.inputs], [g.shapes[o][1:] for o in g.outputs],
                        None, check.Progress(0, "symmetry probe", enabled=False))
    n_part = next((g.shapes[i][1] for i in g.inputs if len(g.shapes[i]) >= 3), None)
    lsb = min(prec.types[i].lsb for i in g.inputs)
    rng = np.random.default_rng(seed)
    lines = [check.comparable_elements(ctx, ln, n_elements, rng, moving_only=True) for grp in spec["groups"]
             for ln in G.lines_for(grp, n_part, n_elements, rng, lsb=lsb) if ln.exact]
    y0 = ctx.sim(xs)
    acc0 = last["accs"]
    rounded = rounded_tensors(g, prec)
    suspect, moved = set(), set()

    def note(el, idx, same):
        # only elements without a particle permutation leave an invariant tensor element-wise equal
        if el.perm is None:
            changed = {t: last["accs"][t] != acc0[t][idx] for t in rounded}
            if el.shift is None:        # a sign flip or integer matrix, no translation
                moved.update(t for t, c in changed.items() if c.any())
            bad = ~same
            if bad.any():
                suspect.update(t for t, c in changed.items() if c[bad].any())

    results = [{k: r[k] for k in ("group", "line", "elements", "pairs", "mismatched")}
               for r in (check.exact_line(ctx, ln, xs, y0, on_compare=note) for ln in lines)]
    for r in results:
        r["verdict"] = check.NOT_CHECKED if r["pairs"] == 0 else check.FAIL if r["mismatched"] else check.PASS
    by_group, verdict = check.summarize(results, spec["groups"])
    causes = _root_causes(g, [t for t in rounded if t in suspect])
    return {"lines": results, "group_verdicts": by_group, "verdict": verdict, "passed": verdict == check.PASS,
            "suspects": [{"tensor": t, "type": prec.types[t].cpp(),
                          "exact_type": prec.acc[g.producer(t).name].with_modes("AP_TRN", "AP_WRAP").cpp()}
                         for t in causes],
            "covariant_rounded": [t for t in rounded if t in moved]}


def format_probe(res: dict) -> str:
    """One warning paragraph for a failed or not checked probe ('' when it passed or did not run)."""
    if not res or res["passed"]:
        return ""
    if res.get("verdict") == check.NOT_CHECKED:
        return (f"equihls: warning: symmetry probe {check.verdict_text(res)} on the samples (the transformed "
                f"events left the input or output type, or no exact element acts by integer matrices): it proves "
                f"nothing about those groups; run `equihls check` on events that stay in range.")
    bad = "; ".join(f"{r['group']} {r['line']}: {r['mismatched']} of {r['pairs']} pairs"
                    for r in res["lines"] if r["mismatched"])
    lines = [f"equihls: warning: the exact symmetry lines fail on the samples ({bad}): the firmware will not "
             f"pass `equihls check`."]
    if res["suspects"]:
        lines.append("  rounded tensors that are not invariant (rounding them does not commute with the group); "
                     "keep them exact with:")
        lines += [f"    --type '{s['tensor']}={s['exact_type']}'   (now {s['type']})" for s in res["suspects"]]
    else:
        lines.append("  no rounded non-invariant tensor found: the model itself is not exactly equivariant")
    return "\n".join(lines)


def format_auto_exact(rec: dict | None) -> str:
    """The compile/report lines of driver.stage_keep_covariant_exact's record {enabled, tensors:
    [{tensor, from, to}], odd_rounding: [{tensor, from, to}], cost: {dsp|lut|ff: [before, after]}}
    ('' when it changed nothing)."""
    if not rec or not (rec.get("tensors") or rec.get("odd_rounding")):
        return ""
    lines = []
    for key, what in (("odd_rounding", "rounded with AP_RND_CONV for the declared sign flips (round(-x) = "
                                       "-round(x); --no-auto-exact to keep AP_RND)"),
                      ("tensors", "kept exact for the declared symmetry (--no-auto-exact to round them)")):
        if rec.get(key):
            lines.append(f"equihls: {what}: {', '.join(t['tensor'] for t in rec[key])}")
            lines += [f"  {t['tensor']}: {t['from']} -> {t['to']}" for t in rec[key]]
    lines.append("  cost " + ", ".join(f"{k.upper()} {a:,} -> {z:,}" for k, (a, z) in rec["cost"].items()))
    return "\n".join(lines)

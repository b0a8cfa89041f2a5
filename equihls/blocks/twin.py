"""Bit-exact numpy twin of a compiled graph: runs every block's twin on raw integers."""
from __future__ import annotations

import numpy as np

from . import block_for


def run(g, prec, inputs_raw: dict, trace: bool = False):
    """Evaluate the fixed-point graph.

    Args:
        g: IR graph (all equihls nodes); prec: its Precision.
        inputs_raw: graph input name -> raw ints [batch, per-event size] in the input type.
    Returns:
        (raws: tensor -> raw ints [batch, size], overflow: tensor -> count of values that did not
        fit the output type (only possible for user-overridden types)), plus with trace=True
        accs: tensor -> exact pre-rounding raw ints at the node's accumulator fraction (the exact
        result even where the user narrowed the accumulator, so envelopes include that rounding).
    """
    batch = next(iter(inputs_raw.values())).shape[0]
    raws = dict(inputs_raw)
    for c, q in prec.qconst.items():
        raws[c] = np.broadcast_to(np.asarray(q).reshape(1, -1), (batch, np.asarray(q).size))
    overflow = {}
    accs = {}
    for node in g.nodes:
        blk = block_for(node)
        acc_raw = blk.twin(g, node, raws, prec.types, prec.qconst, prec.acc_frac[node.name])
        acc_raw = np.broadcast_to(acc_raw, (batch, acc_raw.shape[1]))
        out = node.outputs[0]
        if node.name in prec.acc_narrowed:
            acc_t = prec.acc_narrowed[node.name]
            narrow, n_ovf = blk.twin_accumulate(g, node, raws, prec.types, acc_t)
            raws[out], overflow[out] = prec.types[out].quantize_raw(narrow, acc_t.frac)
            if n_ovf:
                overflow[f"{node.name}.accum"] = n_ovf
        else:
            raws[out], overflow[out] = prec.types[out].quantize_raw(acc_raw, prec.acc_frac[node.name])
        if trace:
            accs[out] = acc_raw
    return (raws, overflow, accs) if trace else (raws, overflow)


def predict_raw(g, prec, x: dict) -> dict:
    """Float inputs -> the outputs' raw integers (value x 2^frac; int64 or object arrays), inputs
    converted as the hardware does."""
    raws_in = {}
    for name, v in x.items():
        v = np.asarray(v, dtype=np.float64)
        raws_in[name] = prec.types[name].from_float(v.reshape(v.shape[0], -1))[0]
    raws, _ = run(g, prec, raws_in)
    return {o: raws[o] for o in g.outputs}


def predict(g, prec, x: dict) -> dict:
    """Float inputs -> float outputs of the fixed-point model (inputs converted as the hardware does)."""
    return {o: prec.types[o].to_float(r) for o, r in predict_raw(g, prec, x).items()}

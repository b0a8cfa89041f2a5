"""Overflow accounting: which tensors overflowed or rounded on given inputs.

Counts come from the traced C simulation (ip_blocks' store(): a value overflowed when, after
its type's rounding, it lies outside the type's range, so it saturated or wrapped), from the
input ports (values outside the input type) and, for user-narrowed accumulators, from the numpy
twin (the only place a value is lost inside a block). A rounding of a tensor the compiler
promised exact is reported as a violation: it would mean a lowering error.
"""
from __future__ import annotations

import numpy as np

from ..backend.csim import TRACE_FIELDS, out_of_range


def trace_report(nodes: list, tensors: dict, counts: np.ndarray, flags: np.ndarray,
                 inputs: dict | None = None, input_types: dict | None = None,
                 accum_overflow: dict | None = None) -> dict:
    """Per-tensor overflow/rounding report.

    Args:
        nodes: manifest "nodes" (their order is the blocks' trace ids).
        tensors: manifest "tensors" (C name -> {onnx_name, type, exact, user_override, ...}).
        counts: int [len(nodes), 3] from CSim.run(..., n_blocks=...) (values, overflow, rounded).
        flags: bool [batch], events in which some block output overflowed.
        inputs / input_types: input name -> float64 array [batch, ...] as given (before the port's
            conversion) / its FixedType; values outside the type count as input overflows.
        accum_overflow: node name -> accumulator overflows of user-narrowed accumulators (twin).
    Values clipped by a quantiser of the model (tensors with "quantizer") are counted as
    "clipped", not as overflows (the C-sim does not flag their events either).
    Returns a JSON-able dict: tensors (onnx name -> counts and flags), inputs, accumulators,
    n_events, events_with_overflow, first_rows (up to 10), n_overflow, n_rounding_violations.
    """
    by_onnx = {t["onnx_name"]: t for t in tensors.values()}
    rep = {"n_events": int(len(flags)), "tensors": {}, "inputs": {}, "accumulators": {}}
    bad_rows = flags.copy()
    for node, row in zip(nodes, np.asarray(counts)):
        out = node["outputs"][0]
        t = by_onnx.get(out, {})
        c = {f: int(v) for f, v in zip(TRACE_FIELDS, row)}
        c.update(node=node["name"], op=node["op"], type=t.get("type"), exact=bool(t.get("exact", False)),
                 user_override=bool(t.get("user_override", False)), calibrated=t.get("calibrated") is not None)
        c["rounding_violation"] = bool(c["exact"] and c["rounded"] > 0)
        if t.get("quantizer"):   # a model's Quant clips by definition: counted, not an overflow
            c["clipped"], c["overflow"] = c["overflow"], 0
        rep["tensors"][out] = c
    for name, x in (inputs or {}).items():
        x, t = np.asarray(x, dtype=np.float64), input_types[name]
        out = out_of_range(x, t)
        rep["inputs"][name] = {"values": int(x.size), "overflow": int(out.sum()), "type": t.cpp(),
                               "max_abs": float(np.abs(x).max()) if x.size else 0.0}
        bad_rows |= out.any(axis=1)
    rep["accumulators"] = {k: int(v) for k, v in (accum_overflow or {}).items() if v}
    rep["n_overflow"] = (sum(c["overflow"] for c in rep["tensors"].values())
                         + sum(c["overflow"] for c in rep["inputs"].values()) + sum(rep["accumulators"].values()))
    rep["n_rounding_violations"] = sum(c["rounding_violation"] for c in rep["tensors"].values())
    rep["events_with_overflow"] = int(bad_rows.sum())
    rep["first_rows"] = [int(r) for r in np.flatnonzero(bad_rows)[:10]]
    return rep


def format_trace(rep: dict, all_tensors: bool = False) -> str:
    """Readable table of a trace_report: the tensors that overflowed or broke exactness (all
    tensors with all_tensors=True)."""
    lines = [f"overflow trace on {rep['n_events']} events: {rep['n_overflow']} value(s) overflowed in "
             f"{rep['events_with_overflow']} event(s); {rep['n_rounding_violations']} exact tensor(s) rounded"]
    rows = [(name, c["op"], c["type"], c["values"], c["overflow"], c["rounded"],
             "exact" + (" VIOLATED" if c["rounding_violation"] else "") if c["exact"] else
             ("override" if c["user_override"] else "calibrated" if c["calibrated"] else ""))
            for name, c in rep["tensors"].items()
            if all_tensors or c["overflow"] or c["rounding_violation"]]
    rows += [(name, "input", c["type"], c["values"], c["overflow"], "-", "") for name, c in rep["inputs"].items()
             if all_tensors or c["overflow"]]
    rows += [(f"{n}.accum", "accumulator", "", "-", v, "-", "narrowed (twin)") for n, v in rep["accumulators"].items()]
    if rows:
        w = max(len(r[0]) for r in rows)
        lines.append(f"  {'tensor':{w}}  {'op':14} {'type':34} {'values':>10} {'overflow':>9} {'rounded':>9}  note")
        lines += [f"  {r[0]:{w}}  {r[1]:14} {str(r[2] or ''):34} {r[3]:>10} {r[4]:>9} {r[5]:>9}  {r[6]}" for r in rows]
    if rep["first_rows"]:
        lines.append(f"  first events with overflow: {rep['first_rows']}")
    return "\n".join(lines)

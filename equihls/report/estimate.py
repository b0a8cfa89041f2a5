"""Resource and latency estimates of a compiled graph, per block, before any vendor tool runs.

Each block reports its own cost (Block.cost: products, adders, tables and the chain of operation
delays on its critical path) in terms of the device model of blocks/cost.py, whose docstring
states the model and names every constant. Here the costs are summed into resources and the
critical paths are scheduled ASAP across block boundaries at the target clock.
"""
from __future__ import annotations

from ..blocks import block_for
from ..blocks.base import per_event, size
from ..blocks.cost import (BRAM_READ_CYCLES, CLOCK_UNCERTAINTY, DSP_MIN_WIDTH, FABRIC_MULT_LUT_PER_BIT2, BlockCost,
                           dsp_slices, fabric_mult_luts, rom_cost, share_mux_luts, shared_units)


def _resources(c: BlockCost, ii: int = 1) -> dict:
    """The block's resources with each multiplier serving up to `ii` products (blocks/cost.py,
    Sharing): multipliers counts the units left, products the products computed per event."""
    units = [(shared_units(cnt, ii), cnt, a, b) for cnt, a, b, _ in c.products]
    dsp = sum(u * dsp_slices(a, b) for u, _, a, b in units)
    fab = [(u, a, b) for u, _, a, b in units if not dsp_slices(a, b)]
    mux = sum(u * share_mux_luts(a, b, ii) for u, cnt, a, b in units if cnt > u)
    ports = [(shared_units(n, ii), n, entries, w_out, w_in) for n, entries, w_out, w_in in c.tables]
    roms = [rom_cost(p, entries, w_out) for p, _, entries, w_out, _ in ports]
    mux += sum(p * share_mux_luts(w_in, 0, ii) for p, n, _, _, w_in in ports if n > p)
    lut = (sum(u * fabric_mult_luts(a, b) for u, a, b in fab) + sum(cnt * w for cnt, w in c.adders)
           + c.lut_other + mux + sum(r[0] for r in roms))
    return {"multipliers": sum(u for u, *_ in units), "products": sum(cnt for _, cnt, _, _ in units),
            "dsp_multipliers": sum(u for u, _, a, b in units if dsp_slices(a, b)),
            "lut_multipliers": sum(u for u, *_ in fab), "dsp": dsp, "lut": lut,
            "bram18": c.bram18 + sum(r[1] for r in roms), "table_ports": sum(p for p, *_ in ports),
            "share_ff": sum((cnt - u) * (a + b) for u, cnt, a, b in units)
                        + sum((n - p) * w_out for p, n, _, w_out, _ in ports),
            "share_lut": mux,
            "shared": any(cnt > u for u, cnt, _, _ in units) or any(n > p for p, n, *_ in ports)}


def _schedule(ops: list, start: tuple, budget: float) -> tuple:
    """ASAP placement of a chain of operation delays from (cycle, ns used in that cycle)."""
    cyc, used = start
    for d in ops:
        if d == "bram":
            cyc, used = cyc + (1 if used > 0 else 0) + BRAM_READ_CYCLES, 0.0
        elif used + d > budget:
            cyc, used = cyc + 1, d
        else:
            used += d
    return cyc, used


def estimate(g, prec, target, clock_ns: float, post_adder: bool = True, ii: int = 1) -> dict:
    """Estimate a typed graph on `target` (targets.Target) at clock_ns (ns).

    post_adder=False puts every addition in fabric (no DSP48E2 post-adder absorbs one), as
    yosys' synth_xilinx does for UltraScale+; used by the RTL cross-check. ii: the initiation
    interval K, each multiplier serving up to K products of its block (blocks/cost.py, Sharing).

    Returns {"blocks": [per-block dict], "total": {...}, "target": ..., "model": ...}; each block
    has multipliers / dsp_multipliers / lut_multipliers / dsp / lut / ff / bram18, its start and
    end cycle, latency_cycles and notes; total adds latency_cycles (and ns), ii and the fraction
    of the target's capacity of each resource."""
    budget = clock_ns * (1 - CLOCK_UNCERTAINTY)
    ready = {t: (0, 0.0) for t in g.inputs}
    ready.update({t: (0, 0.0) for t in g.consts})
    blocks = []
    for node in g.nodes:
        c = block_for(node).cost(g, node, prec, post_adder)
        out = node.outputs[0]
        start = max(ready[t] for t in node.inputs)
        r = _resources(c, ii)
        end = _schedule(c.ops, start, budget)
        if r.pop("shared"):
            end = (end[0] + ii - 1, end[1])     # the shared multipliers take K cycles per event
        ready[out] = end
        out_bits = size(per_event(g.shapes[out])) * prec.types[out].width
        r["ff"] = out_bits * (end[0] - start[0]) + r.pop("share_ff")
        blocks.append({"node": node.name, "op": node.op, "output": out, **r,
                       "start_cycle": start[0], "end_cycle": end[0], "latency_cycles": end[0] - start[0],
                       "notes": c.notes})
    last = max(ready[o] for o in g.outputs)
    latency = last[0] + 1   # the output register
    total = {k: sum(b[k] for b in blocks) for k in ("multipliers", "products", "dsp_multipliers",
                                                    "lut_multipliers", "dsp", "lut", "ff", "bram18")}
    total.update(latency_cycles=latency, latency_ns=latency * clock_ns, ii=ii,
                 fraction={"lut": total["lut"] / target.lut, "ff": total["ff"] / target.ff,
                           "dsp": total["dsp"] / target.dsp, "bram18": total["bram18"] / target.bram18})
    return {"blocks": blocks, "total": total, "clock_ns": clock_ns,
            "target": {"name": target.name, "lut": target.lut, "ff": target.ff, "dsp": target.dsp,
                       "bram18": target.bram18},
            "model": {"dsp_min_width": DSP_MIN_WIDTH, "clock_uncertainty": CLOCK_UNCERTAINTY,
                      "fabric_mult_lut_per_bit2": FABRIC_MULT_LUT_PER_BIT2}}


def format_estimate(est: dict) -> str:
    """Readable per-block table and totals of an estimate."""
    rows = [f"{'block':28} {'op':14} {'mult':>6} {'DSP':>6} {'LUTmul':>6} {'LUT':>9} {'FF':>9} {'BRAM18':>6} "
            f"{'cycles':>6}"]
    for b in est["blocks"]:
        rows.append(f"{b['node'][:28]:28} {b['op']:14} {b['multipliers']:>6} {b['dsp']:>6} {b['lut_multipliers']:>6} "
                    f"{b['lut']:>9,} {b['ff']:>9,} {b['bram18']:>6} {b['latency_cycles']:>6}")
    t = est["total"]
    rows.append(f"{'total':28} {'':14} {t['multipliers']:>6} {t['dsp']:>6} {t['lut_multipliers']:>6} {t['lut']:>9,} "
                f"{t['ff']:>9,} {t['bram18']:>6}")
    f = t["fraction"]
    rows.append(f"  of {est['target']['name']}: DSP {100 * f['dsp']:.2f}%  LUT {100 * f['lut']:.2f}%  "
                f"FF {100 * f['ff']:.2f}%  BRAM18 {100 * f['bram18']:.2f}%")
    rows.append(f"  latency {t['latency_cycles']} cycles = {t['latency_ns']:.1f} ns at {est['clock_ns']} ns, II = "
                f"{t['ii']}")
    for b in est["blocks"]:
        if "dense_multipliers" in b["notes"]:
            n = b["notes"]
            rows.append(f"  {b['node']}: {n['multipliers']} multipliers vs {n['dense_multipliers']} for the dense "
                        f"form ({n['multipliers'] / n['dense_multipliers']:.3f})")
    return "\n".join(rows)

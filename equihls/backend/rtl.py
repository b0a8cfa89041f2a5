"""Open-source RTL cross-check of the resource estimator (yosys + Icarus Verilog, no vendor tools).

The pairwise scalar-products IP block is emitted as plain Verilog-2001, synthesised for
UltraScale+ with ``yosys synth_xilinx`` to count LUT/FF/DSP48E2/carry cells, and simulated with
``iverilog``/``vvp`` to show that the Verilog computes the same integers as numpy.
yosys 0.23 quirks that matter when comparing with Vivado: xcup carry chains are CARRY4, DSP48E2
registers/post-adders are never packed (see yosys_synth_stats), a multi-term sum becomes a
carry-save compressor ($macc), and fabric multipliers are far larger than Vivado's.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

from ..blocks.scalar_products import ScalarProducts
from ..errors import EquihlsError
from ..ir.fixedpoint import exact_type

LOG_TAIL_CHARS = 3000


def _tail(text: str) -> str:
    return text[-LOG_TAIL_CHARS:]


def _metric(d: int, neg_mask: int) -> list[int]:
    """The block's diagonal metric (+1 / -1 per component) of an RTL neg_mask over d components."""
    return [-1 if (neg_mask >> k) & 1 else 1 for k in range(d)]


def scalar_products_range(d: int, width: int, neg_mask: int) -> tuple[int, int]:
    """Exact [min, max] of sum_d s_d x_i[d] x_j[d] for signed ``width``-bit raw integers: the
    ScalarProducts block's own interval, over every pair of vectors."""
    half = 1 << (width - 1)
    return ScalarProducts.raw_range(-half, half - 1, _metric(d, neg_mask))


def scalar_products_out_width(d: int, width: int, neg_mask: int) -> int:
    """Exact output width of one scalar product (at most 2*width + ceil(log2 d)): the block's
    exact accumulator type of that interval."""
    lo, hi = scalar_products_range(d, width, neg_mask)
    return exact_type(min(lo, 0), max(hi, 0), 0).width


def pair_list(n: int) -> list[tuple[int, int]]:
    """The computed pairs (i, j), i <= j, in row-major order: the order of the output bus."""
    return [(i, j) for i in range(n) for j in range(i, n)]


def _check_args(n: int, d: int, width: int):
    if n < 1 or d < 1 or width < 2:
        raise EquihlsError(f"scalar products RTL: need n >= 1, d >= 1, width >= 2 (got n={n}, d={d}, width={width})")


def scalar_products_verilog(n: int, d: int, width: int, neg_mask: int, registered: bool = True,
                            module: str = "equihls_scalar_products", adder_chain: bool = False) -> str:
    """Synthesisable Verilog-2001 for the pairwise scalar products of n vectors of dimension d.

    Ports: ``x`` (n*d*width bits, element (i, k) at ``[(i*d+k)*width +: width]``), ``y``
    (one exact-width signed result per pair i <= j, row-major, pair p at ``[p*OW +: OW]``) and,
    when ``registered``, ``clk``: the products and the outputs then get one register stage each
    (latency 2), so a DSP-aware tool can pack the product register into the MREG.
    ``adder_chain``: build the d-term sum as a chain of d-1 two-input add/sub instances of a
    ``(* keep_hierarchy *)`` submodule (one carry chain each, as Vivado would); otherwise it is one
    expression, which yosys merges into a $macc carry-save compressor tree.
    """
    _check_args(n, d, width)
    w, ow = width, scalar_products_out_width(d, width, neg_mask)
    pairs = pair_list(n)
    pw = 2 * w
    ports = (["clk", "x", "y"] if registered else ["x", "y"])
    lines = [f"// equihls pairwise scalar products: n={n} d={d} W={w} neg_mask=0x{neg_mask:x} out W={ow}",
             f"module {module} ({', '.join(ports)});"]
    if registered:
        lines.append("  input wire clk;")
    lines += [f"  input wire [{n * d * w - 1}:0] x;", f"  output wire [{len(pairs) * ow - 1}:0] y;"]
    for i in range(n):
        for k in range(d):
            b = (i * d + k) * w
            lines.append(f"  wire signed [{w - 1}:0] x_{i}_{k} = x[{b + w - 1}:{b}];")
    for p, (i, j) in enumerate(pairs):
        terms = []
        for k in range(d):
            m = f"m_{p}_{k}"
            lines.append(f"  wire signed [{pw - 1}:0] {m} = x_{i}_{k} * x_{j}_{k};")
            if registered:
                lines += [f"  reg signed [{pw - 1}:0] p_{p}_{k};", f"  always @(posedge clk) p_{p}_{k} <= {m};"]
            terms.append(((neg_mask >> k) & 1, f"p_{p}_{k}" if registered else m))
        if adder_chain and d > 1:
            # positive terms lead, so only an all-negative sum pays for a negation
            terms.sort(key=lambda t: t[0])
            for k, (neg, t) in enumerate(terms):
                lead_neg = "-" if (k == 0 and neg) else ""
                lines.append(f"  wire signed [{ow - 1}:0] e_{p}_{k} = {lead_neg}{t};")  # sign-extends
            acc = f"e_{p}_0"
            for k, (neg, _) in enumerate(terms[1:], 1):
                lines += [f"  wire signed [{ow - 1}:0] a_{p}_{k};",
                          f"  {module}_addsub #(.W({ow}), .SUB({neg})) u_{p}_{k} (.a({acc}), .b(e_{p}_{k}), "
                          f".y(a_{p}_{k}));"]
                acc = f"a_{p}_{k}"
            expr = acc
        else:
            # all operands signed and the context is ow >= 2W bits wide, so every product sign-extends
            expr = ("-" if terms[0][0] else "") + terms[0][1]
            expr += "".join((" - " if neg else " + ") + t for neg, t in terms[1:])
        lines.append(f"  wire signed [{ow - 1}:0] s_{p} = {expr};")
        if registered:
            lines += [f"  reg signed [{ow - 1}:0] r_{p};", f"  always @(posedge clk) r_{p} <= s_{p};",
                      f"  assign y[{(p + 1) * ow - 1}:{p * ow}] = r_{p};"]
        else:
            lines.append(f"  assign y[{(p + 1) * ow - 1}:{p * ow}] = s_{p};")
    lines.append("endmodule")
    if adder_chain and d > 1:
        lines = ["// two-input add/sub kept as its own module so yosys cannot merge the chain into a $macc",
                 "(* keep_hierarchy *)",
                 f"module {module}_addsub #(parameter W = 8, parameter SUB = 0) (a, b, y);",
                 "  input wire signed [W-1:0] a, b;", "  output wire signed [W-1:0] y;",
                 "  assign y = SUB ? a - b : a + b;", "endmodule", ""] + lines
    return "\n".join(lines) + "\n"


def yosys_available() -> bool:
    """True when a ``yosys`` executable is on PATH."""
    return shutil.which("yosys") is not None


def iverilog_available() -> bool:
    """True when both ``iverilog`` and ``vvp`` are on PATH."""
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def _run(cmd: list, cwd: str, what: str, timeout: float | None = None) -> str:
    try:
        r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
    except FileNotFoundError as e:
        raise EquihlsError(f"{what}: executable not found ({e.filename})") from e
    except subprocess.TimeoutExpired as e:
        out = e.output.decode(errors="replace") if isinstance(e.output, bytes) else (e.output or "")
        raise EquihlsError(f"{what}: timed out after {timeout} s; log tail:\n{_tail(out)}") from e
    if r.returncode != 0:
        raise EquihlsError(f"{what} failed (exit {r.returncode}); log tail:\n{_tail(r.stdout)}")
    return r.stdout


def parse_yosys_cells(cells: dict) -> dict:
    """Summarise a yosys ``num_cells_by_type`` dict into LUT/FF/DSP/CARRY/SRL counts."""
    lut_by_size = {f"LUT{k}": int(cells.get(f"LUT{k}", 0)) for k in range(1, 7)}

    def count(names):
        return sum(int(cells.get(c, 0)) for c in names)
    return {
        "lut": sum(lut_by_size.values()),
        "lut_by_size": lut_by_size,
        "ff": count(("FDRE", "FDSE", "FDCE", "FDPE")),
        "dsp": count(("DSP48E2", "DSP48E1")),
        "carry": count(("CARRY8", "CARRY4")),
        "srl": count(("SRL16E", "SRLC32E", "SRLC16E")),
        "muxf": count(("MUXF7", "MUXF8", "MUXF9")),
        "cells": int(sum(cells.values())),
        "cells_by_type": {k: int(v) for k, v in cells.items()},
    }


def yosys_synth_stats(verilog: str, top: str, family: str = "xcup", options: tuple = (),
                      timeout: float | None = None) -> dict:
    """Synthesise ``verilog`` with ``yosys synth_xilinx`` and return its cell counts.

    ``options``: extra synth_xilinx flags, e.g. ("-nodsp",) to force multipliers into fabric.
    Note (yosys 0.23): register/post-adder packing into DSPs exists only for DSP48E1 (xc7) and
    DSP48A (xc6s); for xcu/xcup the DSP48E2s stay purely combinational and every register is an FF.

    Returns {"lut", "lut_by_size", "ff", "dsp", "carry", "srl", "muxf", "cells", "cells_by_type",
    "runtime_s"}. Raises EquihlsError (with the tail of the yosys log) if yosys fails.
    """
    if not yosys_available():
        raise EquihlsError("yosys not found on PATH (Debian: apt-get install yosys)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top) or not re.fullmatch(r"[a-z0-9]+", family):
        raise EquihlsError(f"yosys: invalid top '{top}' or family '{family}'")
    if any(not re.fullmatch(r"-?[A-Za-z0-9_]+", o) for o in options):
        raise EquihlsError(f"yosys: invalid synth_xilinx options {list(options)}")
    with tempfile.TemporaryDirectory(prefix="equihls_yosys_") as tmp:
        with open(os.path.join(tmp, "design.v"), "w") as f:
            f.write(verilog)
        script = ("read_verilog design.v\n"
                  f"synth_xilinx -family {family} -noiopad -flatten -top {top} {' '.join(options)}\n"
                  "tee -q -o stat.json stat -json\n")
        with open(os.path.join(tmp, "synth.ys"), "w") as f:
            f.write(script)
        t0 = time.perf_counter()
        _run(["yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"], tmp, "yosys synth_xilinx", timeout)
        runtime = time.perf_counter() - t0
        try:
            with open(os.path.join(tmp, "stat.json")) as f:
                text = f.read()
            stat = json.loads(text[text.index("{"):])
        except (OSError, ValueError) as e:
            raise EquihlsError(f"yosys: cannot read stat -json output ({e})") from e
    mods = stat.get("modules", {})
    key = next((k for k in mods if k.lstrip("\\") == top), None)
    if key is None:
        raise EquihlsError(f"yosys: module '{top}' missing from stat output (have {sorted(mods)})")
    cells = mods[key].get("num_cells_by_type", {})
    if len(mods) > 1:  # kept submodules: the design section holds the flattened totals
        cells = stat.get("design", {}).get("num_cells_by_type", cells)
    res = parse_yosys_cells(cells)
    res["runtime_s"] = runtime
    return res


def _tb_verilog(module: str, n_in: int, n_out: int, ow: int, batch: int, registered: bool) -> str:
    step = (["    clk = 0; #1 clk = 1; #1 clk = 0; #1 clk = 1; #1 clk = 0; #1;"] if registered else ["    #1;"])
    lines = ["`timescale 1ns/1ps", "module tb;",
             f"  reg [{n_in - 1}:0] mem [0:{batch - 1}];", f"  reg [{n_in - 1}:0] x;",
             f"  wire [{n_out * ow - 1}:0] y;", "  integer e, k, f;"]
    if registered:
        lines += ["  reg clk;", f"  {module} dut(.clk(clk), .x(x), .y(y));"]
    else:
        lines.append(f"  {module} dut(.x(x), .y(y));")
    lines += ["  initial begin", '    $readmemh("x.mem", mem);', '    f = $fopen("y.txt", "w");',
              f"    for (e = 0; e < {batch}; e = e + 1) begin", "    x = mem[e];", *step,
              f"    for (k = 0; k < {n_out}; k = k + 1)",
              f'      $fwrite(f, "%0d ", $signed(y[k*{ow} +: {ow}]));',
              '    $fwrite(f, "\\n");', "    end", "    $fclose(f);", "    $finish;", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


def simulate_scalar_products(n: int, d: int, width: int, neg_mask: int, x_raw: np.ndarray,
                             registered: bool = False, adder_chain: bool = False) -> np.ndarray:
    """Run the generated Verilog under iverilog/vvp on raw inputs.

    ``x_raw``: integers of shape [batch, n, d] (or [batch, n*d]) in [-2^(W-1), 2^(W-1)-1].
    Returns the raw outputs [batch, n(n+1)/2] (pairs i <= j row-major), int64 when they fit.
    ``registered`` simulates the clocked variant (two clock edges per input vector);
    ``adder_chain`` is passed to scalar_products_verilog.
    """
    _check_args(n, d, width)
    if not iverilog_available():
        raise EquihlsError("iverilog/vvp not found on PATH (Debian: apt-get install iverilog)")
    x = np.asarray(x_raw)
    if x.ndim == 2 and x.shape[1] == n * d:
        x = x.reshape(-1, n, d)
    if x.ndim != 3 or x.shape[1:] != (n, d) or x.shape[0] < 1:
        raise EquihlsError(f"simulate_scalar_products: x_raw shape {np.shape(x_raw)}, expected [batch, {n}, {d}]")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if x.size and (int(x.min()) < lo or int(x.max()) > hi):
        raise EquihlsError(f"simulate_scalar_products: inputs outside the signed {width}-bit range [{lo}, {hi}]")
    module = "equihls_scalar_products"
    ow, n_out, n_in = scalar_products_out_width(d, width, neg_mask), n * (n + 1) // 2, n * d * width
    mask, digits = (1 << width) - 1, (n_in + 3) // 4
    words = []
    for ev in x.reshape(x.shape[0], n * d):
        v = 0
        for idx, val in enumerate(ev):
            v |= (int(val) & mask) << (idx * width)
        words.append(f"{v:0{digits}x}")
    with tempfile.TemporaryDirectory(prefix="equihls_iverilog_") as tmp:
        with open(os.path.join(tmp, "dut.v"), "w") as f:
            f.write(scalar_products_verilog(n, d, width, neg_mask, registered=registered, module=module,
                                            adder_chain=adder_chain))
        with open(os.path.join(tmp, "tb.v"), "w") as f:
            f.write(_tb_verilog(module, n_in, n_out, ow, len(words), registered))
        with open(os.path.join(tmp, "x.mem"), "w") as f:
            f.write("\n".join(words) + "\n")
        _run(["iverilog", "-g2001", "-o", "sim.vvp", "-s", "tb", "tb.v", "dut.v"], tmp, "iverilog")
        _run(["vvp", "-n", "sim.vvp"], tmp, "vvp")
        with open(os.path.join(tmp, "y.txt")) as f:
            rows = [[int(t) for t in line.split()] for line in f if line.strip()]
    if len(rows) != len(words) or any(len(r) != n_out for r in rows):
        raise EquihlsError(f"vvp: expected {len(words)} rows of {n_out} results, got {len(rows)} rows")
    return np.array(rows, dtype=np.int64 if ow <= 63 else object)

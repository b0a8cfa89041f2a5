"""Test harness: compile single IP blocks straight from their headers (no hls4ml) for many
type/shape cases in ONE g++ run, and compare with the numpy twins bit for bit."""
from __future__ import annotations

import ctypes
import os
import subprocess

import numpy as np

from equihls.precision import infer as precision
from equihls.blocks import twin
from equihls.blocks import block_for
from equihls.blocks.base import size
from equihls.backend.csim import COMMON_CXXFLAGS
from equihls.backend.emit import block_context
from equihls.backend.extension import IP_DIR
from equihls.ir import Graph, Node

AP_TYPES = os.path.join(os.path.dirname(__import__("hls4ml").__file__), "templates", "vivado", "ap_types")


class Case:
    """One block instance: graph with runtime inputs `ins` (name -> (shape, FixedType)) and consts."""

    def __init__(self, op, ins, consts, attrs, out_shape, default_type, override=None, weight_frac=10, accum=None):
        self.g = Graph([Node(op, "n", list(ins) + list(consts), ["y"], dict(attrs), "equihls")],
                       {**{k: s for k, (s, _) in ins.items()}, **{k: v.shape for k, v in consts.items()},
                        "y": out_shape},
                       consts, list(ins), ["y"])
        self.prec = precision.infer(self.g, {k: t for k, (_, t) in ins.items()}, default_type, weight_frac,
                                    {"y": override} if override else None, {"n": accum} if accum else None,
                                    allow_weight_rounding=True)   # random weight types: arithmetic, not fidelity
        self.node = self.g.nodes[0]

    def random_raw(self, rng, n):
        out = {}
        for name in self.g.inputs:
            t = self.prec.types[name]
            shape = size(self.g.shapes[name])
            out[name] = np.array([[int(v) for v in rng.integers(t.raw_min, t.raw_max, size=shape, endpoint=True)]
                                  for _ in range(n)], dtype=object)
        return out

    def cpp(self, k: int) -> str:
        g, node, prec = self.g, self.node, self.prec
        blk = block_for(node)
        ctx = block_context(prec, node)
        fill = {"config": "config", "out": "o", "out_t": "out_t"}
        lines = [f"namespace case{k} {{", f"typedef {prec.types['y'].cpp()} out_t;"]
        for j, t in enumerate(node.inputs):
            lines.append(f"typedef {prec.types[t].cpp()} in{j}_t;")
            fill[f"in{j}_t"], fill[f"in{j}"] = f"in{j}_t", f"a{j}"
            if g.is_const(t):
                vals = ", ".join(repr(float(v)) for v in prec.types[t].to_float(np.asarray(prec.qconst[t]).reshape(-1)))
                lines.append(f"static const in{j}_t a{j}[{size(g.shapes[t])}] = {{{vals}}};")
        lines.append("struct config {\n" + blk.cpp_config(g, node, ctx) + "};")
        runtime = [j for j, t in enumerate(node.inputs) if not g.is_const(t)]
        args = ", ".join(f"const double *x{j}" for j in runtime)
        lines.append(f'extern "C" void run{k}({args}, double *y, int n) {{')
        lines.append("  for (int e = 0; e < n; e++) {")
        for j in runtime:
            s = size(g.shapes[node.inputs[j]])
            lines.append(f"    in{j}_t a{j}[{s}]; for (int i = 0; i < {s}; i++) a{j}[i] = x{j}[(long)e*{s}+i];")
        s = size(g.shapes["y"])
        lines.append(f"    out_t o[{s}];")
        lines.append("    " + blk.cpp_call(g, node, ctx).format(**fill))
        lines.append(f"    for (int i = 0; i < {s}; i++) y[(long)e*{s}+i] = o[i].to_double();")
        lines += ["  }", "}", "}"]
        return "\n".join(lines)


def build(cases, workdir) -> ctypes.CDLL:
    """Compile all cases into one shared library."""
    headers = sorted(h for h in os.listdir(IP_DIR) if h.endswith(".h"))
    src = "\n".join(f'#include "{h}"' for h in headers) + "\n" + "\n".join(c.cpp(k) for k, c in enumerate(cases))
    path = os.path.join(workdir, "blocks.cpp")
    with open(path, "w") as f:
        f.write(src)
    lib = os.path.join(workdir, "blocks.so")
    r = subprocess.run(["g++", "-O1", *COMMON_CXXFLAGS, f"-I{AP_TYPES}", f"-I{IP_DIR}", path,
                        "-o", lib], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return ctypes.CDLL(lib)


def run_case(lib, k, case, raws) -> tuple[np.ndarray, np.ndarray]:
    """(C-sim output raw, twin output raw) for the given input raws."""
    g, prec = case.g, case.prec
    n = next(iter(raws.values())).shape[0]
    ptr = ctypes.POINTER(ctypes.c_double)
    xs = [np.ascontiguousarray(prec.types[t].to_float(raws[t]).astype(np.float64)) for t in g.inputs]
    y = np.zeros((n, size(g.shapes["y"])))
    getattr(lib, f"run{k}")(*[x.ctypes.data_as(ptr) for x in xs], y.ctypes.data_as(ptr), ctypes.c_int(n))
    tw, _ = twin.run(g, prec, raws)
    t = prec.types["y"]
    c_raw = np.array([int(round(v * 2.0 ** t.frac)) for v in y.reshape(-1)], dtype=object).reshape(y.shape)
    return c_raw, np.asarray(tw["y"], dtype=object)

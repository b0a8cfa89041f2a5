"""Estimated cost of every reference model (models.ZOO) on the VU9P at 5 ns, and the
scalar-products block's multipliers against the dense Gram form.

Run: .venv/bin/python benchmarks/bench_estimates.py   (part of `make benchmark`)
The estimate is equihls/estimate.py's model (README "Estimates"): the same numbers
`equihls compile` stores in the manifest and `equihls report` prints. No C-sim is needed, so each
model takes well under a second.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from equihls.report import estimate  # noqa: E402
from equihls.frontend import onnx_import as frontend
from equihls import passes, targets
from equihls.precision import infer as precision
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.driver import DEFAULT_TYPE  # noqa: E402
from equihls.ops.onnx_ops import attach_functions, make_scalar_products_node  # noqa: E402
from models import ZOO  # noqa: E402

TARGET = targets.get("vu9p")
CLOCK_NS = 5.0


def model_estimate(spec: dict) -> dict:
    g, _ = frontend.load(spec["onnx"])
    passes.run_all(g)
    prec = precision.infer(g, {i: FixedType.parse(spec["input_type"]) for i in g.inputs},
                           FixedType.parse(DEFAULT_TYPE), None,
                           {k: FixedType.parse(v) for k, v in spec["types"].items()})
    return estimate.estimate(g, prec, TARGET, CLOCK_NS)


def gram_only(n: int, d: int = 4, width: int = 16) -> dict:
    """The scalar-products block alone on N four-vectors of `width`-bit components."""
    import tempfile

    import onnx
    from onnx import TensorProto, helper

    node = make_scalar_products_node("x", "y", [1] + [-1] * (d - 1))
    gr = helper.make_graph([node], "gram", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", n, d])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", n, n])])
    m = attach_functions(helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)]))
    m.ir_version = 8
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gram.onnx")
        onnx.save(m, path)
        return model_estimate({"onnx": path, "input_type": f"ap_fixed<{width},{width - 4}>", "types": {}})


def main():
    print(f"Estimates on {TARGET.name} ({TARGET.part}) at {CLOCK_NS} ns\n")
    print("| model | input type | multipliers | DSP | LUT | FF | BRAM18 | latency (cycles / ns) | II | DSP % | LUT % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, spec in ZOO.items():
        t0 = time.perf_counter()
        e = model_estimate(spec)["total"]
        dt = time.perf_counter() - t0
        print(f"| {name} | `{spec['input_type']}` | {e['multipliers']:,} | {e['dsp']:,} | {e['lut']:,} | {e['ff']:,} | "
              f"{e['bram18']} | {e['latency_cycles']} / {e['latency_ns']:.0f} | {e['ii']} | "
              f"{100 * e['fraction']['dsp']:.1f} | {100 * e['fraction']['lut']:.1f} |")
        print(f"<!-- {name}: estimated in {dt:.2f} s -->", file=sys.stderr)
    print("\nScalar-products block alone, D = 4, 16-bit components:\n")
    print("| N | block multipliers D·N(N+1)/2 | dense N²·D | ratio | DSP | LUT | latency (cycles) |")
    print("|---|---|---|---|---|---|---|")
    for n in (4, 8, 16, 32):
        b = gram_only(n)["blocks"][0]
        print(f"| {n} | {b['multipliers']:,} | {b['notes']['dense_multipliers']:,} | "
              f"{b['notes']['ratio_vs_dense']:.3f} | "
              f"{b['dsp']:,} | {b['lut']:,} | {b['latency_cycles']} |")


if __name__ == "__main__":
    main()

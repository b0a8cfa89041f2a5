"""Open-source RTL cross-check of the estimator on the scalar-products block (needs yosys).

Run: .venv/bin/python benchmarks/bench_rtl_crosscheck.py   (part of `make benchmark` when yosys
is installed: apt-get install yosys iverilog)
The block is rendered as Verilog (equihls/rtl.py, proven against numpy with iverilog in
tests/test_rtl.py) and synthesised with yosys `synth_xilinx -family xcup -noiopad -flatten`.
yosys never uses the DSP48E2 post-adder or its pipeline registers on UltraScale+, so its adds are
in fabric: compare them with the estimator's `post_adder=False` variant. Its default build merges
each D-term sum into a compressor tree (more LUTs); the `adder_chain` build keeps two-input adders
as Vivado would.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from equihls.report import estimate  # noqa: E402
from equihls.frontend import onnx_import as frontend
from equihls import passes, targets
from equihls.precision import infer as precision
from equihls.backend import rtl
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.ops.onnx_ops import attach_functions, make_scalar_products_node  # noqa: E402

D, MASK = 4, 0b1110


def estimated(n: int, width: int, post_adder: bool) -> dict:
    import onnx
    from onnx import TensorProto, helper

    gr = helper.make_graph([make_scalar_products_node("x", "y", [1, -1, -1, -1])], "gram",
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", n, D])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", n, n])])
    m = attach_functions(helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)]))
    m.ir_version = 8
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(m, os.path.join(tmp, "g.onnx"))
        g, _ = frontend.load(os.path.join(tmp, "g.onnx"))
    passes.run_all(g)
    prec = precision.infer(g, {"x": FixedType(width, width - 4)}, FixedType.parse("ap_fixed<18,8>"), 12)
    return estimate.estimate(g, prec, targets.get("vu9p"), 5.0, post_adder=post_adder)["blocks"][0]


def main():
    if not rtl.yosys_available():
        print("yosys not installed: skipping the RTL cross-check (apt-get install yosys)")
        return
    print("| N | W | est. DSP | yosys DSP48E2 | est. LUT (post-adder / fabric adds) | yosys LUT adder chain / "
          "compressor | yosys FF (registered) | yosys time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, w in ((4, 12), (4, 16), (8, 16), (16, 16)):
        e_dsp, e_fab = estimated(n, w, True), estimated(n, w, False)
        chain = rtl.yosys_synth_stats(rtl.scalar_products_verilog(n, D, w, MASK, registered=True, adder_chain=True),
                                      "equihls_scalar_products")
        tree = rtl.yosys_synth_stats(rtl.scalar_products_verilog(n, D, w, MASK, registered=False),
                                     "equihls_scalar_products")
        print(f"| {n} | {w} | {e_dsp['dsp']:,} | {chain['dsp']:,} | {e_dsp['lut']:,} / {e_fab['lut']:,} | "
              f"{chain['lut']:,} / {tree['lut']:,} | {chain['ff']:,} | {chain['runtime_s'] + tree['runtime_s']:.0f} |")


if __name__ == "__main__":
    main()

"""Resource/latency estimator: the rules it states, the scalar-products count against the dense
form, and consistency with the blocks it models."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from equihls.report import estimate
from equihls.frontend import onnx_import as frontend
from equihls import passes, targets
from equihls.precision import infer as precision
from equihls.blocks import cost
from equihls.blocks.bilinear import multiplier_count
from equihls.ir.fixedpoint import FixedType
from equihls.symmetry.o3 import cg
from equihls.ops.onnx_ops import attach_functions, make_scalar_products_node, make_tensor_product_node
from tests.test_overflow import _save_model

DEF = FixedType.parse("ap_fixed<18,8,AP_RND>")


def _typed(path, input_type="ap_fixed<16,12>"):
    g, _ = frontend.load(path)
    passes.run_all(g)
    return g, precision.infer(g, {i: FixedType.parse(input_type) for i in g.inputs}, DEF, 12)


def test_dsp_mapping_rules():
    assert cost.dsp_slices(9, 16) == 0 and cost.dsp_slices(16, 9) == 0      # fabric below 10 bits
    assert cost.dsp_slices(10, 10) == 1 and cost.dsp_slices(27, 18) == 1 and cost.dsp_slices(18, 27) == 1
    assert cost.dsp_slices(28, 18) == 2 and cost.dsp_slices(33, 33) == 4
    assert cost.fabric_mult_luts(8, 8) == 32
    assert [cost.csd_digits(v) for v in (0, 1, 3, 7, 5, -7, 0b1011011)] == [0, 1, 2, 2, 2, 2, 4]
    assert cost.significant_bits(12) == 3 and cost.significant_bits(-1) == 2


@pytest.mark.parametrize("n,d", [(16, 4), (5, 3), (2, 2)])
def test_scalar_products_multipliers_vs_dense(tmp_path, n, d):
    path = _save_model(str(tmp_path / "g.onnx"), [make_scalar_products_node("x", "y", [1] + [-1] * (d - 1))], [],
                       [n, d], [n, n])
    g, prec = _typed(path)
    est = estimate.estimate(g, prec, targets.get("vu9p"), 5.0)
    b = est["blocks"][0]
    assert b["op"] == "ScalarProducts"
    assert b["multipliers"] == d * n * (n + 1) // 2          # the metric signs cost no multiplier
    assert b["notes"]["dense_multipliers"] == n * n * d
    assert b["dsp"] == b["multipliers"]                       # 16x16 bits: one DSP48E2 each
    if n == 16:
        assert b["notes"]["ratio_vs_dense"] == pytest.approx(136 / 256)
    # narrow inputs go to fabric multipliers instead
    g, prec = _typed(path, "ap_fixed<8,6>")
    b = estimate.estimate(g, prec, targets.get("vu9p"), 5.0)["blocks"][0]
    assert b["dsp"] == 0 and b["lut_multipliers"] == d * n * (n + 1) // 2 and b["lut"] > 0


@pytest.mark.gxx
def test_estimate_of_bundled_model(demo):
    _, m = demo
    est = m["estimate"]
    t = est["total"]
    assert t["ii"] == 1 and t["latency_cycles"] >= 3
    assert t["dsp"] == sum(b["dsp"] for b in est["blocks"]) > 0
    assert t["fraction"]["dsp"] == pytest.approx(t["dsp"] / targets.get("vu9p").dsp)
    gram = next(b for b in est["blocks"] if b["op"] == "ScalarProducts")
    assert gram["multipliers"] == 4 * 16 * 17 // 2
    # every block starts when its inputs are ready
    ends = {b["output"]: b["end_cycle"] for b in est["blocks"]}
    for b, node in zip(est["blocks"], m["nodes"]):
        ready = [ends[i] for i in node["inputs"] if i in ends]
        assert b["start_cycle"] == max(ready, default=0)
    assert t["latency_cycles"] == max(b["end_cycle"] for b in est["blocks"]) + 1


@pytest.mark.gxx
def test_latency_grows_with_clock_frequency(demo):
    from tests.conftest import MODEL

    g, prec = _typed(MODEL)
    slow = estimate.estimate(g, prec, targets.get("vu9p"), 10.0)["total"]
    fast = estimate.estimate(g, prec, targets.get("vu9p"), 2.5)["total"]
    assert fast["latency_cycles"] > slow["latency_cycles"]
    assert fast["latency_ns"] < slow["latency_ns"] * 1.5
    assert fast["dsp"] == slow["dsp"]


def test_bilinear_estimate_matches_block_plan(tmp_path):
    """A CG product (1 x 1 -> 1, the cross product) on 5 rows: one multiplier per distinct a_i b_j
    of the sparse plan, against Da*Db*Dk for the dense form."""
    c = np.asarray(cg(1, 1, 1))
    node = make_tensor_product_node("a", "b", "y", c, "1x1o", "1x1o", "1x1e")
    gr = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 5, 3])
                                         for n in ("a", "b")],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5, 3])])
    m = attach_functions(helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)]))
    m.ir_version = 8
    path = str(tmp_path / "tp.onnx")
    onnx.save(m, path)
    g, prec = _typed(path)
    b = next(b for b in estimate.estimate(g, prec, targets.get("vu9p"), 5.0)["blocks"] if b["op"] == "Bilinear")
    node = next(n for n in g.nodes if n.op == "Bilinear")
    products, _ = multiplier_count(np.asarray(prec.qconst[node.inputs[2]]).reshape(g.shapes[node.inputs[2]]))
    assert products == 6                                    # the six a_i b_j (i != j) of a cross product
    assert b["notes"]["multipliers"] == 5 * products and b["notes"]["dense_multipliers"] == 5 * 27
    assert b["multipliers"] >= 5 * products

"""RTL cross-check of the scalar-products block: iverilog proves the Verilog, yosys counts cells."""
import numpy as np
import pytest

from equihls.backend import rtl
from equihls.errors import EquihlsError

needs_iverilog = pytest.mark.skipif(not rtl.iverilog_available(), reason="iverilog/vvp not installed")
needs_yosys = pytest.mark.skipif(not rtl.yosys_available(), reason="yosys not installed")


def reference(x, neg_mask):
    """numpy int64 reference: [batch, n, d] -> [batch, n(n+1)/2], pairs i <= j row-major."""
    n, d = x.shape[1:]
    s = np.array([-1 if (neg_mask >> k) & 1 else 1 for k in range(d)], dtype=np.int64)
    x = x.astype(np.int64)
    return np.stack([(x[:, i] * x[:, j] * s).sum(-1) for i, j in rtl.pair_list(n)], axis=1)


def extreme_inputs(n, d, width, batch, seed):
    """Random raw inputs with whole events and single elements at -2^(W-1) and 2^(W-1)-1."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi + 1, size=(batch, n, d), dtype=np.int64)
    x[0], x[1] = lo, hi
    x[2] = np.where(rng.random((n, d)) < 0.5, lo, hi)
    x[3, :, 0], x[3, :, 1:] = hi, lo  # drives the Minkowski sum to its extremes
    x[4, :, 0], x[4, :, 1:] = lo, hi
    x[5:] = np.where(rng.random((batch - 5, n, d)) < 0.3, rng.choice([lo, hi], size=(batch - 5, n, d)), x[5:])
    return x


def test_out_width_exact():
    for d, w, m in [(4, 5, 0b1110), (4, 3, 0), (1, 5, 0), (1, 4, 1), (3, 6, 0b010), (8, 4, 0xF0)]:
        lo, hi = rtl.scalar_products_range(d, w, m)
        v = np.arange(-(1 << (w - 1)), 1 << (w - 1))
        prods = np.outer(v, v)  # every product of two signed w-bit values
        # the d terms use distinct components, so each reaches its own extreme independently
        signs = [-1 if (m >> k) & 1 else 1 for k in range(d)]
        assert hi == sum(int((s * prods).max()) for s in signs)
        assert lo == sum(int((s * prods).min()) for s in signs)
        ow = rtl.scalar_products_out_width(d, w, m)
        assert -(1 << (ow - 1)) <= lo and hi < (1 << (ow - 1))
        assert lo < -(1 << (ow - 2)) or hi >= (1 << (ow - 2))  # one bit fewer does not fit
        assert ow <= 2 * w + max(0, (d - 1).bit_length())
    assert rtl.scalar_products_out_width(4, 16, 0b1110) == 33


def test_verilog_shape():
    v = rtl.scalar_products_verilog(3, 4, 16, 0b1110, registered=True)
    assert "module equihls_scalar_products (clk, x, y);" in v
    assert "input wire [191:0] x;" in v and f"output wire [{6 * 33 - 1}:0] y;" in v
    assert v.count(" * ") == 24 and v.count("always @(posedge clk)") == 24 + 6
    comb = rtl.scalar_products_verilog(3, 4, 16, 0b1110, registered=False, module="top")
    assert "module top (x, y);" in comb and "always" not in comb and "clk" not in comb
    with pytest.raises(EquihlsError):
        rtl.scalar_products_verilog(0, 4, 8, 0)


@needs_iverilog
@pytest.mark.parametrize("n,d,width,mask,registered,chain", [
    (3, 4, 8, 0b1110, False, False),
    (4, 4, 16, 0b1110, False, True),
    (2, 3, 5, 0b000, False, False),
    (3, 2, 12, 0b11, True, False),
    (2, 4, 27, 0b1110, True, True),
    (1, 1, 2, 0b1, False, False),
])
@pytest.mark.yosys
def test_iverilog_matches_numpy(n, d, width, mask, registered, chain):
    x = extreme_inputs(n, d, width, batch=40, seed=n * 100 + width)
    y = rtl.simulate_scalar_products(n, d, width, mask, x, registered=registered, adder_chain=chain)
    ref = reference(x, mask)
    assert y.shape == (40, n * (n + 1) // 2)
    np.testing.assert_array_equal(y, ref)
    lo, hi = rtl.scalar_products_range(d, width, mask)
    assert lo <= ref.min() and ref.max() <= hi


@needs_iverilog
def test_simulate_rejects_out_of_range():
    with pytest.raises(EquihlsError, match="outside"):
        rtl.simulate_scalar_products(2, 2, 4, 0, np.full((1, 2, 2), 8))


@needs_yosys
@pytest.mark.yosys
def test_yosys_small_instance_counts():
    n, d, w = 3, 4, 16
    pairs = n * (n + 1) // 2
    ow = rtl.scalar_products_out_width(d, w, 0b1110)
    r = rtl.yosys_synth_stats(rtl.scalar_products_verilog(n, d, w, 0b1110, registered=True), "equihls_scalar_products")
    assert r["dsp"] == d * pairs  # every 16x16 signed product in its own DSP48E2
    # yosys 0.23 packs no registers into DSP48E2: product (2W) and output registers stay in fabric
    assert r["ff"] == pairs * (d * 2 * w + ow)
    assert r["lut"] == sum(r["lut_by_size"].values())
    # the adder tree: between 1 and 8 LUTs per output bit, one carry chain per pair
    assert pairs * ow <= r["lut"] <= 8 * pairs * ow
    assert r["carry"] >= pairs * (ow // 4)
    assert r["cells"] > r["lut"] + r["ff"] and r["runtime_s"] > 0


@needs_yosys
@pytest.mark.yosys
def test_yosys_dsp_threshold_and_error():
    # yosys maps a multiplier to a DSP once its product is >= 9 bits: 4x4 stays in LUTs, 5x5 goes to a DSP
    top = "equihls_scalar_products"
    small = rtl.yosys_synth_stats(rtl.scalar_products_verilog(2, 1, 4, 0, registered=False), top)
    assert small["dsp"] == 0 and small["lut"] > 0 and small["ff"] == 0
    five = rtl.yosys_synth_stats(rtl.scalar_products_verilog(2, 1, 5, 0, registered=False), top)
    assert five["dsp"] == 3
    with pytest.raises(EquihlsError, match="yosys"):
        rtl.yosys_synth_stats("module broken(; endmodule\n", "broken")


@needs_yosys
@pytest.mark.yosys
def test_yosys_adder_chain_is_one_carry_chain_per_adder():
    # kept two-input add/sub instances: d-1 ripple adders of OW bits, 1 LUT per bit, no compressor tree
    ow = rtl.scalar_products_out_width(4, 16, 0b1110)
    v = rtl.scalar_products_verilog(1, 4, 16, 0b1110, registered=False, adder_chain=True)
    r = rtl.yosys_synth_stats(v, "equihls_scalar_products")
    assert r["dsp"] == 4 and r["muxf"] == 0
    assert r["lut"] == 3 * ow and r["carry"] == 3 * -(-ow // 4)


@needs_yosys
@pytest.mark.parametrize("n,width", [(3, 12), (4, 16)])
@pytest.mark.yosys
def test_estimator_matches_yosys_on_scalar_products(tmp_path, n, width):
    """The estimator's DSP count equals yosys' DSP48E2 count; with every addition in fabric (yosys
    does not use the post-adder on UltraScale+) its LUTs equal yosys' two-input adder chains."""
    from equihls.report import estimate
    from equihls.frontend import onnx_import as frontend
    from equihls import passes, targets
    from equihls.precision import infer as precision
    from equihls.ir.fixedpoint import FixedType
    from equihls.ops.onnx_ops import make_scalar_products_node
    from tests.test_overflow import _save_model

    path = _save_model(str(tmp_path / "g.onnx"), [make_scalar_products_node("x", "y", [1, -1, -1, -1])], [],
                       [n, 4], [n, n])
    g, _ = frontend.load(path)
    passes.run_all(g)
    prec = precision.infer(g, {"x": FixedType(width, width - 4)}, FixedType.parse("ap_fixed<18,8>"), 12)
    est = estimate.estimate(g, prec, targets.get("vu9p"), 5.0, post_adder=False)["blocks"][0]
    stats = rtl.yosys_synth_stats(rtl.scalar_products_verilog(n, 4, width, 0b1110, registered=False,
                                                              adder_chain=True), "equihls_scalar_products")
    assert est["dsp"] == stats["dsp"] == 4 * n * (n + 1) // 2
    assert prec.acc[g.nodes[0].name].width == rtl.scalar_products_out_width(4, width, 0b1110)
    assert est["lut"] == stats["lut"]

"""Resource sharing (issue 16, point 1): --ii K asks Vitis HLS for a new event every K cycles with
each multiplier serving up to K products of its block. The estimate keeps ceil(n/K) multipliers of
each product kind and ceil(e/K) read ports of each table (plus muxes and registers, K - 1 more
cycles per sharing block); the project differs only in the top function's pragmas, so the C
simulation is identical for every K; --budget picks the smallest K that meets it."""
import os

import numpy as np
import pytest

import models
from equihls import targets
from equihls.blocks import block_for
from equihls.blocks.cost import BlockCost, dsp_slices, fabric_mult_luts, share_mux_luts, shared_units
from equihls.errors import FitError, OptionError
from equihls.frontend import onnx_import as frontend
from equihls import passes
from equihls.precision import infer as precision
from equihls.ir.fixedpoint import FixedType
from equihls.report import estimate, fit
from equihls.driver import DEFAULT_TYPE

KS = (1, 2, 4, 8)


def test_shared_units_and_block_resources():
    assert [shared_units(10, k) for k in KS] == [10, 5, 3, 2]
    c = BlockCost("n", "Dense", products=[(10, 18, 18, "var"), (3, 8, 8, "var")], adders=[(12, 20)])
    one = estimate._resources(c, 1)
    assert one["multipliers"] == one["products"] == 13 and one["dsp"] == 10 and one["share_lut"] == 0
    four = estimate._resources(c, 4)
    assert four["multipliers"] == 3 + 1 and four["products"] == 13 and four["dsp"] == 3 * dsp_slices(18, 18)
    assert four["share_lut"] == 3 * share_mux_luts(18, 18, 4) + share_mux_luts(8, 8, 4) > 0
    assert four["share_ff"] == (10 - 3) * 36 + (3 - 1) * 16 and four["shared"] and four["table_ports"] == 0
    # adders are not shared; muxes cost LUTs; one 8x8 fabric multiplier is left of three
    assert four["lut"] == 12 * 20 + four["share_lut"] + fabric_mult_luts(8, 8)


def _typed(name):
    spec = models.ZOO[name]
    g, _ = frontend.load(spec["onnx"])
    passes.run_all(g)
    in_t = FixedType.parse(spec["input_type"])
    prec = precision.infer(g, {i: in_t for i in g.inputs}, FixedType.parse(DEFAULT_TYPE), None,
                           {k: FixedType.parse(v) for k, v in spec["types"].items()}, None)
    return g, prec


@pytest.mark.parametrize("name", ["deepsets_pairs", "lgn_lite", "so3_cg"])
def test_estimated_multipliers_are_ceil_m_over_k(name):
    g, prec = _typed(name)
    tgt = targets.get("vu9p")
    prev = None
    for k in KS:
        est = estimate.estimate(g, prec, tgt, 5.0, ii=k)
        for node, b in zip(g.nodes, est["blocks"]):
            c = block_for(node).cost(g, node, prec, True)
            assert b["multipliers"] == sum(shared_units(cnt, k) for cnt, *_ in c.products), (k, node.name)
            assert b["products"] == sum(cnt for cnt, *_ in c.products)
            assert b["table_ports"] == sum(shared_units(n, k) for n, *_ in c.tables), (k, node.name)
        t = est["total"]
        assert t["ii"] == k and t["products"] == estimate.estimate(g, prec, tgt, 5.0)["total"]["multipliers"]
        if prev:
            assert t["dsp"] <= prev["dsp"] and t["latency_cycles"] >= prev["latency_cycles"]
        prev = t
    assert prev["dsp"] < estimate.estimate(g, prec, tgt, 5.0)["total"]["dsp"] / 4


def test_tables_share_their_read_ports():
    """A table read by 136 pair elements keeps ceil(136/K) ports: its ROM LUTs (or BRAMs) shrink."""
    c = BlockCost("psi", "LUT", tables=[(136, 1024, 16, 20)])       # 16 Kbit: one BRAM18 per two ports
    for k in KS:
        r = estimate._resources(c, k)
        assert r["table_ports"] == shared_units(136, k) and r["bram18"] == -(-shared_units(136, k) // 2)
    small = BlockCost("t", "LUT", tables=[(64, 128, 12, 12)])       # distributed ROM: 2 LUT6 per bit per port
    assert [estimate._resources(small, k)["lut"] - estimate._resources(small, k)["share_lut"] for k in KS] == \
        [2 * 12 * shared_units(64, k) for k in KS]
    assert estimate._resources(small, 4)["share_lut"] == 16 * share_mux_luts(12, 0, 4) > 0


def test_budget_parsing_and_search():
    assert fit.parse_budget("dsp=0.5,lut=0.6,latency-ns=150,ii=6") == {"dsp": 0.5, "lut": 0.6, "latency_ns": 150.0,
                                                                        "ii": 6}
    for bad, why in (("dsp=x", "not a number"), ("foo=1", "unknown entry 'foo'"), ("ii=1.5", "integer"),
                     ("lut=-1", "positive")):
        with pytest.raises(ValueError, match=why):
            fit.parse_budget(bad)

    def fake(k):     # 100 DSP / k on a 30-DSP part, 10 ns more per step
        return {"total": {"dsp": -(-100 // k), "lut": 1, "ff": 1, "bram18": 0, "latency_ns": 10.0 * k},
                "target": {"dsp": 30, "lut": 10, "ff": 10, "bram18": 1}}

    assert fit.smallest_ii(fake, {})[0] == 4
    assert fit.smallest_ii(fake, {"dsp": 0.5})[0] == 7
    assert fit.smallest_ii(fake, {"dsp": 0.5, "ii": 6}) is None
    assert fit.smallest_ii(fake, {"latency_ns": 30}) is None


@pytest.mark.slow
def test_overfit_names_the_ii_that_fits_and_budget_chooses_it(tmp_path):
    from equihls import driver

    spec = models.ZOO["lgn_lite"]
    kw = dict(target="zcu102", input_type=spec["input_type"], samples=spec["samples"], log=lambda *a: None)
    with pytest.raises(FitError, match=r"--ii 2 fits \(each multiplier shared by up to 2 products: DSP 54.3 %"):
        driver.compile_model(spec["onnx"], output_dir=str(tmp_path / "a"), **kw)
    with pytest.raises(FitError, match="no II up to 2 meets --budget dsp=0.1,ii=2 on zcu102"):
        driver.compile_model(spec["onnx"], output_dir=str(tmp_path / "b"), budget="dsp=0.1,ii=2", **kw)
    with pytest.raises(OptionError, match="--budget: unknown entry 'dsps'"):
        driver.compile_model(spec["onnx"], output_dir=str(tmp_path / "c"), budget="dsps=0.1", **kw)
    assert not any(os.path.exists(tmp_path / d) for d in "abc")


torch = pytest.importorskip("torch")


class Mixed(torch.nn.Module):
    """A Bilinear (Cartesian 1x1 -> 0+1+2), a Dense on it and an Eltwise square."""

    def __init__(self):
        super().__init__()
        from tests.test_basis_free_couplings import cartesian_coupling
        self.register_buffer("c", torch.tensor(cartesian_coupling(), dtype=torch.float32))
        self.lin = torch.nn.Linear(9, 4)

    def forward(self, a, b):
        y = torch.einsum("bi,bj,ijk->bk", a, b, self.c)
        z = self.lin(y)
        return z * z


@pytest.mark.gxx
def test_csim_is_identical_for_every_ii(tmp_path):
    from equihls import project
    from tests.exporters import export

    torch.manual_seed(0)
    path = export(Mixed().eval(), (torch.randn(2, 3), torch.randn(2, 3)), str(tmp_path / "m.onnx"), False,
                  input_names=["a", "b"], output_names=["w"])
    rng = np.random.default_rng(0)
    x = [rng.uniform(-2, 2, size=(200, 3)) for _ in range(2)]
    outs, sources = {}, {}
    for k in KS:
        d = str(tmp_path / f"ii{k}")
        man = project.compile_model(path, output_dir=d, input_type="ap_fixed<12,4>", ii=k, log=lambda *a: None)
        assert man["ii"] == k and man["estimate"]["total"]["ii"] == k and man["options"]["ii"] == k
        outs[k] = project.Project(d).predict(*x)
        with open(os.path.join(d, "firmware", "myproject.cpp")) as f:
            sources[k] = f.read()
    for k in KS[1:]:
        np.testing.assert_array_equal(outs[1], outs[k])
        extra = [line for line in sources[k].split("\n") if line not in sources[1].split("\n")]
        limit = project.Project(str(tmp_path / f"ii{k}")).estimate["total"]["multipliers"]
        assert extra == [f"    #pragma HLS PIPELINE II={k}",
                         f"    #pragma HLS ALLOCATION operation instances=mul limit={limit}"], extra

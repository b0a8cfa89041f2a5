"""fold_symmetric_pairs: per-pair functions of a Gram matrix summed over all pairs are evaluated on
the i <= j pairs only, bit-identically (numpy twin, which every compile proves equal to the C-sim)."""
import dataclasses

import numpy as np
from onnx import helper, numpy_helper

from equihls.report import estimate
from equihls.frontend import onnx_import as frontend
from equihls import passes, targets
from equihls.precision import infer as precision
from equihls.blocks import twin
from equihls.ir.fixedpoint import FixedType
from equihls.ops.onnx_ops import make_scalar_products_node
from tests.conftest import MODEL, SAMPLES
from tests.test_overflow import _save_model

CLEANUP = list(passes.CLEANUP)
IN_T, DEF_T = FixedType.parse("ap_fixed<16,12>"), FixedType.parse("ap_fixed<18,8,AP_RND>")


def _lowered(path, fold: bool, monkeypatch):
    g, _ = frontend.load(path)
    cleanup = CLEANUP if fold else [p for p in CLEANUP if p is not passes.fold_symmetric_pairs]
    monkeypatch.setattr(passes.pipeline, "CLEANUP", dataclasses.replace(passes.CLEANUP, passes=cleanup))
    passes.run_all(g)
    return g, precision.infer(g, {i: IN_T for i in g.inputs}, DEF_T, 12)


def _outputs(g, prec, x):
    raws = {i: prec.types[i].from_float(x.reshape(len(x), -1))[0] for i in g.inputs}
    r, ovf = twin.run(g, prec, raws)
    assert not any(ovf.values())
    return prec.types[g.outputs[0]].to_float(r[g.outputs[0]])


def test_bundled_tagger_folds_bit_identically(monkeypatch):
    x = np.load(SAMPLES)["x"][:512].astype(np.float64)
    g0, p0 = _lowered(MODEL, False, monkeypatch)
    g1, p1 = _lowered(MODEL, True, monkeypatch)
    np.testing.assert_array_equal(_outputs(g0, p0, x), _outputs(g1, p1, x))
    lut = next(n for n in g1.nodes if n.op == "LUT")
    assert g1.size(lut.outputs[0]) == 16 * 17 // 2                    # psi on 136 pairs, not 256
    e0 = estimate.estimate(g0, p0, targets.get("vu9p"), 5.0)["total"]
    e1 = estimate.estimate(g1, p1, targets.get("vu9p"), 5.0)["total"]
    assert e1["multipliers"] < 0.6 * e0["multipliers"]


def _gram_chain(path, axes):
    nodes = [make_scalar_products_node("x", "d", [1, -1, -1, -1], name="gram"),
             helper.make_node("Mul", ["d", "s"], ["ds"]), helper.make_node("Tanh", ["ds"], ["t"]),
             helper.make_node("ReduceSum", ["t", "ax"], ["y"], keepdims=0)]
    inits = [numpy_helper.from_array(np.array(2.0 ** -8, dtype=np.float32), "s"),
             numpy_helper.from_array(np.array(axes, dtype=np.int64), "ax")]
    return _save_model(path, nodes, inits, [5, 4], [1] if len(axes) == 2 else [5])


def test_only_sums_over_all_pairs_fold(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = IN_T.to_float(rng.integers(-4000, 4000, size=(300, 5, 4)))
    for axes, folds in (([1, 2], True), ([2], False)):
        path = _gram_chain(str(tmp_path / f"m{len(axes)}.onnx"), axes)
        g0, p0 = _lowered(path, False, monkeypatch)
        g1, p1 = _lowered(path, True, monkeypatch)
        assert any(n.op == "Route" for n in g1.nodes) == folds
        np.testing.assert_array_equal(_outputs(g0, p0, x), _outputs(g1, p1, x))

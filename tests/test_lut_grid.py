"""Grid tables (LUT func="grid", blocks/lut_funcs.py) and their lowering (passes/lower/tables.py).

- the stated table error is the exact max of |f(x) - table(x)| over every representable input of
  the domain (exhaustive, numpy);
- the twin equals the C-sim bit for bit over random inputs (also outside the domain: saturation)
  and random ap_fixed input/output types (gxx);
- each lowered ONNX op matches ONNX Runtime within the a-priori error bound the compiler states;
- inputs whose interval reaches a pole are refused naming the node;
- a tiny model with Exp and Div by a tensor compiles and passes the self-check (gxx).
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import passes
from equihls.frontend import onnx_import as frontend
from equihls.blocks import block_for, lut, lut_funcs, twin
from equihls.ir.fixedpoint import FixedType
from equihls.precision import infer as precision

sys.path.insert(0, os.path.dirname(__file__))
from blockharness import Case, build, run_case  # noqa: E402
from fidelity import onnxruntime_float  # noqa: E402

RNG = np.random.default_rng(14)
DEFAULT = FixedType(18, 8)
# fn, params, clamp (value units) for functions with a pole / NaN region on a signed input
FUNCS = [("exp", {}, None), ("log", {}, (0.25, 1e9)), ("sqrt", {}, (0.0, 1e9)), ("reciprocal", {}, (0.5, 1e9)),
         ("softplus", {}, None), ("erf", {}, None), ("gelu", {}, None), ("gelu_tanh", {}, None),
         ("elu", {"alpha": 0.7}, None), ("selu", {}, None), ("celu", {"alpha": 1.5}, None), ("softsign", {}, None),
         ("sigmoid", {}, None), ("tanh", {}, None), ("pow", {"p": 1.5}, (0.0, 1e9)),
         ("pow", {"p": -0.5}, (0.125, 1e9))]
IDS = [f"{f}{'-' + str(p.get('p')) if p else ''}" for f, p, _ in FUNCS]


def _rand_in_type(rng, fn):
    w = int(rng.integers(6, 13))
    i = int(rng.integers(1, 5 if fn == "exp" else 7))
    return FixedType(w, i, True)


def _lut_case(fn, params, clamp, it, out_frac):
    attrs = {"func": "grid", "fn": fn, "params": params, "frac": out_frac}
    if clamp is not None:
        attrs["clamp"] = list(clamp)
    return Case("LUT", {"x": ((1, 24), it)}, {}, attrs, (1, 24), DEFAULT)


@pytest.mark.parametrize("k", range(len(FUNCS)), ids=IDS)
def test_table_error_is_exact_max_over_every_input(k):
    """Exhaustive over every representable input of the domain: max |f - table| == stated err,
    for a fine grid (one cell per input) and a coarse one (wide input, several inputs per cell)."""
    fn, params, clamp = FUNCS[k]
    f = lut_funcs.lookup(fn)
    p = f.params(params)
    for it, out_frac in ((_rand_in_type(RNG, fn), int(RNG.integers(4, 14))), (FixedType(16, 4), 10)):
        case = _lut_case(fn, params, clamp, it, out_frac)
        blk, node = block_for(case.node), case.node
        lo, hi = node.attrs["domain"]
        errs = {}
        for index in ("uniform", "log") if lo >= 0 or hi <= 0 else ("uniform",):   # the other kind too
            n = dataclasses.replace(node, attrs={**node.attrs, "index": index,
                                                 "mantissa_bits": lut.log_grid_mantissa(it)})
            tab = blk.table(n, case.prec.types)
            raws = np.arange(lo, hi + 1, dtype=np.int64).reshape(1, -1)
            y = np.asarray(blk.twin(case.g, n, {"x": raws}, case.prec.types, case.prec.qconst, 0), dtype=np.float64)
            dev = np.abs(y * 2.0 ** -out_frac - f(raws * 2.0 ** -it.frac, **p))
            assert np.max(dev) <= tab["err"] * (1 + 1e-12) + 1e-15, index
            assert np.max(dev) >= tab["err"] * (1 - 1e-9) - 1e-15, index     # exact, not a loose bound
            assert len(tab["raw"]) <= lut.MAX_GRID_ENTRIES
            if index == "uniform":
                assert (tab["shift"] > 0) == (hi - lo + 1 > lut.MAX_GRID_ENTRIES)
            errs[index] = tab["err"]
        chosen = node.attrs.get("index", "uniform")          # the compiler keeps the smaller exact error
        assert errs[chosen] == min(errs.values()) and (chosen == "uniform" or errs["log"] < errs["uniform"])
        assert case.prec.errs["y"] >= errs[chosen]


def test_out_of_domain_inputs_saturate_to_the_edge():
    case = _lut_case("log", {}, (1.0, 4.0), FixedType(10, 4), 8)
    blk, node = block_for(case.node), case.node
    lo, hi = node.attrs["domain"]
    assert (lo, hi) == (64, 256)
    raws = np.array([[-512, 0, 63, 64, 256, 257, 511]], dtype=np.int64)
    y = blk.twin(case.g, node, {"x": raws}, case.prec.types, case.prec.qconst, 0)
    edge = blk.twin(case.g, node, {"x": np.array([[64, 256]])}, case.prec.types, case.prec.qconst, 0)
    assert list(y[0]) == [edge[0, 0]] * 4 + [edge[0, 1]] * 3


@pytest.mark.parametrize("fn,params", [("log", {}), ("reciprocal", {}), ("sqrt", {}), ("pow", {"p": -0.5})])
def test_pole_in_input_interval_is_refused_naming_the_node(fn, params):
    with pytest.raises(lut_funcs.TableDomainError) as ei:
        _lut_case(fn, params, None, FixedType(10, 4), 8)
    msg = str(ei.value)
    assert "LUT 'n'" in msg and fn in msg and "[-8, 7.98438]" in msg, msg


def test_interval_not_type_sets_the_domain():
    """Relu then +0.5: the LUT's domain starts at 0.5, not at the input type's minimum."""
    g = _graph([helper.make_node("Relu", ["x"], ["r"], name="r"),
                helper.make_node("Add", ["r", "h"], ["a"], name="a"),
                helper.make_node("Log", ["a"], ["y"], name="lg")], [("h", np.float32(0.5))])
    prec = precision.infer(g, {"x": FixedType(12, 4)}, DEFAULT)
    node = next(n for n in g.nodes if n.op == "LUT")
    assert prec.intervals["a"] == (128, 2047 + 128, 8)
    assert node.attrs["domain"] == [128, 2047 + 128]


def test_a_square_is_never_negative():
    """x*x (one tensor, elementwise): [0, max^2], so sqrt(x*x + (x-1)*(x-1)) is a table, not a
    refusal; a product of two different tensors keeps its sign range."""
    g = _graph([helper.make_node("Mul", ["x", "x"], ["s"], name="sq"),
                helper.make_node("Sub", ["x", "one"], ["d"], name="d"),
                helper.make_node("Mul", ["d", "d"], ["s2"], name="sq2"),
                helper.make_node("Add", ["s", "s2"], ["n"], name="n"),
                helper.make_node("Sqrt", ["n"], ["r"], name="rt"),
                helper.make_node("Mul", ["x", "r"], ["y"], name="xy")], [("one", np.float32(1.0))])
    prec = precision.infer(g, {"x": FixedType(12, 4)}, DEFAULT)
    lo, hi, f = prec.intervals["s"]
    assert (lo, hi) == (0, 64 << f), prec.intervals["s"]              # x in [-8, 8): x*x in [0, 64]
    assert prec.intervals["n"][0] >= 0
    assert next(n for n in g.nodes if n.op == "LUT").attrs["domain"][0] >= 0
    assert prec.intervals["y"][0] < 0                                # x*r: signed x, no square


def _model(nodes, inits=(), opset=20):
    gr = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
                           initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 9
    return m


def _graph(nodes, inits=(), path=None):
    import tempfile

    path = path or os.path.join(tempfile.mkdtemp(), "m.onnx")
    onnx.save(_model(nodes, inits), path)
    g, _ = frontend.load(path)
    passes.run_all(g)
    return g


POS = [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node("Add", ["r", "h"], ["p"], name="add")]
ONNX_CASES = {
    "Exp": ([helper.make_node("Exp", ["x"], ["y"], name="op")], []),
    "Log": (POS + [helper.make_node("Log", ["p"], ["y"], name="op")], [("h", 0.5)]),
    "Sqrt": (POS + [helper.make_node("Sqrt", ["p"], ["y"], name="op")], [("h", 0.0)]),
    "Reciprocal": (POS + [helper.make_node("Reciprocal", ["p"], ["y"], name="op")], [("h", 1.0)]),
    "Softplus": ([helper.make_node("Softplus", ["x"], ["y"], name="op")], []),
    "Erf": ([helper.make_node("Erf", ["x"], ["y"], name="op")], []),
    "Gelu": ([helper.make_node("Gelu", ["x"], ["y"], name="op")], []),
    "Gelu-tanh": ([helper.make_node("Gelu", ["x"], ["y"], name="op", approximate="tanh")], []),
    "Elu": ([helper.make_node("Elu", ["x"], ["y"], name="op", alpha=0.5)], []),
    "Selu": ([helper.make_node("Selu", ["x"], ["y"], name="op")], []),
    "Celu": ([helper.make_node("Celu", ["x"], ["y"], name="op", alpha=2.0)], []),
    "Softsign": ([helper.make_node("Softsign", ["x"], ["y"], name="op")], []),
    "Pow": (POS + [helper.make_node("Pow", ["p", "e"], ["y"], name="op")], [("h", 0.25), ("e", 0.75)]),
    "Div": (POS + [helper.make_node("Div", ["x", "p"], ["y"], name="op")], [("h", 1.0)]),
}


@pytest.mark.parametrize("op", list(ONNX_CASES))
def test_lowered_op_matches_onnxruntime_within_stated_bound(tmp_path, op):
    nodes, inits = ONNX_CASES[op]
    path = str(tmp_path / "m.onnx")
    onnx.save(_model(nodes, inits), path)
    g, _ = frontend.load(path)
    passes.run_all(g)
    assert all(n.is_equihls for n in g.nodes)
    assert any(n.op == "LUT" and n.attrs["func"] == "grid" for n in g.nodes)
    it = FixedType(12, 3)
    prec = precision.infer(g, {"x": it}, DEFAULT)
    rng = np.random.default_rng(1)
    x = it.to_float(rng.integers(it.raw_min, it.raw_max, size=(256, 4), endpoint=True))  # on the input grid
    got = twin.predict(g, prec, {"x": x})["y"].reshape(256, 4)
    ref = onnxruntime_float(path, {"x": x})["y"]
    bound = prec.errs["y"] + 1e-6 * np.abs(ref) + 1e-6        # + ONNX Runtime's float32 rounding
    assert np.all(np.abs(got - ref) <= bound), (op, float(np.max(np.abs(got - ref) - bound)), prec.errs["y"])


def test_log_of_signed_input_is_refused_at_compile():
    with pytest.raises(lut_funcs.TableDomainError) as ei:
        precision.infer(_graph([helper.make_node("Log", ["x"], ["y"], name="lg")]), {"x": FixedType(12, 4)},
                        DEFAULT)
    assert "LUT 'lg' (input 'x')" in str(ei.value) and "log" in str(ei.value)
    with pytest.raises(lut_funcs.TableDomainError) as ei:
        precision.infer(_graph([helper.make_node("Div", ["x", "x"], ["y"], name="dv")]), {"x": FixedType(12, 4)},
                        DEFAULT)
    assert "of Div 'dv', input 'x'" in str(ei.value) and "reciprocal" in str(ei.value), str(ei.value)


def test_integer_pow_and_sigmoid_are_not_tables():
    """Integer Pow becomes products (decompose); Sigmoid keeps its fixed table (firmware unchanged)."""
    g = _graph([helper.make_node("Sigmoid", ["x"], ["y"], name="s")])
    assert [(n.op, n.attrs["func"]) for n in g.nodes] == [("LUT", "sigmoid")]
    g = _graph([helper.make_node("Pow", ["x", "two"], ["y"], name="sq")], [("two", 2.0)])
    assert [(n.op, n.attrs.get("op")) for n in g.nodes] == [("Eltwise", "mul")]


GXX_CASES, GXX_IDS = [], []
for _k, (_fn, _p, _c) in enumerate(FUNCS):
    for _j in range(2):
        _it = _rand_in_type(RNG, _fn)
        GXX_CASES.append(_lut_case(_fn, _p, _c, _it, int(RNG.integers(3, 14))))
        GXX_IDS.append(f"{IDS[_k]}-{_it.cpp()}")
# a wide input: coarse grid (shift > 0)
GXX_CASES.append(_lut_case("gelu", {}, None, FixedType(20, 6), 10))
GXX_IDS.append("gelu-wide")
# wide one-signed intervals: log-indexed tables (sign applied by the header on a negative domain)
LOG_CASES = {"sqrt-log": ("sqrt", {}, (0.0, 1e9), FixedType(28, 20), 12),
             "reciprocal-neg-log": ("reciprocal", {}, (-1e9, -2.0 ** -6), FixedType(24, 14), 14),
             "exp-neg-log": ("exp", {}, (-32.0, 0.0), FixedType(20, 8), 16),
             "log-log": ("log", {}, (2.0 ** -8, 1e9), FixedType(30, 22), 10)}
for _name, (_fn, _p, _c, _it, _f) in LOG_CASES.items():
    GXX_CASES.append(_lut_case(_fn, _p, _c, _it, _f))
    GXX_IDS.append(_name)


@pytest.mark.parametrize("name", list(LOG_CASES))
def test_wide_one_signed_intervals_get_log_indexed_tables(name):
    """Where a uniform grid of 4096 cells is coarse near 0 (sqrt, reciprocal, log of a wide input;
    exp on softmax's x - max <= 0), the log-indexed table's exact error is far smaller and is used."""
    case = GXX_CASES[GXX_IDS.index(name)]
    blk, node = block_for(case.node), case.node
    assert node.attrs["index"] == "log"
    log_err = blk.table(node, case.prec.types)["err"]
    uni = dataclasses.replace(node, attrs={**node.attrs, "index": "uniform"})
    assert log_err < 0.25 * blk.table(uni, case.prec.types)["err"]
    lo, hi = node.attrs["domain"]       # the output interval: what the twin gives over the domain
    y = blk.twin(case.g, node, {"x": np.linspace(lo, hi, 3000).astype(np.int64).reshape(1, -1)}, case.prec.types,
                 case.prec.qconst, 0)
    rlo, rhi, _ = blk.acc_range(case.g, node, case.prec.types, case.prec.qconst)
    assert rlo <= y.min() and y.max() <= rhi and (rlo >= 0) == (y.min() >= 0)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build(GXX_CASES, str(tmp_path_factory.mktemp("grid")))


@pytest.mark.gxx
@pytest.mark.parametrize("k", range(len(GXX_CASES)), ids=GXX_IDS)
def test_grid_twin_matches_csim(lib, k):
    case = GXX_CASES[k]
    raws = case.random_raw(np.random.default_rng(k), 64)
    c_raw, tw = run_case(lib, k, case, raws)
    assert (c_raw == tw).all()


@pytest.mark.gxx
def test_model_with_exp_and_div_by_a_tensor_compiles_and_passes_selfcheck(tmp_path):
    """y = exp(x) / (relu(x) + 1): two grid tables (exp, reciprocal) and a Mul; the C-sim of the
    whole project matches the twin bit for bit and ONNX Runtime within the stated error envelope."""
    from equihls import project

    from fidelity import capture_precision, check_project, raw_inputs

    path = str(tmp_path / "expdiv.onnx")
    onnx.save(_model([helper.make_node("Exp", ["x"], ["e"], name="ex"),
                      helper.make_node("Relu", ["x"], ["r"], name="relu"),
                      helper.make_node("Add", ["r", "one"], ["d"], name="add"),
                      helper.make_node("Div", ["e", "d"], ["y"], name="div")], [("one", 1.0)], opset=17), path)
    it = FixedType(12, 3)
    xs = raw_inputs({"x": (it, (4,))}, 64, seed=3)
    np.savez(str(tmp_path / "s.npz"), **xs)
    out = str(tmp_path / "p")
    with capture_precision() as seen:
        man = project.compile_model(path, output_dir=out, input_type=it.cpp(), samples=str(tmp_path / "s.npz"),
                                    log=lambda *a: None)
    assert man["self_check"]["passed"], man["self_check"]
    g, prec = seen[-1]
    assert sorted(n.attrs["fn"] for n in g.nodes if n.op == "LUT") == ["exp", "reciprocal"]
    rep = check_project(out, path, g, prec, xs)
    assert all(r["twin_mismatches"] == 0 for r in rep.values()), rep

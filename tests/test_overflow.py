"""Overflow accounting with the traced C simulation.

- Property: random small graphs of supported ops with random input types never overflow on
  inputs spanning the input type's full range (the compile's trace gate would reject them).
- Tightness: one integer bit less than inferred for a scalar-products or pooling output makes
  some full-range input overflow, and the trace counts it (in agreement with the numpy twin).
- Calibration: ranges from calibration events narrow the types; events beyond them overflow,
  the trace counts it, and compile fails unless --allow-overflow.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import project
from equihls.errors import OverflowDetected, SelfCheckError
from equihls.ir.fixedpoint import FixedType
from equihls.ops.onnx_ops import attach_functions, make_scalar_products_node
from tests.conftest import ROOT

QUIET = dict(log=lambda *a: None)


def _save_model(path, nodes, inits, in_shape, out_shape):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *in_shape])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    m = attach_functions(m)
    onnx.save(m, path)
    return path


def random_graph(rng, path):
    """A random chain of supported ops on x [batch, N, D] (steps: STEPS); returns its op list."""
    n, d = int(rng.integers(2, 4)), int(rng.integers(2, 5))
    nodes, inits, ops = [], [], []
    shape, cur = [n, d], "x"
    if rng.random() < 0.5:
        metric = [1] + [int(s) for s in rng.choice([-1, 1], size=d - 1)]
        nodes.append(make_scalar_products_node("x", "gram", metric, name="gram"))
        shape, cur = [n, n], "gram"
        ops.append("ScalarProducts")

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    for k in range(int(rng.integers(2, 5))):
        step = str(rng.choice(["linear", "relu", "addc", "mulc", "pool", "square", "sub_relu"]))
        out = f"h{k}"
        if step == "linear":
            cols = int(rng.integers(1, 4))
            w = rng.integers(-12, 13, size=(shape[-1], cols)) / 4.0
            b = rng.integers(-8, 9, size=cols) / 8.0
            nodes += [helper.make_node("MatMul", [cur, const(f"w{k}", w)], [f"m{k}"]),
                      helper.make_node("Add", [f"m{k}", const(f"b{k}", b)], [out])]
            shape = shape[:-1] + [cols]
        elif step == "relu":
            nodes.append(helper.make_node("Relu", [cur], [out]))
        elif step == "addc":
            nodes.append(helper.make_node("Add", [cur, const(f"c{k}", rng.integers(-16, 17) / 4.0)], [out]))
        elif step == "mulc":
            c = float(rng.choice([0.25, -0.5, 0.3, 1.75, -3.0]))
            nodes.append(helper.make_node("Mul", [cur, const(f"c{k}", c)], [out]))
        elif step == "pool" and len(shape) >= 2:
            inits.append(numpy_helper.from_array(np.array([0 if len(shape) == 1 else 1], dtype=np.int64), f"ax{k}"))
            nodes.append(helper.make_node("ReduceSum", [cur, f"ax{k}"], [out], keepdims=0))
            shape = shape[1:]
        elif step == "square":
            nodes.append(helper.make_node("Mul", [cur, cur], [out]))
        elif step == "sub_relu":
            nodes += [helper.make_node("Relu", [cur], [f"r{k}"]), helper.make_node("Sub", [cur, f"r{k}"], [out])]
        else:
            continue
        ops.append(step)
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    _save_model(path, nodes, inits, [n, d], shape)
    return ops, [n, d]


def full_range_events(t: FixedType, shape, n, rng):
    """Events whose elements are the type's extremes, zero or uniform raws; plus all-min / all-max."""
    pick = rng.integers(0, 4, size=(n, *shape))
    raw = np.select([pick == 0, pick == 1, pick == 2],
                    [t.raw_min, t.raw_max, 0], rng.integers(t.raw_min, t.raw_max, size=(n, *shape), endpoint=True))
    raw[0], raw[1] = t.raw_min, t.raw_max
    return t.to_float(raw)


def _save_events(path, x):
    np.savez(path, x=x)
    return path


STEPS = {"ScalarProducts", "linear", "relu", "addc", "mulc", "pool", "square", "sub_relu"}
SEEDS = (1, 3, 8, 13)   # together they use every step (test below); each compile takes ~15 s


def _random_case(seed, path):
    """(input type, ops, per-event input shape, rng) of random graph number `seed`, saved to path."""
    rng = np.random.default_rng(1000 + seed)
    w = int(rng.integers(6, 15))
    t = FixedType(w, int(rng.integers(1, w)))
    ops, shape = random_graph(rng, path)
    return t, ops, shape, rng


def test_random_graph_seeds_cover_every_op(tmp_path):
    used = set()
    for seed in SEEDS:
        used |= set(_random_case(seed, str(tmp_path / "m.onnx"))[1])
    assert used == STEPS


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.gxx
def test_random_graphs_never_overflow_on_full_range_inputs(tmp_path, seed):
    t, ops, shape, rng = _random_case(seed, str(tmp_path / "m.onnx"))
    x = full_range_events(t, shape, 256, rng)
    # compile fails (OverflowDetected) if the trace saw any overflow on these events
    m = project.compile_model(str(tmp_path / "m.onnx"), output_dir=str(tmp_path / "p"), input_type=t.cpp(),
                              samples=_save_events(tmp_path / "x.npz", x), **QUIET)
    tr = m["overflow"]
    assert tr["n_overflow"] == 0 and tr["n_rounding_violations"] == 0, (ops, tr)
    assert tr["n_events"] == 256
    assert len(tr["tensors"]) == len(m["nodes"]) and all(c["values"] > 0 for c in tr["tensors"].values())
    assert m["self_check"]["passed"]


def _gram_model(path, n=2, d=4):
    node = make_scalar_products_node("x", "y", [1] + [-1] * (d - 1), name="gram")
    return _save_model(path, [node], [], [n, d], [n, n])


def _pool_model(path, n=3, d=2):
    ax = numpy_helper.from_array(np.array([1], dtype=np.int64), "ax")
    return _save_model(path, [helper.make_node("ReduceSum", ["x", "ax"], ["y"], keepdims=0)], [ax], [n, d], [d])


def _corners(t: FixedType, n_elem: int) -> np.ndarray:
    """Every combination of {min, 0, max} over n_elem elements (raw values -> floats)."""
    grid = np.array(np.meshgrid(*[[t.raw_min, 0, t.raw_max]] * n_elem, indexing="ij")).reshape(n_elem, -1).T
    return t.to_float(grid)


@pytest.mark.parametrize("kind", ["scalar_products", "pooling"])
@pytest.mark.gxx
def test_inferred_integer_width_is_tight(tmp_path, kind):
    t = FixedType(10, 6) if kind == "scalar_products" else FixedType(9, 4)
    shape = [2, 4] if kind == "scalar_products" else [3, 2]
    path = (_gram_model if kind == "scalar_products" else _pool_model)(str(tmp_path / "m.onnx"))
    x = _corners(t, shape[0] * shape[1]).reshape(-1, *shape)
    samples = _save_events(tmp_path / "x.npz", x)
    m = project.compile_model(path, output_dir=str(tmp_path / "exact"), input_type=t.cpp(), samples=samples, **QUIET)
    inferred = FixedType.parse(m["outputs"][0]["type"])
    assert m["overflow"]["n_overflow"] == 0
    narrow = FixedType(inferred.width - 1, inferred.integer - 1, inferred.signed)
    with pytest.raises(OverflowDetected, match="overflowed"):
        project.compile_model(path, output_dir=str(tmp_path / "narrow"), input_type=t.cpp(), samples=samples,
                              type_overrides={"y": narrow}, **QUIET)
    assert os.path.exists(tmp_path / "narrow.rejected" / "overflow_trace.json")
    # kept on purpose although its wrapped outputs do not compute the model (--fidelity-rms)
    m2 = project.compile_model(path, output_dir=str(tmp_path / "narrow"), input_type=t.cpp(), samples=samples,
                               type_overrides={"y": narrow}, allow_overflow=True, fidelity_rms=1e9, **QUIET)
    c = m2["overflow"]["tensors"]["y"]
    assert c["overflow"] > 0 and c["user_override"]
    assert c["overflow"] == m2["self_check"]["overflow"]["y"]    # traced C-sim == numpy twin
    assert m2["overflow"]["events_with_overflow"] > 0


def _calib_model(path):
    gram = make_scalar_products_node("x", "gram", [1, -1, -1, -1], name="gram")
    ax = numpy_helper.from_array(np.array([1], dtype=np.int64), "ax")
    w = numpy_helper.from_array(np.array([[0.375], [0.5], [-0.25], [1.0]], dtype=np.float32), "w")
    nodes = [gram, helper.make_node("MatMul", ["gram", "w"], ["m"]),
             helper.make_node("ReduceSum", ["m", "ax"], ["y"], keepdims=0)]
    return _save_model(path, nodes, [ax, w], [4, 4], [1])


@pytest.mark.gxx
def test_calibration_narrows_types_and_violations_are_caught(tmp_path):
    path = _calib_model(str(tmp_path / "m.onnx"))
    rng = np.random.default_rng(3)
    t = FixedType(14, 10)
    # events use a quarter of the input range (as physics data use part of it)
    x = t.to_float(rng.integers(t.raw_min // 4, t.raw_max // 4, size=(300, 4, 4), endpoint=True))
    samples = _save_events(tmp_path / "x.npz", x)
    calib_small = _save_events(tmp_path / "small.npz", x / 16)
    kw = dict(input_type=t.cpp(), samples=samples, **QUIET)
    base = project.compile_model(path, output_dir=str(tmp_path / "base"), **kw)

    def width(m, name):
        return FixedType.parse(next(v for v in m["tensors"].values() if v["onnx_name"] == name)["type"]).width

    # calibrating on the samples themselves: narrower, nothing overflows
    same = project.compile_model(path, output_dir=str(tmp_path / "same"), calibrate=samples, **kw)
    assert width(same, "gram") < width(base, "gram")
    assert same["overflow"]["n_overflow"] == 0
    cal = next(v for v in same["tensors"].values() if v["onnx_name"] == "gram")["calibrated"]
    assert cal["margin"] == 2.0 and cal["hi"] > 0
    # calibrated on events 16x smaller: the samples leave the calibrated range
    with pytest.raises(OverflowDetected, match="allow-overflow"):
        project.compile_model(path, output_dir=str(tmp_path / "small"), calibrate=calib_small, **kw)
    with pytest.raises(SelfCheckError, match="does not compute the float model"):   # saturated: wrong outputs
        project.compile_model(path, output_dir=str(tmp_path / "small"), calibrate=calib_small, allow_overflow=True,
                              **kw)
    m = project.compile_model(path, output_dir=str(tmp_path / "small"), calibrate=calib_small,
                              allow_overflow=True, fidelity_rms=1e9, **kw)
    g = m["overflow"]["tensors"]["gram"]
    assert g["overflow"] > 0 and g["calibrated"]
    assert width(m, "gram") < width(same, "gram")
    assert FixedType.parse(g["type"]).overflow == "AP_SAT"
    assert m["options"]["allow_overflow"] and m["options"]["calibrate"] == "small.npz"

    # the CLI trace on the same project: exit 1 and the counts in JSON
    out = tmp_path / "trace.json"
    r = subprocess.run([sys.executable, "-m", "equihls", "csim", str(tmp_path / "small"), "--input", samples,
                        "--trace", "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "gram" in r.stdout and "calibrated" in r.stdout
    assert json.loads(out.read_text())["tensors"]["gram"]["overflow"] == g["overflow"]
    r = subprocess.run([sys.executable, "-m", "equihls", "csim", str(tmp_path / "same"), "--input", samples, "--trace"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_calibration_file_errors(tmp_path):
    path = _gram_model(str(tmp_path / "m.onnx"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.full((4, 2, 4), np.nan))
    with pytest.raises(Exception, match="NaN"):
        project.compile_model(path, output_dir=str(tmp_path / "p"), calibrate=str(bad), **QUIET)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((4, 3, 4)))
    with pytest.raises(Exception, match="shape"):
        project.compile_model(path, output_dir=str(tmp_path / "p"), calibrate=str(wrong), **QUIET)
    with pytest.raises(ValueError, match="margin"):
        project.compile_model(path, output_dir=str(tmp_path / "p"), calibrate=_save_events(tmp_path / "ok.npz",
                              np.ones((4, 2, 4))), calib_margin=0.5, **QUIET)


def test_product_with_even_constant_moves_the_binary_point(tmp_path):
    """x * 4096 needs no more bits than x, and x * 12 no more than x * 3 would: the constant's trailing zero bits
    become integer bits instead of widening the type (as long as fractional bits remain to give
    up); the twin stays exact."""
    from equihls.frontend import onnx_import as frontend
    from equihls import passes
    from equihls.precision import infer as precision
    from equihls.blocks import twin

    t = FixedType(16, 4)
    x = t.to_float(np.arange(t.raw_min, t.raw_max + 1).reshape(-1, 1, 1))
    for c, extra in ((4096.0, 0), (12.0, 2)):
        path = str(tmp_path / f"m{int(c)}.onnx")
        _save_model(path, [helper.make_node("Mul", ["x", "c"], ["y"])],
                    [numpy_helper.from_array(np.array(c, dtype=np.float32), "c")], [1, 1], [1, 1])
        g, _ = frontend.load(path)
        passes.run_all(g)
        prec = precision.infer(g, {"x": t}, FixedType.parse("ap_fixed<18,8,AP_RND>"), 12)
        out = prec.types["y"]
        assert out.width == t.width + extra, (c, out)
        raws, ovf = twin.run(g, prec, {"x": t.from_float(x.reshape(len(x), -1))[0]})
        np.testing.assert_array_equal(out.to_float(raws["y"]).reshape(-1), x.reshape(-1) * c)
        assert not any(ovf.values())


@pytest.mark.gxx
def test_power_of_two_scales_stay_exact_and_narrow_psi_inputs_compile(tmp_path):
    """--weight-frac 4 must not round a 2^-10 scale to 0, and psi on the resulting very narrow
    input type (fewer bits than its default 6 mantissa bits) must build and C-simulate."""
    ax = numpy_helper.from_array(np.array([1], dtype=np.int64), "ax")
    nodes = [helper.make_node("Mul", ["x", "s"], ["xs"]), helper.make_node("Sign", ["xs"], ["sg"]),
             helper.make_node("Abs", ["xs"], ["ab"]), helper.make_node("Add", ["ab", "one"], ["a1"]),
             helper.make_node("Log", ["a1"], ["lg"]), helper.make_node("Mul", ["sg", "lg"], ["psi"]),
             helper.make_node("ReduceSum", ["psi", "ax"], ["y"], keepdims=0)]
    inits = [numpy_helper.from_array(np.array(2.0 ** -10, dtype=np.float32), "s"),
             numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"), ax]
    path = _save_model(str(tmp_path / "m.onnx"), nodes, inits, [3, 2], [2])
    t = FixedType(4, 4)      # integers -8..7: x * 2^-10 has 4 significant bits
    x = full_range_events(t, [3, 2], 64, np.random.default_rng(0))
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type=t.cpp(), weight_frac=4,
                              samples=_save_events(tmp_path / "x.npz", x), **QUIET)
    assert m["self_check"]["passed"] and m["overflow"]["n_overflow"] == 0
    lut_in = FixedType.parse(next(v for v in m["tensors"].values() if v["onnx_name"] == "xs")["type"])
    assert lut_in.width < 6 and lut_in.frac == 10     # the scale was kept exact
    y = project.Project(str(tmp_path / "p")).run(x)[0]
    assert np.abs(y).max() > 0                        # the feature is not cut

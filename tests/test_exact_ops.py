"""Exact lowerings of issue 14 point 3 (passes/lower/decompose.py, passes/lower/exact.py): each op,
as a tiny ONNX graph in the forms its opsets give it, goes through the IR pipeline (recognition,
lowering, cleanup) and the lowered graph, evaluated in float64 node by node (equihls blocks by
their index tables, tables by their float function), equals ONNX Runtime on the original model, and
no standard ONNX node is left."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import passes
from equihls.errors import UnsupportedNodeError
from equihls.frontend import onnx_import as frontend
from equihls.blocks import lut_funcs
from equihls.passes import pipeline
from equihls.passes.manager import run_group

F = TensorProto.FLOAT
RNG = np.random.default_rng(7)


def _arr(v):
    a = np.asarray(v)
    if a.dtype == bool:
        return a
    return a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32)


def _model(tmp_path, nodes, inits=(), opset=17, shapes=(("x", (3, 4)),), name="m"):
    """Inputs [batch, *shape] per `shapes`, output y (float, shape inferred)."""
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(k, F, ["batch", *s]) for k, s in shapes],
                          [helper.make_tensor_value_info("y", F, None)],
                          initializer=[numpy_helper.from_array(_arr(v), k) for k, v in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(m)   # the output's shape, as declared by an exporter
    m.graph.output[0].CopyFrom(inferred.graph.output[0])
    onnx.checker.check_model(m)
    path = str(tmp_path / f"{name}_{opset}.onnx")
    onnx.save(m, path)
    return path


def _lowered(path):
    g, _ = frontend.load(path)
    log = []
    for group in (pipeline.RECOGNITION, pipeline.LOWERING, pipeline.CLEANUP):
        run_group(group, g, log)
    return g


def _float_eval(g, xs: dict) -> dict:
    """Float64 evaluation of a lowered IR graph: values flat per event, [batch, size]."""
    batch = next(iter(xs.values())).shape[0]
    v = {k: np.asarray(x, dtype=np.float64).reshape(batch, -1) for k, x in xs.items()}
    for c, a in g.consts.items():
        v[c] = np.asarray(a, dtype=np.float64).reshape(1, -1)
    for n in g.nodes:
        ins = [v[t] for t in n.inputs]
        a = n.attrs
        if n.op == "LUT" and a["func"] == "grid":
            r = lut_funcs.lookup(a["fn"])(ins[0], **a["params"])
        elif n.op == "Dense":
            cin, cout = g.shapes[n.inputs[1]]
            r = (ins[0].reshape(batch, -1, cin) @ ins[1].reshape(cin, cout) + ins[2].reshape(-1)).reshape(batch, -1)
        elif n.op == "Eltwise":
            x, z = ins[0][:, a["ia"]], ins[1][:, a["ib"]]
            r = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum, "min": np.minimum,
                 "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal, "eq": np.equal,
                 "ne": np.not_equal}[a["op"]](x, z).astype(np.float64)
        elif n.op == "Unary":
            r = {"relu": lambda t: np.maximum(t, 0), "neg": np.negative, "abs": np.abs, "sign": np.sign,
                 "cast": lambda t: t}[a["op"]](ins[0])
        elif n.op == "Select":
            r = np.where(ins[0][:, a["ic"]] != 0, ins[1][:, a["ia"]], ins[2][:, a["ib"]])
        elif n.op in ("ReduceSum", "ReduceMax", "ReduceMin"):
            t = ins[0][:, np.asarray(a["src"])].reshape(ins[0].shape[0], -1, a["n_reduce"])
            r = {"ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}[n.op](t, axis=2)
        elif n.op == "Route":
            r = ins[0][:, np.asarray(a["src"])]
        elif n.op == "Concat2":
            b = max(ins[0].shape[0], ins[1].shape[0])
            r = np.concatenate([np.broadcast_to(t, (b, t.shape[1])) for t in ins], axis=1)[:, np.asarray(a["src"])]
        else:
            raise AssertionError(f"no float model of {n.op} in this test")
        v[n.outputs[0]] = np.broadcast_to(r, (batch, r.shape[1]))
    return {o: v[o] for o in g.outputs}


def _inputs(path, n=16, grid=None):
    m = onnx.load(path)
    xs = {}
    for i in m.graph.input:
        if i.name in {t.name for t in m.graph.initializer}:
            continue
        shape = [n] + [d.dim_value for d in i.type.tensor_type.shape.dim[1:]]
        x = RNG.normal(size=shape) * 2
        xs[i.name] = (np.round(x * grid) / grid if grid else x).astype(np.float32)
    return xs


def check(path, positive=False, grid=None, rtol=1e-5, atol=1e-5):
    """Lower `path` (no standard node may be left), compare its float evaluation with ONNX Runtime
    (grid tables evaluated as their float functions)."""
    g = _lowered(path)
    left = {n.op for n in g.nodes if not n.is_equihls}
    assert not left, (path, left)
    xs = _inputs(path, grid=grid)
    if positive:
        xs = {k: np.abs(x) + 0.25 for k, x in xs.items()}
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, xs)[0]
    got = _float_eval(g, xs)["y"].reshape(ref.shape)
    np.testing.assert_allclose(got, ref.astype(np.float64), rtol=rtol, atol=atol, err_msg=path)
    return g


def node(op, ins, out="y", **attrs):
    return helper.make_node(op, ins, [out], name=f"{op.lower()}_{out}", **attrs)


@pytest.mark.parametrize("e", [2, 3, 5, 1])
def test_integer_pow_is_products(tmp_path, e):
    g = check(_model(tmp_path, [node("Pow", ["x", "e"])], [("e", np.float32(e))], name=f"pow{e}"))
    muls = sum(n.op == "Eltwise" and n.attrs["op"] == "mul" for n in g.nodes)
    assert muls == {2: 1, 3: 2, 5: 3, 1: 0}[e]   # by squaring


@pytest.mark.parametrize("e", [-2, 0.5, -0.5])
def test_negative_and_half_pow_leave_reciprocal_and_sqrt(tmp_path, e):
    g = check(_model(tmp_path, [node("Pow", ["x", "e"])], [("e", np.float32(e))], name=f"pow{e}"),
              positive=True)
    tables = sorted(n.attrs["fn"] for n in g.nodes if n.op == "LUT")
    assert tables == {-2: ["reciprocal"], 0.5: ["sqrt"], -0.5: ["reciprocal", "sqrt"]}[e]


def test_other_pow_is_one_table(tmp_path):
    g = _lowered(_model(tmp_path, [node("Pow", ["x", "e"])], [("e", np.float32(1.5))]))
    assert [(n.op, n.attrs.get("fn"), n.attrs.get("params")) for n in g.nodes] == [("LUT", "pow", {"p": 1.5})]


@pytest.mark.parametrize("opset", [6, 11, 17])
@pytest.mark.parametrize("bounds", [(-1.0, 1.5), (0.0, None), (None, 0.5), (-0.5, None)])
def test_clip(tmp_path, opset, bounds):
    lo, hi = bounds
    if opset < 11:
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        path = _model(tmp_path, [node("Clip", ["x"], **attrs)], opset=opset, name=f"clip{lo}{hi}")
    else:
        ins, inits = ["x", "lo" if lo is not None else "", "hi" if hi is not None else ""], []
        inits = [(k, np.float32(v)) for k, v in (("lo", lo), ("hi", hi)) if v is not None]
        path = _model(tmp_path, [node("Clip", ins)], inits, opset=opset, name=f"clip{lo}{hi}")
    g = check(path)
    if bounds == (0.0, None):
        assert [n.attrs.get("op") for n in g.nodes] == ["relu"]


@pytest.mark.parametrize("op", ["Max", "Min", "Mean"])
def test_variadic_max_min_mean(tmp_path, op):
    path = _model(tmp_path, [node(op, ["x", "z", "c", "w"])], [("c", RNG.normal(size=(4,)))],
                  shapes=(("x", (3, 4)), ("z", (3, 4)), ("w", (1, 4))), name=op)
    check(path)
    check(_model(tmp_path, [node(op, ["c", "d", "x"])], [("c", RNG.normal(size=(4,))), ("d", RNG.normal(size=(3, 1)))],
                 name=op + "cc"))   # two constants first
    check(_model(tmp_path, [node(op, ["x"])], name=op + "1"))


@pytest.mark.parametrize("alpha", [0.1, 1.0, 1.5, -0.3, 0.0])
def test_leaky_relu(tmp_path, alpha):
    g = check(_model(tmp_path, [node("LeakyRelu", ["x"], alpha=alpha)], name=f"lrelu{alpha}"))
    ops = [n.attrs.get("op") for n in g.nodes]
    assert ops[-1] == ("max" if 0 <= alpha <= 1 else "min" if alpha > 1 else "add"), ops


@pytest.mark.parametrize("slope", [[0.1, 0.2, 0.3, 0.4], [0.1, -0.2, 1.5, 0.4], [0.25]])
def test_prelu(tmp_path, slope):
    check(_model(tmp_path, [node("PRelu", ["x", "s"])], [("s", np.array(slope))], name="prelu"))
    # a runtime slope: relu(x) + slope * min(x, 0)
    check(_model(tmp_path, [node("PRelu", ["x", "z"])], shapes=(("x", (3, 4)), ("z", (3, 4))), name="prelu_rt"))


@pytest.mark.parametrize("opset", [6, 14])
def test_hard_sigmoid_and_swish(tmp_path, opset):
    check(_model(tmp_path, [node("HardSigmoid", ["x"], alpha=0.3, beta=0.4)], opset=opset, name="hsig"))
    check(_model(tmp_path, [node("HardSigmoid", ["x"])], opset=opset, name="hsig_default"))
    if opset >= 14:
        check(_model(tmp_path, [node("HardSwish", ["x"])], opset=opset, name="hswish"))


def _bn_params(c):
    return [("sc", RNG.normal(size=c)), ("bi", RNG.normal(size=c)), ("mu", RNG.normal(size=c)),
            ("var", RNG.random(c) + 0.5)]


@pytest.mark.parametrize("opset", [9, 15])
def test_batchnorm_after_gemm_is_folded_into_the_dense(tmp_path, opset):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "W", "b"], ["h"], name="fc"),
             node("BatchNormalization", ["h", "sc", "bi", "mu", "var"], epsilon=1e-3)]
    inits = [("W", RNG.normal(size=(12, 5))), ("b", RNG.normal(size=5))] + _bn_params(5)
    g = check(_model(tmp_path, nodes, inits, opset=opset, name="bn_fold"))
    assert [n.op for n in g.nodes] == ["Dense"], g.summary()   # no Mul/Add left: folded


@pytest.mark.parametrize("opset", [9, 15])
def test_batchnorm_per_channel_affine(tmp_path, opset):
    check(_model(tmp_path, [node("BatchNormalization", ["x", "sc", "bi", "mu", "var"])], _bn_params(3), opset=opset,
                 name="bn"))


def test_batchnorm_with_batch_statistics_is_refused_naming_the_node(tmp_path):
    nodes = [helper.make_node("BatchNormalization", ["x", "sc", "bi", "mu", "var"], ["y", "rm", "rv"], name="bn",
                              training_mode=1)]
    g, _ = frontend.load(_model(tmp_path, nodes, _bn_params(3), opset=15, name="bn_train"))
    with pytest.raises(UnsupportedNodeError) as e:
        passes.run_all(g)
    assert str(e.value).startswith("BatchNormalization 'bn': only the inference form"), str(e.value)


def test_clip_with_min_above_max_is_an_error_naming_the_node(tmp_path):
    path = _model(tmp_path, [node("Clip", ["x", "lo", "hi"])], [("lo", np.float32(2)), ("hi", np.float32(1))],
                  name="badclip")
    with pytest.raises(UnsupportedNodeError, match="Clip 'clip_y': Clip with min 2.0 > max 1.0"):
        _lowered(path)


def test_instance_normalization(tmp_path):
    check(_model(tmp_path, [node("InstanceNormalization", ["x", "sc", "bi"], epsilon=1e-4)],
                 [("sc", RNG.normal(size=3)), ("bi", RNG.normal(size=3))], shapes=(("x", (3, 4, 2)),), name="in"),
          rtol=1e-4, atol=1e-4)  # 1/sqrt(var + eps) is a table


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_normalization(tmp_path, axis):
    shp = (4,) if axis == -1 else (3, 4)
    check(_model(tmp_path, [node("LayerNormalization", ["x", "sc", "bi"], axis=axis)],
                 [("sc", RNG.normal(size=shp)), ("bi", RNG.normal(size=shp))], opset=17, name=f"ln{axis}"),
          rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 2), (13, None), (13, 1), (17, -1)])
def test_softmax(tmp_path, op, opset, axis):
    """opset < 13: softmax over all axes from `axis` on (default 1); 13+: over `axis` (default -1)."""
    attrs = {} if axis is None else {"axis": axis}
    g = check(_model(tmp_path, [node(op, ["x"], **attrs)], opset=opset, name=f"{op}{axis}"))
    tables = sorted(n.attrs["fn"] for n in g.nodes if n.op == "LUT")
    assert tables == (["exp", "reciprocal"] if op == "Softmax" else ["exp", "log"])
    assert any(n.op == "ReduceMax" for n in g.nodes)   # the exact max-subtraction
    # the tables know what the interval analysis cannot: x - max <= 0, and the sum of exps >= 1
    clamps = {n.attrs["fn"]: n.attrs.get("clamp") for n in g.nodes if n.op == "LUT"}
    assert clamps.pop("exp") == [-32.0, 0.0] and list(clamps.values()) == [[1.0, 1e300]]
    doms = {n.attrs["fn"]: n.attrs.get("domain") for n in g.nodes if n.op == "LUT"}
    assert all(d is None or d[0] <= d[1] for d in doms.values())


@pytest.mark.parametrize("op", ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ReduceMax",
                                "ReduceMin"])
@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions(tmp_path, op, opset, keepdims):
    if opset >= 18:
        path = _model(tmp_path, [node(op, ["x", "ax"], keepdims=keepdims)], [("ax", np.int64([-1]))], opset=opset,
                      name=op)
    else:
        path = _model(tmp_path, [node(op, ["x"], axes=[2], keepdims=keepdims)], opset=opset, name=op)
    check(path)


@pytest.mark.parametrize("op", ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"])
def test_comparisons(tmp_path, op):
    """Against a tensor and a constant, on a coarse grid so ties occur; bool -> float by Cast."""
    for ins, inits, shapes in ((["x", "z"], [], (("x", (3, 4)), ("z", (1, 4)))),
                               (["x", "c"], [("c", np.array([0.5, 0.0, -0.5, 1.0]))], (("x", (3, 4)),))):
        nodes = [helper.make_node(op, ins, ["m"], name="cmp"), node("Cast", ["m"], to=TensorProto.FLOAT)]
        check(_model(tmp_path, nodes, inits, opset=16, shapes=shapes, name=op), grid=2)


def test_not_where_mask(tmp_path):
    """PELICAN-style mask: m = x.sum(-1) != 0 (ReduceSum, Equal, Not), y = where(m, x, -1)."""
    nodes = [helper.make_node("ReduceSum", ["x", "ax"], ["s"], name="rs", keepdims=1),
             helper.make_node("Equal", ["s", "zero"], ["e"], name="eq"),
             helper.make_node("Not", ["e"], ["m"], name="not"),
             node("Where", ["m", "x", "fill"])]
    path = _model(tmp_path, nodes, [("ax", np.int64([-1])), ("zero", np.float32(0)), ("fill", np.float32(-1))],
                  name="mask")
    g = check(path, grid=1)
    assert {n.op for n in g.nodes} >= {"Select", "ReduceSum", "Eltwise"}


def test_where_with_constant_condition_and_cast_of_a_mask(tmp_path):
    nodes = [helper.make_node("Greater", ["x", "z"], ["m"], name="gt"),
             helper.make_node("Cast", ["m"], ["mi"], name="to_int", to=TensorProto.INT64),
             helper.make_node("Cast", ["mi"], ["mf"], name="to_float", to=TensorProto.FLOAT),
             helper.make_node("Where", ["c", "x", "mf"], ["y"], name="w")]
    path = _model(tmp_path, nodes, [("c", np.array([True, False, True, False]))],
                  shapes=(("x", (3, 4)), ("z", (3, 4))), name="where_const")
    check(path)


def test_cast_to_bool_is_not_equal_zero(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["b"], name="tb", to=TensorProto.BOOL),
             node("Cast", ["b"], to=TensorProto.FLOAT)]
    g = check(_model(tmp_path, nodes, name="tobool"), grid=1)
    assert any(n.op == "Eltwise" and n.attrs["op"] == "ne" for n in g.nodes)


def test_cast_of_a_real_value_to_int_is_refused_naming_the_node(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["i"], name="ti", to=TensorProto.INT32),
             node("Cast", ["i"], to=TensorProto.FLOAT)]
    g, _ = frontend.load(_model(tmp_path, nodes, name="toint"))
    with pytest.raises(UnsupportedNodeError) as e:   # truncation is not exact
        passes.run_all(g)
    assert str(e.value).startswith("Cast 'ti': only casts to a float type"), str(e.value)


@pytest.mark.parametrize("op", ["Abs", "Sign"])
def test_abs_sign(tmp_path, op):
    g = check(_model(tmp_path, [node(op, ["x"])], name=op), grid=1)
    assert [n.attrs["op"] for n in g.nodes] == [op.lower()]

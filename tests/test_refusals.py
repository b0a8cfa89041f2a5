"""Refusals that help (issue 14, point 7): every node left unlowered is named in one error (op
histogram, first node and reason of each op, in graph order), the CLI prints it as one line and
writes no project, a single node keeps its message, and the forms once refused now lower.
IR level (frontend.load + passes.run_all) and CLI, no g++."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import cli, passes
from equihls.errors import UnsupportedNodeError
from equihls.frontend import onnx_import as frontend

F = TensorProto.FLOAT


def _arr(v):
    """Integer arrays as int64 (axes), everything else as float32."""
    a = np.asarray(v)
    return a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32)


def _save(path, nodes, inits=(), opset=17, out_shape=(4,)):
    """A model x [batch, 4] -> nodes -> y [batch, *out_shape]."""
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", F, ["batch", 4])],
                          [helper.make_tensor_value_info("y", F, ["batch", *out_shape])],
                          initializer=[numpy_helper.from_array(_arr(v), k) for k, v in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


def _refusal(path) -> UnsupportedNodeError:
    g, _ = frontend.load(path)
    with pytest.raises(UnsupportedNodeError) as ei:
        passes.run_all(g)
    return ei.value


def _several(tmp_path):
    """Relu (lowered), then Cos e1, Sin c1, Mod s1, Cos e2, summed into y."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
             helper.make_node("Cos", ["r"], ["a"], name="e1"),
             helper.make_node("Sin", ["x"], ["b"], name="c1"),
             helper.make_node("Mod", ["b", "two"], ["c"], name="s1", fmod=1),
             helper.make_node("Cos", ["c"], ["d"], name="e2"),
             helper.make_node("Sum", ["a", "d"], ["y"], name="total")]
    return _save(tmp_path / "several.onnx", nodes, [("two", np.float32(2))])


def test_several_unsupported_nodes_in_one_error(tmp_path):
    e = _refusal(_several(tmp_path))
    assert [(u.op, u.count, u.first_node) for u in e.unsupported] == [("Cos", 2, "e1"), ("Sin", 1, "c1"),
                                                                        ("Mod", 1, "s1")], e.unsupported
    assert e.node_name == "e1" and e.op_type == "Cos"
    msg = str(e)
    assert "\n" not in msg, msg
    assert msg.startswith("4 nodes have no equihls lowering: Cos ×2 (first 'e1': no equihls lowering for op Cos), "), \
        msg
    i_exp, i_clip, i_soft = (msg.index(s) for s in ("Cos ×2 (first 'e1'", "Sin ×1 ('c1'", "Mod ×1 ('s1'"))
    assert i_exp < i_clip < i_soft, msg
    assert "'e2'" not in msg and "ok_relu" not in msg and "total" not in msg, msg
    assert e.unsupported[1].reason == "no equihls lowering for op Sin", e.unsupported[1]


def test_cli_prints_one_line_and_writes_no_project(tmp_path, capsys):
    out = tmp_path / "proj"
    rc = cli.main(["compile", _several(tmp_path), "-o", str(out), "--n-samples", "8"])
    cap = capsys.readouterr()
    assert rc == 2, cap.err
    assert "Traceback" not in cap.err + cap.out
    lines = cap.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("equihls: error: 4 nodes have no equihls lowering: Cos ×2 "
                                                   "(first 'e1': "), cap.err
    assert "Sin ×1 ('c1': " in lines[0] and "Mod ×1 ('s1': " in lines[0], lines[0]
    assert not os.path.exists(out) and not [p for p in os.listdir(tmp_path) if p.startswith("proj")]


def test_a_single_unsupported_node_keeps_its_message(tmp_path):
    p = _save(tmp_path / "one.onnx", [helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
                                      helper.make_node("Sin", ["r"], ["y"], name="my_sin")])
    e = _refusal(p)
    assert str(e) == "Sin 'my_sin': no equihls lowering for op Sin", str(e)
    assert e.unsupported == [("Sin", 1, "my_sin", "no equihls lowering for op Sin")]
    mm = _save(tmp_path / "mm.onnx", [helper.make_node("Unsqueeze", ["x", "ax"], ["u"], name="u"),
                                      helper.make_node("Unsqueeze", ["x", "ax1"], ["v"], name="v"),
                                      helper.make_node("MatMul", ["u", "v"], ["p"], name="m3"),
                                      helper.make_node("Flatten", ["p"], ["y"], name="fl")],
               [("ax", np.int64([-1])), ("ax1", np.int64([1]))], out_shape=(16,))
    g, _ = frontend.load(mm)
    passes.run_all(g)                       # an outer product as MatMul: lowered as its Einsum
    assert all(n.is_equihls for n in g.nodes) and any(n.name.startswith("m3") for n in g.nodes)
    big = tmp_path / "big.onnx"             # [64, 64]·[64, 64] per event: 262,144 products, over the cap
    gr = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"], name="m3")], "m",
                           [helper.make_tensor_value_info("x", F, ["batch", 64, 64])],
                           [helper.make_tensor_value_info("y", F, ["batch", 64, 64])])
    onnx.save(helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(big))
    e = _refusal(str(big))
    assert str(e).startswith("MatMul 'm3': both inputs are runtime tensors; as the Einsum '...ij,...jk->...ik' it "
                             "is not lowered: intermediate"), str(e)
    assert "(cap 65536)" in str(e)


def _one(tmp_path, node, inits=(), opset=17):
    return _refusal(_save(tmp_path / f"{node.name}.onnx", [node], inits, opset))


@pytest.mark.parametrize("opset", [17, 6])
def test_clip_lowers_in_both_forms(tmp_path, opset):
    """Clip is lowered (decompose.py), with its bounds as inputs (opset 11+) or attributes (< 11)."""
    if opset == 17:
        node, inits = helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clamp"), [("lo", np.float32(-1)),
                                                                                         ("hi", np.float32(1))]
    else:
        node, inits = helper.make_node("Clip", ["x"], ["y"], name="clamp", min=0.0, max=3.4e38), []
    _lowers(_save(tmp_path / f"clip{opset}.onnx", [node], inits, opset))


def test_log_div_and_fractional_pow_are_lowered_now(tmp_path):
    """Log outside psi, Div by a tensor and a non-integer Pow became grid tables (passes/lower/tables.py)."""
    _lowers(_save(tmp_path / "log1p.onnx", [helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
                                            helper.make_node("Add", ["r", "one"], ["a"], name="plus1"),
                                            helper.make_node("Log", ["a"], ["y"], name="log1p")],
                  [("one", np.float32(1))]))
    _lowers(_save(tmp_path / "div.onnx", [helper.make_node("Relu", ["x"], ["r"], name="r"),
                                          helper.make_node("Div", ["x", "r"], ["y"], name="dv")]))
    for p in (0.5, 1.5):
        _lowers(_save(tmp_path / f"pow{p}.onnx", [helper.make_node("Relu", ["x"], ["r"], name="r"),
                                                  helper.make_node("Pow", ["r", "p"], ["y"], name="rt")],
                      [("p", np.float32(p))]))


def test_a_runtime_exponent_is_refused_plainly(tmp_path):
    e = _one(tmp_path, helper.make_node("Pow", ["x", "x"], ["y"], name="xx"))
    assert str(e) == "Pow 'xx': no equihls lowering for op Pow with these inputs/attributes", str(e)


def _lowers(path):
    g, _ = frontend.load(path)
    passes.run_all(g)
    assert all(n.is_equihls for n in g.nodes)


def test_the_once_hinted_forms_lower_directly(tmp_path):
    """The forms earlier refusals suggested rewrites for now lower as exported: Clip(min=0), integer
    Pow, LeakyRelu, Exp and Softmax (decompose.py, tables.py)."""
    _lowers(_save(tmp_path / "relu.onnx", [helper.make_node("Clip", ["x", "lo"], ["y"], name="c")],
                  [("lo", np.float32(0))]))
    _lowers(_save(tmp_path / "sq.onnx", [helper.make_node("Pow", ["x", "two"], ["y"], name="sq")],
                  [("two", np.float32(2))]))
    _lowers(_save(tmp_path / "lrelu.onnx", [helper.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=0.1)]))
    _lowers(_save(tmp_path / "exp.onnx", [helper.make_node("Exp", ["x"], ["y"], name="ex")]))
    _lowers(_save(tmp_path / "sm.onnx", [helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=-1)]))

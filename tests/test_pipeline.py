"""The declared pipeline (equihls/passes/pipeline.py), its manager and the IR's invariants:
Graph.verify names each broken invariant, the producer/consumer index follows every kind of edit,
a fixed-point group that never settles is stopped with an error naming it, and the pass log of
a load + run_all lists the frontend rewrites that ran before the IR passes. IR level, no g++."""
import dataclasses

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import passes
from equihls.frontend import onnx_import as frontend
from equihls.ir import Graph, Node
from equihls.ir.graph import IRInvariantError
from equihls.passes import manager, pipeline


def _chain():
    """x (1,4) -> Relu r1 -> a -> Neg r2 -> y, plus a constant c read by nothing."""
    nodes = [Node("Relu", "r1", ["x"], ["a"]), Node("Neg", "r2", ["a"], ["y"])]
    shapes = {"x": (1, 4), "a": (1, 4), "y": (1, 4), "c": (4,)}
    return Graph(nodes, shapes, {"c": np.zeros(4)}, ["x"], ["y"])


def test_verify_accepts_a_sound_graph():
    _chain().verify()


def _dup_name(g):
    g.nodes[1].name = "r1"


def _unknown_input(g):
    g.nodes[1].inputs[0] = "ghost"


def _out_of_order(g):
    g.nodes.reverse()


def _written_twice(g):
    g.nodes[1].outputs[0] = "a"


def _writes_input(g):
    g.nodes[0].outputs[0] = "x"
    g.nodes[1].inputs[0] = "x"


def _writes_const(g):
    g.nodes[0].outputs[0] = "c"
    g.nodes[1].inputs[0] = "c"


def _output_unwritten(g):
    g.outputs.append("a2")


def _no_shape(g):
    del g.shapes["a"]


def _no_batch_axis(g):
    g.shapes["y"] = (4,)


def _const_shape(g):
    g.shapes["c"] = (1, 4)


def _input_twice(g):
    g.inputs.append("x")


@pytest.mark.parametrize("breaks, message", [
    (_dup_name, "two nodes are named 'r1'"),
    (_unknown_input, "Neg 'r2' reads 'ghost', which is no graph input, constant or node output"),
    (_out_of_order, "Neg 'r2' reads 'a' before Relu 'r1' writes it"),
    (_written_twice, "tensor 'a' is written by both Relu 'r1' and Neg 'r2'"),
    (_writes_input, "Relu 'r1' writes 'x', which is a graph input"),
    (_writes_const, "Relu 'r1' writes 'c', which is a graph constant"),
    (_output_unwritten, "graph output 'a2' is written by no node"),
    (_no_shape, "Relu 'r1': output 'a' has no recorded shape"),
    (_no_batch_axis, "graph output 'y' has shape (4,), without the batch axis 1 first"),
    (_const_shape, "constant of shape (4,) recorded as (1, 4)"),
    (_input_twice, "graph input 'x' is listed 2 times"),
])
def test_verify_names_each_broken_invariant(breaks, message):
    g = _chain()
    breaks(g)
    with pytest.raises(IRInvariantError) as e:
        g.verify()
    assert message in str(e.value)


def test_index_follows_every_edit():
    """producer/consumers agree with a scan of the node list after in-place edits of inputs and
    outputs, list insertion/removal, replace, rename_tensor and remove_dead."""
    g = _chain()
    r1, r2 = g.nodes
    assert g.producer("a") is r1 and g.consumers("a") == [r2] and g.producer("x") is None
    r2.inputs[0] = "x"                                   # in-place edit of a wiring list
    assert g.consumers("a") == [] and g.consumers("x") == [r1, r2]
    r2.inputs = ["a"]
    relu = Node("Relu", "r3", ["a"], ["b"])
    g.shapes["b"] = (1, 4)
    g.nodes.insert(1, relu)                             # list insertion
    assert g.consumers("a") == [relu, r2] and g.producer("b") is relu
    g.replace(relu, [Node("Neg", "r4", ["a"], ["b"])])
    assert g.producer("b").name == "r4"
    g.rename_tensor("a", "x")
    assert g.consumers("x") == [r1, g.nodes[1], r2] and g.consumers("a") == []
    g.remove_dead()                                     # r1 and r4 now unread
    assert [n.name for n in g.nodes] == ["r2"] and g.producer("a") is None and g.producer("b") is None
    r2.outputs = ["z"]
    assert g.producer("z") is r2 and g.producer("y") is None
    assert g.fresh("r2") == "r2_1"
    r2.name = "r2_1"                                    # a renamed node takes its name from fresh's choices
    assert g.fresh("r2") == "r2_2"


def test_consumers_lists_a_node_once_per_tensor():
    g = Graph([Node("Mul", "sq", ["x", "x"], ["y"])], {"x": (1, 2), "y": (1, 2)}, {}, ["x"], ["y"])
    assert [n.name for n in g.consumers("x")] == ["sq"]


def test_fixed_point_cap_names_group_and_passes():
    """A pass pair that undoes itself never settles: stopped after MAX_ROUNDS rounds."""
    calls = []

    def flip(g):
        calls.append(1)
        return True

    def steady(g):
        return False

    group = manager.Group("TOGGLE", [steady, flip], fixed_point=True)
    with pytest.raises(manager.PipelineError, match="pass group TOGGLE reached no fixed point in 64 rounds; "
                                                    "passes still changing the graph: flip"):
        manager.run_group(group, None, [])
    assert len(calls) == manager.MAX_ROUNDS


def test_group_logs_changes_and_runs_to_a_fixed_point():
    """Only passes that changed something are logged, once per change; `after` follows each change."""
    todo, after = [3], []

    def countdown(s):
        if todo[0]:
            todo[0] -= 1
            return True
        return False

    def check(s):
        return None

    log = manager.run_group(manager.Group("G", [check, countdown], fixed_point=True, after=after.append), "s", [])
    assert log == ["countdown"] * 3 and after == ["s"] * 3
    assert manager.run_group(manager.Group("ONCE", [countdown]), "s", []) == []


def test_verification_after_each_pass_names_the_pass(monkeypatch):
    """With EQUIHLS_VERIFY_IR on, a pass that breaks an invariant is caught right after it runs."""
    def breaks(g):
        g.nodes[1].inputs[0] = "ghost"
        return True

    group = manager.Group("BAD", [breaks], verify=Graph.verify)
    monkeypatch.setenv("EQUIHLS_VERIFY_IR", "1")
    with pytest.raises(manager.PipelineError, match="after pass breaks \\(group BAD\\): IR: Neg 'r2' reads 'ghost'"):
        manager.run_group(group, _chain(), [])
    monkeypatch.setenv("EQUIHLS_VERIFY_IR", "0")
    assert manager.run_group(group, _chain(), []) == ["breaks"]


def _tiny(path):
    """x [batch, 4] -> Identity -> Relu -> y, an unnamed-duplicate pair of names, a foldable Add."""
    nodes = [helper.make_node("Identity", ["x"], ["xi"], name="n"),
             helper.make_node("Add", ["one", "one"], ["two"], name="n"),
             helper.make_node("Mul", ["xi", "two"], ["m"], name="mul"),
             helper.make_node("Relu", ["m"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
                              initializer=[numpy_helper.from_array(np.ones(1, np.float32), "one")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return str(path)


def test_log_starts_with_the_frontend_passes_that_ran(tmp_path):
    g, ref = frontend.load(_tiny(tmp_path / "t.onnx"))
    assert g.pass_log == ["unique_node_names", "fix_batch", "drop_passthrough", "fold_constants"]
    assert [n.name for n in ref.graph.node] == ["n", "n_2", "mul", "relu"]   # the reference: names unique
    log = passes.run_all(g)
    assert log[:4] == g.pass_log and log[4:] == ["lower_unary", "lower_elementwise"]
    assert [(n.op, n.domain) for n in g.nodes] == [("Eltwise", "equihls"), ("Unary", "equihls")]


def test_every_frontend_rewrite_is_a_listed_pass():
    """The rewrites the frontend applies are named passes of the declared stages, in that order."""
    names = [p.__name__ for group in pipeline.stages() for p in group]
    want = ["check_onnx", "unique_node_names", "check_graph_ports", "fix_batch", "quant_to_casts",
            "drop_passthrough", "infer_shapes", "fold_constants", "inline_constant_ifs", "refuse_subgraphs",
            "infer_shapes", "unflatten_tensordot",
            "equihls_shapes", "ir_nodes", "unique_ir_names", "check_outputs", "check_const_values",
            "check_tensor_shapes", "recognize_scalar_products"]
    assert names[:len(want)] == want and names[-1] == "refuse_unlowered"
    assert pipeline.ONNX_FOLDING.fixed_point and all(g.fixed_point for g in (pipeline.RECOGNITION,
                                                                              pipeline.LOWERING, pipeline.CLEANUP))
    assert pipeline.REFERENCE.names() == ["unique_node_names", "free_fixed_batch", "float16_to_float32"]


def test_a_swapped_group_is_what_runs(tmp_path, monkeypatch):
    """run_all runs the groups pipeline.py holds at call time (tests replace one)."""
    g, _ = frontend.load(_tiny(tmp_path / "t.onnx"))
    monkeypatch.setattr(pipeline, "LOWERING", dataclasses.replace(pipeline.LOWERING, passes=[]))
    with pytest.raises(passes.refuse.UnsupportedNodeError, match=r"Mul ×1 \('mul'"):
        passes.run_all(g)


def test_manifest_lists_the_frontend_passes(demo):
    _, m = demo
    assert m["passes"][:2] == ["fix_batch", "fold_constants"] and "recognize_scalar_products" in m["passes"]

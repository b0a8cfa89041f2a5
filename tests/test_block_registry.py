"""Blocks register themselves: defining a Block subclass is all the precision pass, the twin, the
estimator and the optimisation passes need to find it (through block_for and its traits)."""
import numpy as np
import pytest

from equihls import passes, targets
from equihls.blocks import BLOCKS, block_for, twin
from equihls.blocks.base import Block, per_event, size
from equihls.blocks.cost import DELAY_LUT_NS, BlockCost
from equihls.ir import Graph, Node
from equihls.ir.fixedpoint import FixedType
from equihls.precision import infer as precision
from equihls.report import estimate

IN_T, DEF_T = FixedType.parse("ap_fixed<10,6>"), FixedType.parse("ap_fixed<18,8,AP_RND>")
TOY = "ToyAbs"


@pytest.fixture
def toy_block():
    """Define (and so register) a toy element-wise |x| block; remove it from the registry after."""
    assert TOY not in BLOCKS

    class ToyAbs(Block):
        """y = |x|, exact; one comparator LUT level per element."""

        op = TOY
        per_element = True

        def acc_range(self, g, node, types, qconst):
            t = types[node.inputs[0]]
            return 0, max(-t.raw_min, t.raw_max), t.frac

        def twin(self, g, node, raws, types, qconst, acc_frac):
            return np.abs(raws[node.inputs[0]])

        def error(self, g, node, errs, mags, types, qconst):
            return errs[node.inputs[0]]

        def cost(self, g, node, prec, post_adder=True):
            n = size(per_event(g.shapes[node.inputs[0]]))
            return BlockCost(node.name, node.op, lut_other=prec.types[node.outputs[0]].width * n,
                             ops=[DELAY_LUT_NS])

    try:
        yield ToyAbs
    finally:
        BLOCKS.pop(TOY, None)


def _graph(nodes, shapes, inputs, outputs):
    return Graph(nodes, shapes, {}, inputs, outputs)


def test_defining_a_block_registers_it_for_precision_twin_and_estimate(toy_block):
    node = Node(TOY, "abs", ["x"], ["y"], {}, "equihls")
    g = _graph([node], {"x": (1, 6), "y": (1, 6)}, ["x"], ["y"])
    assert isinstance(block_for(node), toy_block) and BLOCKS[TOY] is block_for(node)
    prec = precision.infer(g, {"x": IN_T}, DEF_T)
    assert prec.types["y"] == FixedType(11, 7)          # [0, 2^9] raw at 4 fractional bits: exact, signed
    x = np.array([[-512, -3, 0, 5, 511, -1]])
    raws, ovf = twin.run(g, prec, {"x": x})
    assert raws["y"].tolist() == [[512, 3, 0, 5, 511, 1]] and not any(ovf.values())
    est = estimate.estimate(g, prec, targets.get("vu9p"), 5.0)
    assert est["blocks"][0]["op"] == TOY and est["blocks"][0]["lut"] == 11 * 6
    assert est["total"]["latency_cycles"] == 1         # one LUT level fits the clock, plus the output register


def test_optimisation_passes_ask_the_block_for_its_traits(toy_block):
    """fold_symmetric_pairs moves any per_element block onto the i <= j pairs: the toy block is
    folded without any pass knowing its op name, and the result is bit-identical."""
    sp = Node("ScalarProducts", "gram", ["x"], ["d"], {"metric": [1, -1, -1]}, "equihls")
    ab = Node(TOY, "abs", ["d"], ["a"], {}, "equihls")
    red = Node("ReduceSum", "sum", ["a"], ["y"], {"n_reduce": 16, "src": np.arange(16)}, "equihls")
    shapes = {"x": (1, 4, 3), "d": (1, 4, 4), "a": (1, 4, 4), "y": (1, 1)}
    rng = np.random.default_rng(1)
    x = rng.integers(IN_T.raw_min, IN_T.raw_max, size=(50, 12), endpoint=True)

    def run(g):
        prec = precision.infer(g, {"x": IN_T}, DEF_T)
        return twin.run(g, prec, {"x": x})[0]["y"]

    g0 = _graph([sp, ab, red], shapes, ["x"], ["y"])
    y0 = run(g0)
    g1 = _graph([Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs), n.domain) for n in g0.nodes],
                shapes, ["x"], ["y"])
    assert passes.fold_symmetric_pairs(g1)
    assert g1.size("a") == 4 * 5 // 2                     # |d| on 10 pairs, not 16
    np.testing.assert_array_equal(run(g1), y0)
    toy_block.per_element = False                        # without the trait the chain is not folded
    g2 = _graph([Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs), n.domain) for n in g0.nodes],
                shapes, ["x"], ["y"])
    assert not passes.fold_symmetric_pairs(g2)


def test_registry_refuses_a_second_block_for_one_op():
    with pytest.raises(ValueError, match="'Dense' is registered twice"):
        class OtherDense(Block):
            op = "Dense"
    assert type(BLOCKS["Dense"]).__name__ == "Dense"


def test_registry_holds_every_shipped_block_once():
    assert list(BLOCKS) == ["ScalarProducts", "Dense", "Eltwise", "Route", "Concat2", "ReduceSum", "ReduceMax",
                            "ReduceMin", "Unary", "LUT", "Bilinear", "Select"]
    assert {op for op, b in BLOCKS.items() if b.per_element} == {"LUT", "Unary"}
    assert {op for op, b in BLOCKS.items() if b.commutes_with_scale} == {"Route", "ReduceSum"}

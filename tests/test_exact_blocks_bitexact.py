"""The exact blocks of issue 14 (Unary abs/sign, Eltwise comparisons, Select, ReduceMax/ReduceMin)
vs their numpy twins, bit for bit, over random inputs and random ap_fixed types."""
import numpy as np
import pytest

from equihls.blocks.select import broadcast_tables3
from equihls.ir import Graph, Node
from equihls.ir.fixedpoint import FixedType
from equihls.precision import infer as precision
from tests.blockharness import Case, build, run_case
from tests.test_blocks_bitexact import DEFAULT, elt, rand_type

RNG = np.random.default_rng(4321)


class OrderedCase(Case):
    """A Case whose node reads its inputs in the given order (constants may come first)."""

    def __init__(self, op, order, ins, consts, attrs, out_shape, default_type):
        shapes = {**{k: s for k, (s, _) in ins.items()}, **{k: v.shape for k, v in consts.items()}, "y": out_shape}
        self.g = Graph([Node(op, "n", list(order), ["y"], dict(attrs), "equihls")], shapes, consts, list(ins), ["y"])
        self.prec = precision.infer(self.g, {k: t for k, (_, t) in ins.items()}, default_type, 10, None, None,
                                    allow_weight_rounding=True)
        self.node = self.g.nodes[0]


def sel(sc, sa, sb, so):
    ic, ia, ib = broadcast_tables3([sc, sa, sb], so)
    return {"ic": ic, "ia": ia, "ib": ib}


def cases():
    out, ids = [], []
    for op in ("abs", "sign"):
        for k in range(4):
            t = rand_type(RNG, 3, 20)
            if k == 3:
                t = FixedType(t.width, t.integer, False)   # unsigned input
            out.append(Case("Unary", {"x": ((1, 16), t)}, {}, {"op": op}, (1, 16), DEFAULT))
            ids.append(f"unary-{op}-{t.cpp()}")
    for op in ("gt", "ge", "lt", "le", "eq", "ne"):
        for k in range(2):
            ta = rand_type(RNG, 3, 12)
            tb = FixedType(ta.width, ta.integer) if k else rand_type(RNG, 3, 12)   # equal types: many ties
            out.append(Case("Eltwise", {"a": ((1, 3, 1, 4), ta), "b": ((1, 1, 3, 4), tb)}, {},
                            elt(op, (1, 3, 1, 4), (1, 1, 3, 4), (1, 3, 3, 4)), (1, 3, 3, 4), DEFAULT))
            ids.append(f"compare-{op}-{k}")
        c = np.round(RNG.normal(size=(5,)) * 4) / 4
        out.append(Case("Eltwise", {"a": ((1, 2, 5), FixedType(8, 4))}, {"c": c}, elt(op, (1, 2, 5), (5,), (1, 2, 5)),
                        (1, 2, 5), DEFAULT))
        ids.append(f"compare-const-{op}")
    for k in range(4):
        tc, ta, tb = FixedType(2, 2), rand_type(RNG), rand_type(RNG)
        out.append(Case("Select", {"c": ((1, 3, 1), tc), "a": ((1, 3, 4), ta), "b": ((1, 1, 4), tb)}, {},
                        sel((1, 3, 1), (1, 3, 4), (1, 1, 4), (1, 3, 4)), (1, 3, 4), DEFAULT))
        ids.append(f"select-{k}")
    out.append(Case("Select", {"c": ((1, 6), rand_type(RNG)), "a": ((1, 6), rand_type(RNG))},
                    {"fill": np.array(-2.5)}, sel((1, 6), (1, 6), (), (1, 6)), (1, 6), DEFAULT))
    ids.append("select-const-b")
    ab = {"a": ((1, 2, 3), rand_type(RNG)), "b": ((1, 2, 3), rand_type(RNG))}
    out.append(OrderedCase("Select", ["m", "a", "b"], ab, {"m": np.array([1.0, 0.0, 1.0])},
                           sel((3,), (1, 2, 3), (1, 2, 3), (1, 2, 3)), (1, 2, 3), DEFAULT))
    ids.append("select-const-cond")
    for op in ("ReduceMax", "ReduceMin"):
        for k in range(4):
            t = rand_type(RNG)
            n_red = [1, 2, 5, 8][k]
            out.append(Case(op, {"x": ((1, 3 * n_red), t)}, {}, {"src": RNG.permutation(3 * n_red), "n_reduce": n_red},
                            (1, 3), DEFAULT))
            ids.append(f"{op}-{n_red}-{t.cpp()}")
    return out, ids


CASES, IDS = cases()


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build(CASES, str(tmp_path_factory.mktemp("exact_blocks")))


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
@pytest.mark.gxx
def test_exact_block_twin_matches_csim(lib, k):
    case = CASES[k]
    rng = np.random.default_rng(100 + k)
    raws = case.random_raw(rng, 60)
    for name in case.g.inputs:   # the corners of every input type, and zeros (sign, ties)
        t = case.prec.types[name]
        raws[name][0, :], raws[name][1, :], raws[name][2, :] = t.raw_min, t.raw_max, 0
    c_raw, t_raw = run_case(lib, k, case, raws)
    mism = np.argwhere(c_raw != t_raw)
    first = tuple(mism[0]) if len(mism) else None
    assert len(mism) == 0, f"{IDS[k]}: {len(mism)} mismatches, first at {first}: C {c_raw[first]} twin {t_raw[first]}"


def test_exact_block_types_are_exact():
    """abs/sign/comparisons/select/max/min never round: output type == accumulator type, and the
    0/1 and sign outputs have no fractional bits."""
    for case, name in zip(CASES, IDS):
        y = case.prec.types["y"]
        assert y == case.prec.acc["n"], name
        if name.startswith(("compare", "unary-sign")):
            assert y.frac == 0 and y.max >= 1, name

"""Every IP block vs its numpy twin, bit for bit, over random inputs and random ap_fixed types."""
import numpy as np
import pytest

from equihls.blocks import block_for
from equihls.blocks.eltwise import broadcast_tables
from equihls.ir.fixedpoint import FixedType
from tests.blockharness import Case, build, run_case

RNG = np.random.default_rng(1234)
DEFAULT = FixedType.parse("ap_fixed<18,8,AP_RND>")


def rand_type(rng, wmin=4, wmax=20):
    w = int(rng.integers(wmin, wmax + 1))
    return FixedType(w, int(rng.integers(1, w + 1)))


def elt(op, sa, sb, so, **kw):
    """Eltwise attrs with the broadcast tables the lowering pass would freeze."""
    ia, ib = broadcast_tables(sa, sb, so)
    return {"op": op, "ia": ia, "ib": ib, **kw}


def scalar_product_cases():
    cases, ids = [], []
    types = [rand_type(RNG, 6, 24) for _ in range(5)]
    for t in types:
        for n in (2, 8, 16):
            for d, metric in ((3, (1, 1, 1)), (4, (1, -1, -1, -1))):
                cases.append(Case("ScalarProducts", {"x": ((1, n, d), t)}, {}, {"metric": metric}, (1, n, n), DEFAULT))
                ids.append(f"sp-{t.cpp()}-N{n}-D{d}")
    return cases, ids


def narrowed_cases():
    """Output types narrower than exact, with every rounding and overflow mode: tests the res_T cast."""
    cases, ids = [], []
    modes = [("AP_TRN", "AP_WRAP"), ("AP_RND", "AP_SAT"), ("AP_RND_CONV", "AP_SAT_SYM"), ("AP_TRN_ZERO", "AP_SAT_ZERO"),
             ("AP_RND_ZERO", "AP_WRAP"), ("AP_RND_INF", "AP_SAT"), ("AP_RND_MIN_INF", "AP_WRAP")]
    for q, o in modes:
        t = rand_type(RNG, 8, 16)
        out = FixedType(int(RNG.integers(6, 14)), int(RNG.integers(2, 10)), True, q, o)
        cases.append(Case("ScalarProducts", {"x": ((1, 4, 4), t)}, {}, {"metric": (1, -1, -1, -1)}, (1, 4, 4), DEFAULT,
                          out))
        ids.append(f"sp-narrow-{out.cpp()}")
        cases.append(Case("Unary", {"x": ((1, 12), FixedType(16, 6))}, {}, {"op": "cast"}, (1, 12), DEFAULT, out))
        ids.append(f"cast-{out.cpp()}")
    return cases, ids


def narrowed_accumulator_cases():
    """User-narrowed accumulators: the block rounds/overflows after every term (C++ acc += term)."""
    cases, ids = [], []
    modes = [("AP_TRN", "AP_WRAP"), ("AP_RND", "AP_SAT"), ("AP_RND_CONV", "AP_WRAP"), ("AP_TRN_ZERO", "AP_SAT_SYM"),
             ("AP_RND_INF", "AP_WRAP")]
    for q, o in modes:
        t = rand_type(RNG, 8, 14)
        acc = FixedType(int(RNG.integers(8, 2 * t.width)), int(RNG.integers(2, 2 * t.integer + 2)), True, q, o)
        for d, metric in ((3, (1, 1, 1)), (4, (1, -1, -1, -1))):
            cases.append(Case("ScalarProducts", {"x": ((1, 5, d), t)}, {}, {"metric": metric}, (1, 5, 5), DEFAULT,
                              accum=acc))
            ids.append(f"sp-accum-{acc.cpp()}-D{d}")
    return cases, ids


def other_cases():
    cases, ids = [], []
    for k in range(5):
        tx = rand_type(RNG, 6, 18)
        cin, cout, rows = int(RNG.integers(1, 6)), int(RNG.integers(1, 6)), int(RNG.integers(1, 4))
        w = RNG.normal(size=(cin, cout)) * (0.2 + k)
        w[RNG.random(w.shape) < 0.2] = 0.0
        deft = FixedType(18, 8, True, ["AP_TRN", "AP_RND", "AP_RND_CONV", "AP_RND_ZERO", "AP_TRN_ZERO"][k])
        cases.append(Case("Dense", {"x": ((1, rows, cin), tx)}, {"W": w, "b": RNG.normal(size=cout)}, {},
                          (1, rows, cout), deft, weight_frac=int(RNG.integers(4, 12))))
        ids.append(f"dense-{k}")
    for op in ("add", "sub", "mul", "max", "min"):
        ta, tb = rand_type(RNG), rand_type(RNG)
        cases.append(Case("Eltwise", {"a": ((1, 3, 1, 4), ta), "b": ((1, 1, 3, 4), tb)}, {},
                          elt(op, (1, 3, 1, 4), (1, 1, 3, 4), (1, 3, 3, 4)),
                          (1, 3, 3, 4), DEFAULT))
        ids.append(f"eltwise-{op}")
        cases.append(Case("Eltwise", {"a": ((1, 2, 5), ta)}, {"c": RNG.normal(size=(5,)) * 3}, elt(op, (1, 2, 5), (5,),
                                                                                                   (1, 2, 5)),
                          (1, 2, 5), DEFAULT))
        ids.append(f"eltwise-const-{op}")
    cases.append(Case("Eltwise", {"a": ((1, 2, 5), FixedType(14, 9))}, {"c": np.array(2.0 ** -5)},
                      elt("mul", (1, 2, 5), (), (1, 2, 5), pow2=True),
                      (1, 2, 5), DEFAULT))
    ids.append("eltwise-pow2")
    for k in range(3):
        t = rand_type(RNG)
        src = RNG.integers(0, 12, size=20)
        cases.append(Case("Route", {"x": ((1, 3, 4), t)}, {}, {"src": src}, (1, 20), DEFAULT))
        ids.append(f"route-{k}")
        ta, tb = rand_type(RNG), rand_type(RNG)
        cases.append(Case("Concat2", {"a": ((1, 6), ta), "b": ((1, 4), tb)}, {}, {"src": RNG.permutation(10)}, (1, 10),
                          DEFAULT))
        ids.append(f"concat-{k}")
        n_red = int(RNG.integers(1, 9))
        cases.append(Case("ReduceSum", {"x": ((1, 3 * n_red), t)}, {}, {"src": RNG.permutation(3 * n_red),
                                                                        "n_reduce": n_red},
                          (1, 3), DEFAULT))
        ids.append(f"reduce-{k}")
    for op in ("relu", "neg"):
        cases.append(Case("Unary", {"x": ((1, 10), rand_type(RNG))}, {}, {"op": op}, (1, 10), DEFAULT))
        ids.append(f"unary-{op}")
    for func, t in (("psi", FixedType(33, 13)), ("psi", FixedType(20, 20)), ("psi", FixedType(12, 4)),
                    ("sigmoid", FixedType(16, 6)), ("sigmoid", FixedType(10, 8)), ("tanh", FixedType(14, 4))):
        cases.append(Case("LUT", {"x": ((1, 40), t)}, {}, {"func": func}, (1, 40), DEFAULT))
        ids.append(f"lut-{func}-{t.cpp()}")
    return cases, ids


CASES, IDS = [], []
for f in (scalar_product_cases, narrowed_cases, narrowed_accumulator_cases, other_cases):
    c, i = f()
    CASES += c
    IDS += i


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build(CASES, str(tmp_path_factory.mktemp("blocks")))


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
@pytest.mark.gxx
def test_block_twin_matches_csim(lib, k):
    case = CASES[k]
    rng = np.random.default_rng(k)
    raws = case.random_raw(rng, 40)
    # include the extreme corners of every input type (overflow-prone values)
    for name in case.g.inputs:
        t = case.prec.types[name]
        raws[name][0, :] = t.raw_min
        raws[name][1, :] = t.raw_max
    c_raw, t_raw = run_case(lib, k, case, raws)
    mism = np.argwhere(c_raw != t_raw)
    first = tuple(mism[0]) if len(mism) else None
    assert len(mism) == 0, f"{IDS[k]}: {len(mism)} mismatches, first at {first}: C {c_raw[first]} twin {t_raw[first]}"


def test_exact_blocks_do_not_round():
    """The scalar-product output type is exact: it equals the accumulator type."""
    for case in CASES:
        if case.node.op == "ScalarProducts" and not case.prec.overridden and not case.prec.acc_narrowed:
            assert case.prec.types["y"] == case.prec.acc["n"]
            assert case.prec.types["y"].frac == 2 * case.prec.types["x"].frac


@pytest.mark.gxx
def test_harness_detects_a_wrong_twin(lib):
    """Sensitivity: a twin off by one LSB in one element is caught."""
    k = IDS.index("dense-0")
    raws = CASES[k].random_raw(np.random.default_rng(0), 5)
    c_raw, t_raw = run_case(lib, k, CASES[k], raws)
    t_raw[2, 0] += 1
    assert (c_raw != t_raw).sum() == 1


def test_narrowed_accumulator_rounds_inside_the_sum():
    """The narrowed-accumulator cases really round per term: their result differs from rounding
    the exact sum once (so the bit-exact comparison above exercises the per-term path)."""
    checked = 0
    for k, case in enumerate(CASES):
        if not case.prec.acc_narrowed:
            continue
        acc_t = case.prec.acc["n"]
        if acc_t.frac >= 2 * case.prec.types["x"].frac:
            continue
        raws = case.random_raw(np.random.default_rng(k), 200)
        blk = block_for(case.node)
        per_term, _ = blk.twin_accumulate(case.g, case.node, raws, case.prec.types, acc_t)
        exact = blk.twin(case.g, case.node, raws, case.prec.types, case.prec.qconst, case.prec.acc_frac["n"])
        once, _ = acc_t.quantize_raw(exact, case.prec.acc_frac["n"])
        assert (np.asarray(per_term, dtype=object) != np.asarray(once, dtype=object)).any(), IDS[k]
        checked += 1
    assert checked >= 3

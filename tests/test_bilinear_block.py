"""The sparse constant-bilinear block (Clebsch-Gordan core) vs its numpy twin, bit for bit, plus
its interval, error bounds and multiplier counts."""
import itertools

import numpy as np
import pytest

from equihls.blocks import block_for
from equihls.blocks.bilinear import _bilinear_range, dense_multiplier_count, multiplier_count, sparse_plan
from equihls.ir.fixedpoint import FixedType
from equihls.backend.emit import block_context
from equihls.symmetry.o3 import cg, simplest_scale
from equihls.symmetry.lorentz import ETA, cg_lorentz
from tests.blockharness import Case, build, run_case

RNG = np.random.default_rng(2718)
DEFAULT = FixedType.parse("ap_fixed<18,8,AP_RND>")
CG_LS = ((1, 1, 0), (1, 1, 1), (1, 1, 2), (1, 2, 1), (2, 2, 2), (2, 1, 3))
WEIGHT_FRAC = 10
# the harness passes values through doubles: keep every raw within 53 bits
MAX_CSIM_WIDTH = 53


def rand_type(rng, wmin=4, wmax=14, signed=True):
    w = int(rng.integers(wmin, wmax + 1))
    return FixedType(w, int(rng.integers(1, w + 1)), signed)


def cg_coeffs(l1, l2, l3):
    """simplest_scale's coefficients where they are exact, else the raw (unit-norm) CG tensor."""
    r = simplest_scale(cg(l1, l2, l3))
    return ("scaled", r.coeffs) if r.kind != "approximate" else ("raw", cg(l1, l2, l3))


def coefficient_tensors():
    """name -> (C [Da, Db, Dk], kind): 'integer', 'dyadic' or 'rounded' (quantised at WEIGHT_FRAC)."""
    out = {}
    for ls in CG_LS:
        how, c = cg_coeffs(*ls)
        out["cg%d%d%d" % ls] = (c, "integer" if how == "scaled" else "rounded")
    r = simplest_scale(cg_lorentz("(1/2,1/2)", "(1/2,1/2)", "(1,1)"))
    assert r.kind == "integer"
    out["lorentz-vv-t"] = (r.coeffs, "integer")
    metric = np.zeros((4, 4, 1))
    metric[np.arange(4), np.arange(4), 0] = np.diag(ETA)
    out["minkowski"] = (metric, "integer")
    dense = RNG.normal(size=(3, 4, 2)) * 1.5
    out["dense"] = (dense, "rounded")
    dy = RNG.choice([-2.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 2.0], size=(3, 3, 4))
    out["dyadic"] = (dy, "dyadic")
    return out


TENSORS = coefficient_tensors()


def bilinear_case(c, ta, tb, rows=None, override=None):
    da, db, dk = c.shape
    lead = (1,) if rows is None else (1, rows)
    case = Case("Bilinear", {"a": (lead + (da,), ta), "b": (lead + (db,), tb)}, {"C": c}, {}, lead + (dk,), DEFAULT,
                override, weight_frac=WEIGHT_FRAC)
    assert case.prec.acc["n"].width <= MAX_CSIM_WIDTH
    return case


def all_cases():
    cases, ids, kinds = [], [], []
    # three signed pairs, one unsigned x signed, one unsigned x unsigned
    pairs = [(rand_type(RNG, signed=k < 3), rand_type(RNG, signed=k < 4)) for k in range(5)]
    for name, (c, kind) in TENSORS.items():
        for ta, tb in pairs:
            cases.append(bilinear_case(c, ta, tb))
            ids.append(f"{name}-{ta.cpp()}x{tb.cpp()}")
            kinds.append(kind)
    for name in ("cg111", "cg112", "lorentz-vv-t", "minkowski", "dyadic"):
        ta, tb = rand_type(RNG), rand_type(RNG)
        cases.append(bilinear_case(TENSORS[name][0], ta, tb, rows=5))
        ids.append(f"{name}-rows5-{ta.cpp()}x{tb.cpp()}")
        kinds.append(TENSORS[name][1])
    # every coefficient quantises to zero: no product at all (the header's empty-table path)
    tiny = np.zeros((2, 3, 2))
    tiny[1, 2, 0] = 1e-6
    cases.append(bilinear_case(tiny, FixedType(9, 4), FixedType(7, 2)))
    ids.append("all-zero-after-quantisation")
    kinds.append("zero")
    # a user-narrowed output exercises the single res_T cast
    out = FixedType(10, 4, True, "AP_RND_CONV", "AP_SAT")
    cases.append(bilinear_case(TENSORS["cg222"][0], FixedType(10, 3), FixedType(9, 2), override=out))
    ids.append("cg222-narrow-out")
    kinds.append("narrowed")
    return cases, ids, kinds


CASES, IDS, KINDS = all_cases()


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build(CASES, str(tmp_path_factory.mktemp("bilinear")))


def corner_raws(case, rng, n):
    """Random raws whose first rows are the corners: all-min, all-max, then random vertices."""
    raws = case.random_raw(rng, n)
    for name in case.g.inputs:
        t = case.prec.types[name]
        raws[name][0, :] = t.raw_min
        raws[name][1, :] = t.raw_max
        for e in range(2, 10):
            raws[name][e, :] = [t.raw_min if v else t.raw_max for v in rng.random(raws[name].shape[1]) < 0.5]
    return raws


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
@pytest.mark.gxx
def test_bilinear_twin_matches_csim(lib, k):
    case = CASES[k]
    raws = corner_raws(case, np.random.default_rng(k), 60)
    c_raw, t_raw = run_case(lib, k, case, raws)
    mism = np.argwhere(c_raw != t_raw)
    assert len(mism) == 0, (f"{IDS[k]}: {len(mism)} mismatches, first at {mism[0]}: "
                            f"C {c_raw[tuple(mism[0])]} twin {t_raw[tuple(mism[0])]}")


@pytest.mark.gxx
def test_harness_detects_a_wrong_twin(lib):
    """Sensitivity: a twin off by one LSB in one element is caught."""
    k = IDS.index(next(i for i in IDS if i.startswith("cg112-rows5")))
    raws = CASES[k].random_raw(np.random.default_rng(0), 5)
    c_raw, t_raw = run_case(lib, k, CASES[k], raws)
    assert (c_raw == t_raw).all()
    t_raw[3, 7] += 1
    assert (c_raw != t_raw).sum() == 1


def test_output_is_the_exact_accumulator():
    """Nothing is rounded: the output type is the accumulator, with Fa + Fb (+ Fc) fractional bits."""
    n_int = 0
    for case, kind in zip(CASES, KINDS):
        if kind == "narrowed":
            continue
        ty = case.prec.types
        assert ty["y"] == case.prec.acc["n"]
        assert ty["y"].frac == ty["a"].frac + ty["b"].frac + ty["C"].frac
        if kind == "integer":
            assert ty["C"].frac == 0 and ty["y"].frac == ty["a"].frac + ty["b"].frac
            n_int += 1
    assert n_int >= 20


def test_twin_is_the_dense_bilinear_form():
    """The sparse twin equals the plain triple sum over every (i, j, k), in Python ints."""
    for k in range(0, len(CASES), 7):
        case = CASES[k]
        da, db, dk = case.g.shapes["C"]
        raws = corner_raws(case, np.random.default_rng(100 + k), 12)
        blk = block_for(case.node)
        got = blk.twin(case.g, case.node, raws, case.prec.types, case.prec.qconst, case.prec.acc_frac["n"])
        cq = np.asarray(case.prec.qconst["C"]).reshape(da, db, dk)
        a = raws["a"].reshape(raws["a"].shape[0], -1, da)
        b = raws["b"].reshape(raws["b"].shape[0], -1, db)
        want = np.zeros((a.shape[0], a.shape[1], dk), dtype=object)
        for e, r, i, j, o in itertools.product(range(a.shape[0]), range(a.shape[1]), range(da), range(db), range(dk)):
            want[e, r, o] += int(cq[i, j, o]) * int(a[e, r, i]) * int(b[e, r, j])
        assert (np.asarray(got, dtype=object) == want.reshape(a.shape[0], -1)).all(), IDS[k]


def test_acc_range_is_attained():
    """The interval is exact: its ends are reached at vertices of the input box (brute force)."""
    checked = 0
    for case, name in zip(CASES, IDS):
        da, db, dk = case.g.shapes["C"]
        if case.g.shapes["a"] != (1, da) or da + db > 8:
            continue
        ta, tb = case.prec.types["a"], case.prec.types["b"]
        verts = {"a": np.array(list(itertools.product((ta.raw_min, ta.raw_max), repeat=da)), dtype=object),
                 "b": np.array(list(itertools.product((tb.raw_min, tb.raw_max), repeat=db)), dtype=object)}
        raws = {"a": np.repeat(verts["a"], len(verts["b"]), axis=0), "b": np.tile(verts["b"], (len(verts["a"]), 1))}
        blk = block_for(case.node)
        y = blk.twin(case.g, case.node, raws, case.prec.types, case.prec.qconst, case.prec.acc_frac["n"])
        lo, hi, _ = blk.acc_range(case.g, case.node, case.prec.types, case.prec.qconst)
        assert (min(int(y.min()), 0), max(int(y.max()), 0)) == (lo, hi), name
        checked += 1
    assert checked >= 20


def _brute_range(ck, ar, br):
    da, db = ck.shape
    vals = [sum(int(ck[i, j]) * a[i] * b[j] for i in range(da) for j in range(db))
            for a in itertools.product(ar, repeat=da) for b in itertools.product(br, repeat=db)]
    return min(vals), max(vals)


def test_interval_is_exact_and_the_fallback_sound(monkeypatch):
    """a0 b0 + a0 b1 + a1 b0 - a1 b1 on [-1, 1]: exact range [-2, 2] (term-wise: [-4, 4]); random
    small forms and ranges match brute force; the term-wise fallback contains the exact range."""
    import equihls.blocks.bilinear as bl

    ck = np.array([[1, 1], [1, -1]], dtype=object)
    assert _bilinear_range(ck, (-1, 1), (-1, 1)) == (-2, 2)
    rng = np.random.default_rng(7)
    for _ in range(40):
        da, db = (int(v) for v in rng.integers(1, 4, size=2))
        ck = rng.integers(-3, 4, size=(da, db)).astype(object)
        ar = tuple(sorted(int(v) for v in rng.integers(-8, 9, size=2)))
        br = tuple(sorted(int(v) for v in rng.integers(-8, 9, size=2)))
        exact = _brute_range(ck, ar, br)
        assert _bilinear_range(ck, ar, br) == exact
        monkeypatch.setattr(bl, "MAX_VERTEX_VARS", 0)
        lo, hi = _bilinear_range(ck, ar, br)
        monkeypatch.undo()
        assert lo <= exact[0] and hi >= exact[1]


def _float_model(c, va, vb, da, db):
    a, b = va.reshape(-1, da), vb.reshape(-1, db)
    return np.einsum("ri,rj,ijk->rk", a, b, c).reshape(va.shape[0], -1)


def test_error_bounds_hold():
    """|fixed - float model| <= error_elem per element and <= the a-priori bound, with rounded C
    and inputs that carry their own errors."""
    for k, (case, kind) in enumerate(zip(CASES, KINDS)):
        if kind != "rounded":
            continue
        g, prec, node = case.g, case.prec, case.node
        da, db, dk = g.shapes["C"]
        rng = np.random.default_rng(200 + k)
        raws = corner_raws(case, rng, 50)
        ta, tb, tc = (prec.types[t] for t in ("a", "b", "C"))
        blk = block_for(node)
        y = prec.acc["n"].to_float(blk.twin(g, node, raws, prec.types, prec.qconst, prec.acc_frac["n"]))
        va, vb = ta.to_float(raws["a"]), tb.to_float(raws["b"])
        ea, eb = ta.lsb * rng.random(va.shape), tb.lsb * rng.random(vb.shape)   # input errors
        sa, sb = rng.choice([-1.0, 1.0], va.shape), rng.choice([-1.0, 1.0], vb.shape)
        model = _float_model(np.asarray(g.consts["C"], dtype=np.float64), va + sa * ea, vb + sb * eb, da, db)
        V = {"a": va, "b": vb, "C": tc.to_float(np.asarray(prec.qconst["C"]).reshape(1, -1))}
        E = {"a": ea, "b": eb}
        consts = {"C": np.asarray(g.consts["C"], dtype=np.float64).reshape(-1)}
        err, absterms = blk.error_elem(g, node, E, V, prec.types, prec.qconst, consts)
        gap = np.abs(y - model)
        assert (gap <= err * (1 + 1e-9) + 1e-12).all(), IDS[k]
        assert (gap > 0).any()
        errs = {"a": ta.lsb, "b": tb.lsb, "C": 0.0}
        mags = {"a": max(abs(ta.min), abs(ta.max)), "b": max(abs(tb.min), abs(tb.max))}
        assert gap.max() <= blk.error(g, node, errs, mags, prec.types, prec.qconst) * (1 + 1e-9)
        assert absterms.shape == y.shape and (absterms >= 0).all()


def test_a_priori_error_is_zero_for_exact_c():
    for case, kind in zip(CASES, KINDS):
        if kind in ("integer", "dyadic"):
            assert case.prec.errs["y"] == 0.0
        if kind in ("rounded", "zero"):
            assert case.prec.errs["y"] > 0.0


def test_all_zero_c_emits_nothing():
    case = CASES[IDS.index("all-zero-after-quantisation")]
    assert multiplier_count(np.asarray(case.prec.qconst["C"]).reshape(2, 3, 2)) == (0, 0)
    assert "n_nonzero = 0;" in _config(case)
    raws = corner_raws(case, np.random.default_rng(0), 12)
    blk = block_for(case.node)
    y = blk.twin(case.g, case.node, raws, case.prec.types, case.prec.qconst, case.prec.acc_frac["n"])
    assert y.shape == (12, 2) and (y == 0).all()


def test_cg_products_need_fewer_multipliers_than_dense():
    """The emitted multiplications (distinct products, constant multipliers) stay below the dense
    Da*Db*Dk count for every CG coupling; ±1 couplings need no constant multiplier at all."""
    for ls in CG_LS:
        name = "cg%d%d%d" % ls
        case = CASES[IDS.index(next(i for i in IDS if i.startswith(name + "-")))]
        cq = np.asarray(case.prec.qconst["C"]).reshape(case.g.shapes["C"])
        n_prod, n_mul = multiplier_count(cq)
        dense = dense_multiplier_count(cq)
        nnz = int(np.count_nonzero(cq))
        assert n_prod <= nnz < dense and n_prod + n_mul < dense, (name, n_prod, n_mul, dense)
        if TENSORS[name][1] == "integer":
            assert n_mul == 0
            assert "all_pow2 = true" in _config(case)
    lorentz = CASES[IDS.index(next(i for i in IDS if i.startswith("lorentz-vv-t-")))]
    assert "all_pow2 = false" in _config(lorentz)   # coefficient 3 needs a multiplier


def _config(case):
    return block_for(case.node).cpp_config(case.g, case.node, block_context(case.prec, case.node))


def test_sparse_plan_shares_products_and_constants():
    c = np.zeros((2, 2, 4))
    c[0, 1] = [3, -3, 0, 0.5]     # one product, one constant multiplier (3) shared by two outputs
    c[1, 1, 2] = -1               # a second product, sign only
    plan = sparse_plan(c)
    assert plan.pairs == [(0, 1), (1, 1)]
    assert len(plan.terms) == 3 and len(plan.entries) == 4
    assert multiplier_count(c) == (2, 1)
    assert dense_multiplier_count(c) == 16

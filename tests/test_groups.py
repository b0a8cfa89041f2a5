"""Group library: matrices are group elements, exact elements are integral, actions compose."""
import numpy as np
import pytest

from equihls.symmetry import groups as G

RNG = np.random.default_rng(7)


def sampled_lines(group, k=16, n=6, **kw):
    return G.lines_for(group, n, k, np.random.default_rng(3), lsb=2.0 ** -4, **kw)


@pytest.mark.parametrize("group", ["lorentz", "o13", "so3", "o3"])
def test_every_sampled_element_preserves_the_metric(group):
    for line in sampled_lines(group, k=64, max_rapidity=2.0):
        for g in line.elements:
            assert G.is_lorentz(g.lorentz, 1e-12), (line.name, g.label)


def test_boost_and_rotation_basics():
    n = G.random_direction(RNG)
    L = G.boost(0.7, n)
    assert np.isclose(L[0, 0], np.cosh(0.7))
    assert np.allclose(G.boost(0.3, n) @ G.boost(0.4, n), L, atol=1e-14)       # collinear rapidities add
    assert np.allclose(G.boost(-0.7, n), G.lorentz_inverse(L), atol=1e-14)
    for _ in range(50):
        R = G.random_rotation(RNG)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-13) and np.isclose(np.linalg.det(R), 1.0)


def test_integer_words_are_integral_unimodular_and_exactly_lorentz():
    for proper in (True, False):
        group = "lorentz" if proper else "o13"
        dets = set()
        for g in sampled_lines(group, k=200)[0].elements:
            L = g.lorentz
            assert g.exact and np.array_equal(L, np.round(L))
            Li = L.astype(np.int64)
            eta = np.diag([1, -1, -1, -1])
            assert np.array_equal(Li.T @ eta @ Li, eta)                         # exactly, in integers
            d = round(np.linalg.det(L))
            assert d in (1, -1)
            dets.add(d)
            assert L[0, 0] >= 1                                                 # orthochronous
            if proper:
                assert d == 1
        assert dets == ({1} if proper else {1, -1})
    gens = G.integer_generators(proper=False)
    assert round(np.linalg.det(gens["M"])) == 1 and round(np.linalg.det(gens["H"])) == -1
    for name, L in gens.items():
        assert np.array_equal(L @ G.lorentz_inverse(L), np.eye(4)), name


def test_octahedral_group():
    all48 = G.signed_permutations()
    assert len(all48) == 48 and len({m.tobytes() for m in all48}) == 48
    rot = G.signed_permutations(True)
    assert len(rot) == 24 and all(np.isclose(np.linalg.det(m), 1) for m in rot)
    # closed under products
    keys = {m.tobytes() for m in rot}
    for a in rot[:6]:
        for b in rot:
            assert (a @ b).tobytes() in keys


def random_element(kind, n):
    if kind == "perm":
        return G.random_permutation(RNG, n)
    if kind == "lorentz":
        return G.compose(G.random_boost(RNG, 1.5), G.random_o3(RNG, True))
    if kind == "int":
        return G.integer_lorentz_word(RNG, 3, proper=False)
    if kind == "o3":
        return G.random_o3(RNG, True)
    if kind == "shift":
        return G.random_translation(RNG, 3.0)
    raise AssertionError(kind)


REPS = {
    "4vec": ["perm", "lorentz", "int", "shift"],
    "3vec": ["perm", "o3", "shift"],
    "scalar": ["perm", "lorentz", "o3", "shift"],
    "2x0e+1x1o+1x1e+1x2e+1x3o": ["perm", "o3"],
    "(1,1)": ["perm", "lorentz", "int"],
    "(1,0)+(0,1)": ["perm", "lorentz", "int"],
}


@pytest.mark.parametrize("rep", sorted(REPS))
def test_actions_compose(rep):
    """ρ(g∘h) x = ρ(g) ρ(h) x on every representation, with permutations and translations mixed in."""
    r = G.Rep(rep)
    n, dim = 5, (r.dim or 3)
    for _ in range(30):
        kinds = REPS[rep]
        g = random_element(kinds[RNG.integers(len(kinds))], n)
        h = random_element(kinds[RNG.integers(len(kinds))], n)
        x = RNG.normal(size=(4, n, dim)) * 10
        gh = G.compose(g, h)
        lhs = r.apply(x, gh, 1, shift=True)
        rhs = r.apply(r.apply(x, h, 1, shift=True), g, 1, shift=True)
        assert np.allclose(lhs, rhs, atol=1e-9), (g.label, h.label)


def test_irreps_action_matches_the_vector_action():
    """'1o' is the polar vector (R), '1e' the axial one (det R * R), on O(3) elements."""
    x = RNG.normal(size=(3, 5, 3))
    for _ in range(10):
        g = G.random_o3(RNG, True)
        R = g.rotation
        assert np.allclose(G.Rep("1x1o").apply(x, g, 1), x @ R.T)
        axial = G.Rep("1x1e+1x1o").apply(np.concatenate([x, x], -1), g, 1)
        assert np.allclose(axial[..., :3], np.linalg.det(R) * x @ R.T) and np.allclose(axial[..., 3:], x @ R.T)


def test_exact_elements_keep_the_lattice():
    """Integer words and signed permutations map dyadic inputs to dyadic inputs exactly."""
    x = RNG.integers(-200, 200, size=(50, 6, 4)) / 16.0
    for g in sampled_lines("o13", k=50)[0].elements + sampled_lines("o3", k=48)[0].elements:
        y = G.Rep("4vec").apply(x, g, 1)
        assert np.array_equal(y * 16, np.round(y * 16))


def test_minkowski_products_are_invariant_under_sampled_elements():
    x = RNG.normal(size=(10, 6, 4)) * 50
    eta = np.diag([1.0, -1, -1, -1])
    gram = np.einsum("bid,de,bje->bij", x, eta, x)
    for line in sampled_lines("o13", k=20):
        for g in line.elements:
            y = G.Rep("4vec").apply(x, g, 1)
            assert np.allclose(np.einsum("bid,de,bje->bij", y, eta, y), gram, rtol=1e-9, atol=1e-6)


def test_lines_and_errors():
    assert [l.exact for l in sampled_lines("lorentz")] == [True, False, False]
    assert len(sampled_lines("so3", k=100)[0].elements) == 24
    assert len(sampled_lines("o3", k=100)[0].elements) == 48
    with pytest.raises(ValueError, match="unknown group 'poincare'"):
        G.lines_for("poincare", 4, 2, RNG)
    with pytest.raises(ValueError, match="particle axis"):
        G.lines_for("perm", None, 2, RNG)
    with pytest.raises(ValueError, match="unknown representation '2q'"):
        G.Rep("2q")
    assert not G.Rep("3vec").supports("lorentz") and G.Rep("4vec").supports("lorentz")
    assert not G.Rep("1x0e+1x2e").supports("lorentz") and G.Rep("(1,1)").supports("o13")
    with pytest.raises(ValueError, match="not in O\\(3\\)"):
        G.Rep("3vec").matrix(G.random_boost(RNG, 1.0))

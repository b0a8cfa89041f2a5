"""Zero-padded particles: the `perm_real` group permutes each event's real particles and leaves the
padding in place; `perm` permutes all of them. Generated samples are padded when perm_real is declared."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from equihls import project
from equihls.symmetry import groups as G

N, D = 4, 2
TINY_TYPE = "ap_fixed<12,8>"


def test_scoped_perms_move_only_real_particles():
    perm = np.array([3, 0, 2, 1])
    real = np.array([[1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    p = G.scoped_perms(perm, real)
    for e in range(len(real)):
        assert sorted(p[e]) == list(range(N))                               # a permutation
        pad = np.flatnonzero(~real[e])
        assert (p[e][pad] == pad).all()                                     # padding stays
        assert set(p[e][real[e]]) == set(np.flatnonzero(real[e]))           # reals among reals
    assert (p[3] == perm).all()                                             # no padding: perm itself
    assert (p[0] == [0, 1, 2, 3]).all()     # perm's entries below 2, in order, are (0, 1): identity
    assert (p[1] == [0, 1, 3, 2]).all()     # below 3: (0, 2, 1) on the real positions (0, 2, 3)


def test_real_particles_read_every_input_with_a_particle_axis():
    a = np.zeros((1, N, D))
    b = np.zeros((1, N, 3))
    a[0, 0, 1] = 1.0
    b[0, 2, 0] = -2.0
    real = G.real_particles([a, b, np.ones((1, 5))], [1, 1, None])
    assert real.tolist() == [[True, False, True, False]]


def test_perm_real_acts_on_events_through_the_mask():
    x = np.arange(1, 1 + 2 * N * D, dtype=float).reshape(2, N, D)
    x[0, 2:] = 0.0                                    # event 0: two real particles
    g = G.random_permutation(np.random.default_rng(1), N, real_only=True)
    y = G.Rep("scalar").apply(x, g, 1, real=G.real_particles([x], [1]))
    assert (y[0, 2:] == 0).all() and sorted(map(tuple, y[0, :2])) == sorted(map(tuple, x[0, :2]))
    assert (y[1] == x[1][g.perm]).all()


def _model():
    """y = sum_i x_i + 3 x_{N-1}: invariant under permutations of the real particles of events
    whose last particle is padding, not under permutations of all particles."""
    nodes = [helper.make_node("ReduceSum", ["x", "ax1"], ["s"], name="pool", keepdims=0),
             helper.make_node("Slice", ["x", "st", "en", "ax1"], ["last"], name="take_last"),
             helper.make_node("Squeeze", ["last", "ax1"], ["l2"], name="sq"),
             helper.make_node("Mul", ["l2", "three"], ["l3"], name="scale"),
             helper.make_node("Add", ["s", "l3"], ["y"], name="out")]
    inits = [helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("st", TensorProto.INT64, [1], [N - 1]),
             helper.make_tensor("en", TensorProto.INT64, [1], [N]),
             helper.make_tensor("three", TensorProto.FLOAT, [], [3.0])]
    g = helper.make_graph(nodes, "padded", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", N, D])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", D])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_generated_samples_are_padded_when_perm_real_is_declared():
    from equihls.ir.fixedpoint import FixedType
    from equihls.verify.selfcheck import sample_inputs

    class P:
        types = {"x": FixedType.parse(TINY_TYPE)}

    class Gr:
        inputs, shapes = ["x"], {"x": (1, N, D)}

    x = sample_inputs(Gr, P, 200, 0, padded=True)["x"]
    real = G.real_particles([x], [1])
    counts = real.sum(axis=1)
    assert counts.min() >= 1 and counts.max() == N and len(set(counts)) == N       # every count occurs
    assert all((real[e, :c]).all() and not real[e, c:].any() for e, c in enumerate(counts))   # trailing
    assert not (sample_inputs(Gr, P, 50, 0)["x"] == 0).all(axis=2).any()           # unpadded by default


@pytest.mark.gxx
def test_certificate_permutes_only_real_particles_when_declared(tmp_path):
    path = str(tmp_path / "padded.onnx")
    onnx.save(_model(), path)
    rng = np.random.default_rng(0)
    x = rng.uniform(-8, 8, size=(64, N, D)).round(3)
    k = rng.integers(1, N, size=64)                     # 1..N-1 real particles: the last is padding
    x[np.arange(N)[None, :] >= k[:, None]] = 0.0
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / "prj")
    project.compile_model(path, output_dir=out, input_type=TINY_TYPE, samples=str(tmp_path / "s.npz"),
                          symmetry=["perm_real"], log=lambda *a: None)
    p = project.Project(out)
    real = p.check(write=False)
    assert real["groups"] == ["perm_real"] and real["passed"], real["lines"]
    assert real["lines"][0]["pairs"] > 0 and real["lines"][0]["mismatched"] == 0
    every = p.check(groups=["perm"], write=False)
    line = every["lines"][0]     # the float64 model itself moves with the padding: model exceptions, a FAIL
    assert not every["passed"] and line["model_exceptions"] > 0 and "float64 model itself" in line["reason"]

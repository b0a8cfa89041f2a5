"""Pythia 8 + FastJet top-tagging jet generator (models/data/pythia_jets.py)."""

import importlib.util
import json

import numpy as np
import pytest

if importlib.util.find_spec("pythia8mc") is None:  # PyPI wheel, else a Pythia build
    pytest.importorskip("pythia8")
pytest.importorskip("fastjet")

from models.data import pythia_jets as pj  # noqa: E402

N_PER_CLASS, N_CONST = 20, 16


@pytest.fixture(scope="module")
def jets():
    """One small run shared by the module: 20 jets/class, 2 workers, fixed seed."""
    return pj.generate(N_PER_CLASS, N_CONST, seed=11, workers=2, progress=False)


@pytest.mark.slow          # Pythia 8 event generation in 2 worker processes
def test_shapes_dtypes(jets):
    n = 2 * N_PER_CLASS
    assert jets["x"].shape == (n, N_CONST, 4) and jets["x"].dtype == np.float32
    assert jets["y"].shape == (n,) and jets["y"].dtype == np.int64
    for k in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
        assert jets[k].shape == (n,) and jets[k].dtype == np.float32
    assert jets["n_const_total"].shape == (n,)
    assert np.isfinite(jets["x"]).all()
    s = json.loads(jets["settings"])
    assert s["n_per_class"] == N_PER_CLASS and s["workers"] == 2
    assert all(1 <= int(line.split("=")[1]) <= pj.PYTHIA_SEED_MAX
               for t in s["tasks"] for line in t["pythia"] if line.startswith("Random:seed"))


@pytest.mark.slow
def test_balance(jets):
    assert np.sum(jets["y"] == 1) == N_PER_CLASS
    assert np.sum(jets["y"] == 0) == N_PER_CLASS


@pytest.mark.slow
def test_constituents_sorted_and_padded(jets):
    x = jets["x"].astype(np.float64)
    pt = np.hypot(x[..., 1], x[..., 2])
    assert np.all(np.diff(pt, axis=1) <= 0.0)
    real = np.any(x != 0.0, axis=-1)
    # padding rows are all-zero and only at the end: real rows form a prefix
    assert np.all(real[:, :-1] >= real[:, 1:])
    assert np.all(pt[real] > 0.0)
    assert np.array_equal(real.sum(1), np.minimum(jets["n_const_total"], N_CONST))


@pytest.mark.slow
def test_physical_four_vectors(jets):
    x = jets["x"].astype(np.float64)
    p = np.linalg.norm(x[..., 1:], axis=-1)
    assert np.all(x[..., 0] >= p - 1e-5 * (1.0 + p))
    assert np.all(x[..., 0] >= 0.0)


@pytest.mark.slow
def test_jet_cuts(jets):
    assert np.all((jets["jet_pt"] >= pj.PT_RANGE[0] - 1e-3) & (jets["jet_pt"] < pj.PT_RANGE[1] + 1e-3))
    assert np.all(np.abs(jets["jet_eta"]) < pj.ETA_MAX)


@pytest.mark.slow
def test_top_mass_above_qcd(jets):
    m_top = np.median(jets["jet_mass"][jets["y"] == 1])
    m_qcd = np.median(jets["jet_mass"][jets["y"] == 0])
    assert m_top > 120.0, m_top
    assert m_qcd < m_top - 40.0, (m_top, m_qcd)


@pytest.mark.slow
def test_same_seed_same_output():
    a = pj.generate(3, 8, seed=5, workers=2, progress=False)
    b = pj.generate(3, 8, seed=5, workers=2, progress=False)
    assert a.keys() == b.keys()
    for k in a:
        if k == "settings":
            assert a[k] == b[k]
        else:
            assert np.array_equal(a[k], b[k]), k


def test_smearing_keeps_direction():
    rng = np.random.default_rng(0)
    n = 20000
    e = np.full(n, 100.0)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    p4 = np.concatenate([e[:, None], e[:, None] * d], axis=1)
    kind = np.repeat([pj.SMEAR_CHARGED, pj.SMEAR_NEUTRAL_HADRON], n // 2)
    out, keep = pj.smear_particles(p4, kind, rng)
    assert keep.all()
    d_out = out[:, 1:] / np.linalg.norm(out[:, 1:], axis=1, keepdims=True)
    assert np.allclose(d_out, d)
    r = out[:, 0] / 100.0 - 1.0
    assert abs(r[: n // 2].std() - 0.01) < 0.001           # 1 % for charged
    assert abs(r[n // 2:].std() - 0.05) < 0.003            # 50 %/sqrt(100 GeV)

"""The bundled SO(3)/O(3) Clebsch-Gordan reference models (models/so3_cg) compile with their shipped
samples, pass the self-check, keep their tensor products as Bilinear blocks and carry an
equivariance certificate for the groups declared in the ONNX metadata (so3, o3, perm).

so3_cg.onnx (output "1x1o") must pass `equihls check` outright. so3_cg_l2.onnx (output
"1x1o+1x2e") is certified here on its continuous lines, and its exact equivariance is checked
directly on the signed axis permutations whose l=2 matrices are integers.
"""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from equihls.verify import check  # noqa: E402
from equihls import project  # noqa: E402
from models.so3_cg import HERE  # noqa: E402

N_EVENTS = 128
# +-32 x 64 GeV, LSB 64 GeV / 1024 = 1/16 GeV; rounded, not truncated: truncation biases every
# component of v by about -16 x 1/32 GeV (README.md)
INPUT_TYPE = "ap_fixed<16,6,AP_RND_CONV>"
OUTPUT_TYPE = {"y": "ap_fixed<20,8,AP_RND_CONV>"}   # odd-symmetric rounding of the exact sums
GROUPS = ["so3", "o3", "perm"]


def _compile(tmp_path, name):
    x = np.load(f"{HERE}/samples.npz")["x"][:N_EVENTS]
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / name)
    m = project.compile_model(f"{HERE}/{name}.onnx", output_dir=out, input_type=INPUT_TYPE,
                              samples=str(tmp_path / "s.npz"),
                              type_overrides={k: project.FixedType.parse(v) for k, v in OUTPUT_TYPE.items()},
                              log=lambda *a: None)
    return m, project.Project(out), x


def _line(rep, group, exact):
    return next(r for r in rep["lines"] if r["group"] == group and (r["kind"] == "exact") == exact)


@pytest.mark.gxx
def test_so3_cg_l1_certificate(tmp_path):
    m, prj, _ = _compile(tmp_path, "so3_cg")
    assert m["self_check"]["passed"]
    assert all(r["csim_vs_twin_mismatches"] == 0 for r in m["self_check"]["outputs"].values())
    irreps = sorted(n["attrs"].get("irreps") for n in m["nodes"] if n["op"] == "Bilinear")
    assert irreps == ["1x0e*1x1o->1x1o", "1x1o*1x1o->1x0e"], irreps
    assert m["symmetry"]["groups"] == GROUPS and m["symmetry"]["output_reps"] == ["1x1o"]
    rep = check.run(prj, n_elements=48, progress=False)
    assert rep["passed"], check.format_report(rep)
    assert _line(rep, "so3", True)["elements"] == 24 and _line(rep, "o3", True)["elements"] == 48
    for g in GROUPS:
        ex = _line(rep, g, True)
        assert ex["mismatched"] == 0 and ex["identical"] == ex["pairs"] >= 24 * N_EVENTS
        assert ex["skipped_nonintegral_output"] == 0
    # a polar vector declared axial is caught by the reflections
    wrong = check.run(prj, groups=["o3"], output_reps=["1e"], n_elements=8, progress=False)
    assert not _line(wrong, "o3", True)["passed"]


@pytest.mark.gxx
def test_so3_cg_l2_compiles_and_is_equivariant(tmp_path):
    m, prj, x = _compile(tmp_path, "so3_cg_l2")
    assert m["self_check"]["passed"]
    irreps = sorted(n["attrs"].get("irreps") for n in m["nodes"] if n["op"] == "Bilinear")
    assert irreps == ["1x0e*1x1o->1x1o", "1x0e*1x2e->1x2e", "1x1o*1x1o->1x0e", "1x1o*1x1o->1x2e"], irreps
    assert m["symmetry"]["output_reps"] == ["1x1o+1x2e"]
    rep = check.run(prj, n_elements=8, progress=False)
    for g in ("so3", "o3"):
        c = _line(rep, g, False)
        assert c["passed"] and c["floor_exact_inputs"]["max_lsb"] < 0.01, c
    # exact lines: only elements whose "1x1o+1x2e" matrix is integral are comparable bit for bit
    # (8 of the 24 octahedral rotations, 16 of the 48 signed axis permutations): the octahedral
    # lines draw their elements among those, none is skipped as non-integral
    rep = check.run(prj, n_elements=48, progress=False)
    for g in GROUPS:
        ex = _line(rep, g, True)
        assert ex["passed"] and ex["mismatched"] == 0 and ex["pairs"] > 0, ex
        assert ex["skipped_nonintegral_output"] == 0, ex
    n = len(x)
    assert _line(rep, "so3", True)["elements"] == 8 and _line(rep, "o3", True)["elements"] == 16
    assert _line(rep, "so3", True)["pairs"] == 8 * n and _line(rep, "o3", True)["pairs"] == 16 * n


def test_so3_cg_shipped_files_agree():
    """samples.npz holds Pythia test events inside the input type with their exact targets, and
    the float32 ONNX models reproduce the sample metrics recorded in metrics_float*.json."""
    from models.common import ort_session
    from models.so3_cg.model import targets
    from models.so3_cg.train import BLOCKS_ALL, block_metrics

    smp = np.load(f"{HERE}/samples.npz")
    x = smp["x"]
    assert x.shape == (512, 16, 3) and x.dtype == np.float32
    in_t = project.FixedType.parse(INPUT_TYPE)
    assert in_t.min <= x.min() and x.max() <= in_t.max
    # Pythia jets: each has at least 13 real constituents (zero rows are padding)
    assert (np.abs(x).sum(-1) > 0).sum(1).min() >= 13
    t = np.concatenate([smp["target_v"], smp["target_t"]], axis=1)
    np.testing.assert_allclose(t, targets(torch.from_numpy(x).double(), l2=True).numpy(), rtol=1e-6, atol=1e-6)
    for name, mfile, nb in (("so3_cg", "metrics_float.json", 3), ("so3_cg_l2", "metrics_float_l2.json", 8)):
        rec = json.loads((Path(HERE) / mfile).read_text())
        assert rec["model"] == name and rec["n_samples"] == len(x)
        y = ort_session(f"{HERE}/{name}.onnx").run(None, {"x": x})[0]
        blocks = {k: sl for k, sl in BLOCKS_ALL.items() if sl.stop <= nb}
        got = block_metrics(y, t[:, :nb], blocks)
        for k in blocks:
            for key, val in rec["samples"][k].items():
                assert got[k][key] == pytest.approx(val, abs=2e-6), (name, k, key)

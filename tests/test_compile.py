"""End-to-end compile of the bundled model: project layout, manifest, self-check, determinism, CLI."""
import filecmp
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from equihls import api, driver, project
from equihls.errors import EquihlsError, InputError, ModelError, UnsupportedNodeError
from models import compile_zoo
from tests.conftest import MODEL, ROOT, SAMPLES, staging_leftovers
QUIET = dict(log=lambda *a: None)


@pytest.mark.gxx
def test_project_layout_and_part(demo):
    d, m = demo
    tcl = open(os.path.join(d, "build_prj.tcl")).read() + open(os.path.join(d, "project.tcl")).read()
    assert "xcvu9p-flga2104-2L-e" in tcl
    for f in ("firmware/myproject.cpp", "firmware/parameters.h", "myproject_test.cpp", "tb_data/tb_input_features.dat",
              "tb_data/tb_output_predictions.dat", "firmware/nnet_utils/equihls_scalar_products.h", "equihls.json"):
        assert os.path.exists(os.path.join(d, f)), f
    top = open(os.path.join(d, "firmware/myproject.cpp")).read()
    assert "equihls::scalar_products" in top and "nnet::dense" not in top
    assert "#pragma HLS PIPELINE" in top


@pytest.mark.gxx
def test_manifest(demo):
    d, m = demo
    on_disk = json.load(open(os.path.join(d, "equihls.json")))
    assert on_disk["target"] == {"name": "vu9p", "part": "xcvu9p-flga2104-2L-e", "clock_ns": 5.0}
    assert len(on_disk["model"]["sha256"]) == 64
    assert on_disk["self_check"]["passed"] and on_disk["self_check"]["n_events"] == len(np.load(SAMPLES)["x"])
    # the symmetry declared in the ONNX metadata_props, for `equihls check`
    assert on_disk["symmetry"] == {"groups": ["perm", "lorentz"], "input_reps": ["4vec"], "output_reps": ["scalar"],
                                   "output_perm": "invariant"}
    out = on_disk["self_check"]["outputs"]["logit"]
    assert out["csim_vs_twin_mismatches"] == 0 and out["max_err_lsb"] <= out["tolerance_lsb"]
    gram = [t for t in on_disk["tensors"].values() if t["onnx_name"] == "/Einsum_output_0"][0]
    w, i = on_disk["inputs"][0]["type"].split("<")[1].split(",")[:2]   # 2x the input's bits + 1 for the sum
    assert gram["exact"] and gram["type"] == f"ap_fixed<{2 * int(w) + 1},{2 * int(i) + 1}>"


@pytest.mark.gxx
def test_firmware_is_byte_identical_across_compiles(demo, tmp_path):
    d, _ = demo
    d2 = str(tmp_path / "again")
    compile_zoo("deepsets_pairs", d2, log=QUIET["log"])      # the demo fixture's options
    cmp = filecmp.dircmp(os.path.join(d, "firmware"), os.path.join(d2, "firmware"))

    def diffs(c):
        out = [f for f in c.diff_files + c.left_only + c.right_only if not f.endswith(".so")]
        for sub in c.subdirs.values():
            out += diffs(sub)
        return out

    assert diffs(cmp) == []
    for f in ("build_prj.tcl", "myproject_test.cpp", "equihls.json", "equihls_graph.onnx",
              "tb_data/tb_input_features.dat",
              "equihls_source.onnx", "equihls_samples.npz"):
        assert open(os.path.join(d, f), "rb").read() == open(os.path.join(d2, f), "rb").read(), f


@pytest.mark.gxx
def test_csim_reproduces_selfcheck_and_cli(demo, tmp_path):
    d, _ = demo
    x = np.load(SAMPLES)["x"].astype(np.float64)
    p = project.Project(d)
    y = p.run(x)[0]
    out = tmp_path / "y.npy"
    r = subprocess.run([sys.executable, "-m", "equihls", "csim", d, "--input", f"{SAMPLES}:x", "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(out), y)


@pytest.mark.gxx
def test_csim_refuses_nan_with_row(demo, tmp_path):
    d, _ = demo
    x = np.load(SAMPLES)["x"][:10].astype(np.float64)
    x[7, 3, 1] = np.nan
    with pytest.raises(InputError, match="row 7"):
        project.Project(d).run(x)
    np.save(tmp_path / "bad.npy", x)
    r = subprocess.run([sys.executable, "-m", "equihls", "csim", d, "--input", str(tmp_path / "bad.npy")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "row 7" in r.stderr


@pytest.mark.gxx
def test_csim_reports_out_of_range(demo, tmp_path):
    d, _ = demo
    x = np.load(SAMPLES)["x"][:4].astype(np.float64)
    x[2, 0, 0] = 5000.0  # ap_fixed<16,12> holds [-2048, 2048)
    np.save(tmp_path / "big.npy", x)
    r = subprocess.run([sys.executable, "-m", "equihls", "csim", d, "--input", str(tmp_path / "big.npy")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "1 values outside" in r.stderr and "[2]" in r.stderr


def test_unknown_target_lists_known():
    with pytest.raises(EquihlsError, match="known targets: ku115, u250, vu13p, vu9p, zcu102"):
        project.compile_model(MODEL, target="vu99p", **QUIET)


def test_targets_command():
    r = subprocess.run([sys.executable, "-m", "equihls", "targets"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    for t in ("vu9p", "vu13p", "ku115", "zcu102", "u250", "xcvu9p-flga2104-2L-e", "6,840"):
        assert t in r.stdout


def test_malformed_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(ModelError, match="bad.onnx"):
        project.compile_model(str(bad), **QUIET)
    r = subprocess.run([sys.executable, "-m", "equihls", "compile", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "bad.onnx" in r.stderr


def _tiny(tmp_path, nodes, inits, out_shape, name="m.onnx"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape])
    g = helper.make_graph(nodes, "tiny", [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = str(tmp_path / name)
    onnx.save(m, p)
    return p


def test_refusal_names_node_and_leaves_no_project(tmp_path):
    p = _tiny(tmp_path, [helper.make_node("Sin", ["x"], ["e"], name="my_sin"),
                         helper.make_node("ReduceSum", ["e", "ax"], ["y"], name="pool", keepdims=0)],
              [helper.make_tensor("ax", TensorProto.INT64, [1], [1])], [4])
    out = str(tmp_path / "proj")
    with pytest.raises(UnsupportedNodeError, match="Sin 'my_sin'"):
        project.compile_model(p, output_dir=out, **QUIET)
    assert not os.path.exists(out) and staging_leftovers(out) == []


@pytest.mark.gxx
def test_non_gram_runtime_matmul_computes_the_model(tmp_path):
    """x·diag(w)·xᵀ with w no metric: not a scalar-products block, lowered as its Einsum (exact
    products and sums); the C-sim equals ONNX Runtime on raw inputs to the output LSB."""
    ort = pytest.importorskip("onnxruntime")
    w = helper.make_tensor("w", TensorProto.FLOAT, [4], [1.0, 2.0, 1.0, 1.0])
    p = _tiny(tmp_path, [helper.make_node("Mul", ["x", "w"], ["xw"], name="scale"),
                         helper.make_node("Transpose", ["x"], ["xt"], name="tr", perm=[0, 2, 1]),
                         helper.make_node("MatMul", ["xw", "xt"], ["y"], name="m3")], [w], [4, 4])
    prj = api.compile(p, output_dir=str(tmp_path / "proj"), input_type="ap_fixed<10,4,AP_RND_CONV,AP_SAT>", **QUIET)
    x = np.random.default_rng(3).integers(-96, 97, size=(40, 4, 4)) / 32.0
    y = np.asarray(prj.predict(x)).reshape(40, 4, 4)
    s = ort.InferenceSession(p)
    ref = s.run(None, {"x": x.astype(np.float32)})[0]
    assert np.abs(ref).max() > 4
    assert np.abs(y - ref).max() <= prj.output_type(0).lsb


def test_nan_in_samples_names_row(tmp_path):
    x = np.load(SAMPLES)["x"][:6].astype(np.float64)
    x[4, 0, 0] = np.inf
    np.save(tmp_path / "s.npy", x)
    with pytest.raises(InputError, match="row 4"):
        project.compile_model(MODEL, output_dir=str(tmp_path / "p"), samples=str(tmp_path / "s.npy"), **QUIET)
    assert not os.path.exists(tmp_path / "p")


@pytest.mark.parametrize("bug", ["metric_sign", "output_bias"])
@pytest.mark.gxx
def test_selfcheck_rejects_a_wrong_lowering(tmp_path, monkeypatch, bug):
    """Sensitivity: corrupt the lowered graph only (twin and firmware agree, ONNX Runtime does not):
    a flipped metric sign, or the output bias off by 1/4; the self-check must reject the compile."""
    real = driver.passes.run_all

    def corrupt(g, *a, **k):
        log = real(g, *a, **k)
        if bug == "metric_sign":
            sp = next(n for n in g.nodes if n.op == "ScalarProducts")
            sp.attrs["metric"] = (1, -1, -1, 1)
        else:
            b = [n for n in g.nodes if n.op == "Dense"][-1].inputs[2]
            g.consts[b] = g.consts[b] + 0.25
        return log

    monkeypatch.setattr(driver.passes, "run_all", corrupt)
    out = str(tmp_path / "proj")
    with pytest.raises(driver.SelfCheckError):
        project.compile_model(MODEL, output_dir=out, samples=SAMPLES, **QUIET)
    assert not os.path.exists(out) and os.path.exists(out + ".rejected")
    assert not os.path.exists(os.path.join(out + ".rejected", "equihls.json"))

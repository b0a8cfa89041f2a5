"""The bundled Keras reference model (models/deepsets_keras: Deep Sets over Minkowski products,
built in Keras 3 on TensorFlow and exported to ONNX by tf2onnx) compiles with its card's options
through the standard-op recognition, passes the self-check (C-sim vs ONNX Runtime) without
overflow, and keeps its structure: the Gram matrix written as MatMul(x * eta, Transpose(x)) is one
ScalarProducts block, psi is a table, Keras's tensordot Dense is one Dense on the i <= j pairs.
Re-exporting from Keras is tested only where TensorFlow is installed (.venv-keras)."""

import os

import numpy as np
import onnx
import pytest

from equihls.project import compile_model
from models.deepsets_keras import ONNX_PATH, SAMPLES_PATH

INPUT_TYPE = "ap_fixed<18,12,AP_RND,AP_SAT>"   # the card's input type (LSB 2^-6 GeV, the training grid)
N_EVENTS = 128


def _compile(onnx_path, tmp, n_events=N_EVENTS):
    np.savez(tmp / "s.npz", x=np.load(SAMPLES_PATH)["x"][:n_events])
    out = str(tmp / "dk_vu9p")
    return compile_model(str(onnx_path), target="vu9p", output_dir=out, input_type=INPUT_TYPE,
                         samples=str(tmp / "s.npz"), log=lambda *a: None), out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return _compile(ONNX_PATH, tmp_path_factory.mktemp("deepsets_keras"))


def test_shipped_onnx_is_a_keras_tf2onnx_export():
    m = onnx.load(ONNX_PATH)
    assert m.producer_name == "tf2onnx", m.producer_name
    assert m.ir_version <= 10 and {o.domain: o.version for o in m.opset_import}[""] == 17
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta == {"equihls.symmetry": "perm,lorentz", "equihls.input_reps": "4vec",
                    "equihls.output_reps": "scalar"}
    assert [i.name for i in m.graph.input] == ["x"] and [o.name for o in m.graph.output] == ["logit"]
    s = np.load(SAMPLES_PATH)
    assert s["x"].dtype == np.float32 and s["x"].shape == (512, 16, 4) and s["y"].dtype == np.int64
    assert np.bincount(s["y"]).tolist() == [256, 256]


@pytest.mark.gxx
def test_deepsets_keras_compiles_exactly(compiled):
    m, out = compiled
    rep = m["self_check"]
    assert rep["passed"] and rep["n_events"] == N_EVENTS, rep
    for o, r in rep["outputs"].items():
        assert r["csim_vs_twin_mismatches"] == 0, (o, r)
    assert rep["input_range"]["x"]["n_out_of_range"] == 0
    assert m["overflow"]["n_overflow"] == 0 and m["overflow"]["n_rounding_violations"] == 0
    ops = [n["op"] for n in m["nodes"]]
    sps = [n for n in m["nodes"] if n["op"] == "ScalarProducts"]
    assert len(sps) == 1 and tuple(sps[0]["attrs"]["metric"]) == (1, -1, -1, -1), ops
    assert sps[0]["inputs"] == ["x"]
    assert sum(1 for n in m["nodes"] if n["op"] == "LUT" and n["attrs"].get("func") == "psi") == 1
    assert ops.count("Dense") == 3 and {"ReduceSum", "Unary", "Eltwise"} <= set(ops)
    # the per-pair Dense runs on the 136 pairs i <= j (fold_symmetric_pairs)
    assert "fold_symmetric_pairs" in m["passes"]
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "equihls::scalar_products" in top
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]   # every layer is an equihls block


def test_keras_reexport_compiles(tmp_path):
    """Build the model in Keras (untrained, seeded), export it as train.py does and compile it."""
    pytest.importorskip("tensorflow")
    import keras

    from models.deepsets_keras import train
    from models.deepsets_keras.model import build

    keras.utils.set_random_seed(1)
    model = build()
    x = np.load(SAMPLES_PATH)["x"][:4]
    model(x)
    path = tmp_path / "deepsets_keras.onnx"
    model.export(str(path), format="onnx", opset_version=train.OPSET, verbose=False)
    train.finish_onnx(path)
    m, _ = _compile(path, tmp_path, n_events=64)
    assert m["self_check"]["passed"]
    assert [n["op"] for n in m["nodes"]].count("ScalarProducts") == 1

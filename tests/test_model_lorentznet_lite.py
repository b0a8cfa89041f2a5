"""The bundled LorentzNet-lite reference model (models/lorentznet_lite: Minkowski Gram -> one
LGEB block with psi invariants, edge MLP, sigmoid gate, node update and the equivariant
coordinate update x_i' = x_i + c sum_j (x_i - x_j) phi_x(m_ij) -> readout with the updated jet
mass, trained on Pythia jets) compiles with its shipped samples and its model-card options,
passes the self-check without overflow, keeps its structure (two ScalarProducts blocks, psi,
sigmoid and tanh tables, no foreign layer); its certificate is checked in tests/test_model_zoo.py."""

import os

import pytest

from models import ZOO
from models.lorentznet_lite import ONNX_PATH

pytestmark = pytest.mark.gxx

SPEC = ZOO["lorentznet_lite"]


def test_lorentznet_lite_compiles_exactly(zoo_compiled):
    m, out = zoo_compiled("lorentznet_lite")
    assert SPEC["onnx"] == ONNX_PATH and SPEC["input_type"] == "ap_fixed<18,12,AP_RND,AP_SAT>"
    # self-check, overflow and certificate: tests/test_model_zoo.py
    assert m["self_check"]["input_range"]["x"]["n_out_of_range"] == 0
    ops = [n["op"] for n in m["nodes"]]
    assert ops.count("ScalarProducts") == 2          # Gram of x, and <X', X'> of the updated jet
    funcs = [n["attrs"].get("func") for n in m["nodes"] if n["op"] == "LUT"]
    assert funcs.count("psi") == 5 and {"sigmoid", "tanh"} <= set(funcs), funcs
    assert {"Dense", "ReduceSum", "Route", "Eltwise", "Unary"} <= set(ops)
    # the Gram matrix and the aggregations are exact; only Dense/LUT outputs round
    for t in m["tensors"].values():
        if t["onnx_name"].startswith(("/ScalarProducts", "/ReduceSum", "/Sub")):
            assert t["exact"], t
    # the coordinate update (x_i - x_j) * tanh(phi_x) is kept at its exact width by the compiler
    # (auto-exact; rounded, it breaks exact Lorentz equivariance): x', X' and <X', X'> are all exact
    assert SPEC["types"] == {}
    assert [(t["tensor"], t["to"]) for t in m["auto_exact"]["tensors"]] == [("/Mul_11_output_0", "ap_fixed<31,15>")]
    coord = {t["onnx_name"]: t for t in m["tensors"].values()
             if t["onnx_name"] in ("/Mul_11_output_0", "/Add_8_output_0", "/ReduceSum_3_output_0",
                                   "/ScalarProducts_1_output_0")}
    assert len(coord) == 4 and all(t["exact"] for t in coord.values()), coord
    assert coord["/Mul_11_output_0"]["type"] == "ap_fixed<31,15>"
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]   # every layer is an equihls block

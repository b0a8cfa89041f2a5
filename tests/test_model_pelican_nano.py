"""The bundled PELICAN-nano reference model (models/pelican_nano: Minkowski Gram -> one Eq2to2
layer with the six permutation-equivariant aggregations -> Eq2to0 -> logit, trained on Pythia
jets) compiles with its shipped samples and its model-card options, passes the self-check
without overflow, keeps its structure (one ScalarProducts block, psi tables, no foreign layer)
(its certificate is checked in tests/test_model_zoo.py)."""

import os

import pytest

from models import ZOO
from models.pelican_nano import ONNX_PATH

pytestmark = pytest.mark.gxx

SPEC = ZOO["pelican_nano"]


def test_pelican_nano_compiles_exactly(zoo_compiled):
    m, out = zoo_compiled("pelican_nano")
    assert SPEC["onnx"] == ONNX_PATH and SPEC["input_type"] == "ap_fixed<18,12,AP_RND,AP_SAT>"
    # self-check, overflow and certificate: tests/test_model_zoo.py
    assert m["self_check"]["input_range"]["x"]["n_out_of_range"] == 0
    ops = [n["op"] for n in m["nodes"]]
    assert ops.count("ScalarProducts") == 1
    assert sum(1 for n in m["nodes"] if n["op"] == "LUT" and n["attrs"].get("func") == "psi") == 4
    assert {"Dense", "ReduceSum", "Route", "Eltwise", "Unary"} <= set(ops)
    # the Gram matrix and the aggregations are exact; only Dense/LUT outputs round
    for t in m["tensors"].values():
        if t["onnx_name"].startswith(("/ScalarProducts", "/ReduceSum")):
            assert t["exact"], t
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]
    top = open(os.path.join(out, "firmware", "myproject.cpp")).read()
    assert "nnet::" not in top.split("NETWORK INSTANTIATION")[1]   # every layer is an equihls block

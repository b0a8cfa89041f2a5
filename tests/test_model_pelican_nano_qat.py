"""The bundled QONNX PELICAN-nano (models/pelican_nano_qat: Brevitas QAT, power-of-two per-tensor
Quant nodes after the float equivariant front end) compiles from the shipped ONNX alone (no
brevitas, no torch), passes the self-check without overflow, maps its Quant nodes to quantiser
types; its certificate is checked in tests/test_model_zoo.py."""

import onnx
import pytest

from equihls.frontend.qonnx_quant import is_quant
from models import ZOO
from models.pelican_nano_qat import ONNX_PATH

SPEC = ZOO["pelican_nano_qat"]


def test_shipped_onnx_is_qonnx():
    om = onnx.load(ONNX_PATH)
    assert sum(is_quant(n.op_type, n.domain) for n in om.graph.node) >= 6
    assert any(n.op_type == "ScalarProducts" and n.domain == "equihls" for n in om.graph.node)


@pytest.mark.gxx
def test_pelican_nano_qat_compiles(zoo_compiled):
    m, _ = zoo_compiled("pelican_nano_qat")
    assert SPEC["onnx"] == ONNX_PATH and SPEC["input_type"] == "ap_fixed<18,12,AP_RND,AP_SAT>"
    # self-check, overflow and certificate: tests/test_model_zoo.py
    assert [n["op"] for n in m["nodes"]].count("ScalarProducts") == 1
    quant = [t for t in m["tensors"].values() if t.get("quantizer")]
    assert quant, "no tensor typed by a Quant node"
    assert all("AP_SAT" in t["type"] for t in quant)
    assert m["symmetry"]["groups"] == ["perm", "lorentz"]

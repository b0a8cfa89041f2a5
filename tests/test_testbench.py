"""The project's testbench (issue 16, point 5): built with g++ from the project alone (as Vitis HLS
csim_design builds it), it runs every tb_data event and compares each output bit for bit with
tb_data/tb_output_bits.dat, returning 1 on a mismatch; outputs wider than a double compare exactly.

Model: x [B, 3] -> y = x⁴ (kept exact at 72 bits by --type: wider than int64 and than a double's
mantissa) and h = 3 x + 1 (a second output)."""
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from equihls import project
from equihls.backend import testbench
from equihls.ir.fixedpoint import FixedType
from equihls.project import LAYOUT

pytestmark = pytest.mark.gxx


def _model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in ("y", "h")]
    inits = [onnx.numpy_helper.from_array(np.array(v, dtype=np.float32), n) for n, v in (("three", 3.0), ("one", 1.0))]
    nodes = [helper.make_node("Mul", ["x", "x"], ["x2"], name="sq"),
             helper.make_node("Mul", ["x2", "x2"], ["y"], name="q"),
             helper.make_node("Mul", ["x", "three"], ["x3"], name="t"),
             helper.make_node("Add", ["x3", "one"], ["h"], name="a")]
    m = helper.make_model(helper.make_graph(nodes, "tb", [x], outs, inits), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, path)
    return path


def _build(d):
    cmd = ["g++", "-std=c++11", "-O1", "-Ifirmware/ap_types", "-Ifirmware", f"{LAYOUT.top}_test.cpp",
           f"firmware/{LAYOUT.top}.cpp", "-o", "tb"]
    subprocess.run(cmd, cwd=d, check=True, capture_output=True, timeout=600)


def _run(d):
    return subprocess.run(["./tb"], cwd=d, capture_output=True, text=True, timeout=120)


def test_testbench_compares_every_output_bit_for_bit(tmp_path):
    x = np.random.default_rng(0).integers(-2048, 2048, size=(64, 3)) / 128.0
    d = str(tmp_path / "p")
    exact = {"x2": FixedType.parse("ap_fixed<36,12>"), "y": FixedType.parse("ap_fixed<72,24>")}   # x⁴ unrounded
    man = project.compile_model(_model(str(tmp_path / "tb.onnx")), output_dir=d, input_type="ap_fixed<18,6>",
                                samples=x, type_overrides=exact, log=lambda *a: None)
    widths = {o["onnx_name"]: int(o["type"].split("<")[1].split(",")[0]) for o in man["outputs"]}
    assert widths["y"] > 64, man["outputs"]                      # the exact x⁴ is wider than int64
    bits = open(os.path.join(d, LAYOUT.tb_output_bits)).read().split("\n")
    assert len(bits) == 64 + 1 and len(bits[0].split()) == 6
    # the expected bits are the exact x⁴: event 0's first element, from Python's integers
    frac = widths["y"] - int(man["outputs"][0]["type"].split(",")[1].rstrip(">"))
    raw = int(round(x[0, 0] * 128)) ** 4 * 2 ** (frac - 28)
    assert int(bits[0].split()[0], 16) == raw % (1 << widths["y"])
    _build(d)
    r = _run(d)
    assert r.returncode == 0 and "64 events, 0 mismatching output values" in r.stdout, r.stdout
    # one flipped low bit of the wide output, then of the narrow one: caught, named, exit 1
    path = os.path.join(d, LAYOUT.tb_output_bits)
    for col in (0, 4):
        rows = [row.split() for row in bits if row]
        rows[5][col] = format(int(rows[5][col], 16) ^ 1, "x")
        with open(path, "w") as f:
            f.write("\n".join(" ".join(row) for row in rows) + "\n")
        r = _run(d)
        assert r.returncode == 1 and f"MISMATCH event 5 output {col // 3} element {col % 3}" in r.stdout, r.stdout
    # the same expected bits, but an event the firmware computes differently: caught at that event
    with open(path, "w") as f:
        f.write("\n".join(bits))
    assert _run(d).returncode == 0
    with open(os.path.join(d, LAYOUT.tb_input)) as f:
        rows = f.read().split("\n")
    rows[7] = " ".join(str(float(v) + 1.0) for v in rows[7].split())
    with open(os.path.join(d, LAYOUT.tb_input), "w") as f:
        f.write("\n".join(rows))
    r = _run(d)
    assert r.returncode == 1 and "MISMATCH event 7" in r.stdout, r.stdout


def test_raw_hex_is_twos_complement():
    assert testbench.raw_hex(np.array([-1, 5, -(1 << 70)], dtype=object), 72) == ["f" * 18, "5", "c" + "0" * 17]
    assert testbench.raw_hex(np.array([-3]), 4) == ["d"]

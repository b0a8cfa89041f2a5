"""README's op table is the one the passes declare (`equihls ops`), and every declared op exists."""
import os
import subprocess
import sys

import onnx.defs

from equihls.passes import pipeline
from equihls.report import op_table
from tests.conftest import ROOT


def test_readme_holds_the_generated_table():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = op_table.markdown()
    begin, end = readme.find(op_table.BEGIN), readme.find(op_table.END)
    assert 0 <= begin < end, "README.md has no generated op table"
    assert readme[begin:end + len(op_table.END) + 1] == table, "README's op table is stale: paste `equihls ops`"


def test_every_recognising_and_lowering_pass_declares_its_forms():
    for group in (pipeline.RECOGNITION, pipeline.LOWERING):
        for p in group.passes:
            assert hasattr(p, "supports"), f"{group.name} pass {p.__name__} declares no @supports rows"


def test_declared_ops_are_real_onnx_ops():
    for _, name, row in op_table.rows():
        for op in row.ops:
            if "::" in op:
                assert op.split("::")[0] in ("equihls", "qonnx"), (name, op)
            else:
                assert onnx.defs.has(op), f"pass {name} declares '{op}', which is not an ONNX op"


def test_cli_prints_the_table():
    r = subprocess.run([sys.executable, "-m", "equihls", "ops"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 0 and r.stdout == op_table.markdown()

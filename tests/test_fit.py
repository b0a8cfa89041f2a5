"""The fit verdict (issue 16, point 2): every compile prints each resource as a share of the target;
a design whose estimate exceeds it stops before the C++ is built (exit 2), naming the blocks that
use most of the worst resource and the named targets that would hold it, unless --allow-overfit."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import models
from equihls.errors import FitError
from equihls.report import fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = dict(log=lambda *a: None)


def _est(dsp_blocks, cap_dsp=100):
    blocks = [{"node": f"n{k}", "op": "Dense", "dsp": d, "lut": 10, "ff": 1, "bram18": 0}
              for k, d in enumerate(dsp_blocks)]
    total = {r: sum(b[r] for b in blocks) for r in fit.RESOURCES}
    total.update(latency_ns=20.0, ii=1)
    return {"blocks": blocks, "total": total,
            "target": {"name": "tiny", "dsp": cap_dsp, "lut": 10_000, "ff": 10_000, "bram18": 10}}


def test_verdict_names_the_worst_blocks_and_the_targets_that_fit():
    est = _est([10, 90, 40, 5, 60])                      # 205 DSP of 100
    v = fit.verdict(est)
    assert not v["fits"] and v["over"] == ["dsp"] and v["fraction"]["dsp"] == pytest.approx(2.05)
    assert [b["node"] for b in v["blamed"]] == ["n1", "n4", "n2"]
    assert v["blamed"][0]["share"] == pytest.approx(90 / 205)
    assert "zcu102" in v["targets_that_fit"]            # 205 DSP fit every named part
    msg = fit.overfit_message("m.onnx", v, est)
    assert "DSP 205 of 100 (205.0 %)" in msg and "'n1' (Dense) 90 (43.9 %)" in msg and "2.05x fewer DSP" in msg
    assert "--allow-overfit" in msg and "it fits" in msg
    line = fit.format_fit(v, est)
    assert line.endswith("DOES NOT FIT") and "DSP 205 (205.0 %)" in line
    ok = fit.verdict(_est([10, 20]))
    assert ok["fits"] and ok["over"] == [] and ok["blamed"] == []
    assert fit.format_fit(ok, _est([10, 20])).endswith("fits")


def test_no_named_target_holds_it():
    v = fit.verdict(_est([20_000], cap_dsp=100))
    assert v["targets_that_fit"] == []
    assert "no named target holds it" in fit.overfit_message("m.onnx", v, _est([20_000], cap_dsp=100))


@pytest.mark.slow
def test_overfit_compile_stops_before_the_build(tmp_path):
    """lgn_lite needs 2,732 DSP; a ZCU102 has 2,520. Nothing is written."""
    from equihls import driver

    out, spec = str(tmp_path / "zcu"), models.ZOO["lgn_lite"]
    with pytest.raises(FitError) as ei:
        driver.compile_model(spec["onnx"], target="zcu102", output_dir=out, input_type=spec["input_type"],
                             samples=spec["samples"], **QUIET)
    msg = str(ei.value)
    assert "does not fit zcu102: DSP 2,732 of 2,520" in msg and "'/TensorProduct_5' (Bilinear)" in msg, msg
    assert "it fits ku115, u250, vu13p, vu9p" in msg
    assert not os.path.exists(out)


@pytest.mark.slow
def test_overfit_cli_exit_2(tmp_path):
    spec = models.ZOO["lgn_lite"]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "equihls", "compile", spec["onnx"], "--target", "zcu102", "-o",
                        str(tmp_path / "p"), "--input-type", spec["input_type"], "--samples", spec["samples"]],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "fit on zcu102: DSP 2,732 (108.4 %)" in r.stdout and "DOES NOT FIT" in r.stdout, r.stdout
    assert "equihls: error:" in r.stderr and "--allow-overfit" in r.stderr


torch = pytest.importorskip("torch")


@pytest.mark.gxx
def test_allow_overfit_keeps_the_project_and_records_it(tmp_path):
    """A 64 -> 64 Dense: 4,096 constant products (those with short weights are shift-adds), over a
    ZCU102's 2,520 DSP."""
    from equihls import project
    from tests.exporters import export

    torch.manual_seed(0)
    path = export(torch.nn.Linear(64, 64).eval(), (torch.randn(2, 64),), str(tmp_path / "wide.onnx"), False)
    x = np.random.default_rng(0).uniform(-1, 1, size=(64, 64))
    QUIET = dict(log=lambda *a: None, input_type="ap_fixed<16,2>")
    with pytest.raises(FitError, match="does not fit zcu102: DSP"):
        project.compile_model(path, target="zcu102", output_dir=str(tmp_path / "a"), samples=x, **QUIET)
    man = project.compile_model(path, target="zcu102", output_dir=str(tmp_path / "b"), samples=x,
                                allow_overfit=True, **QUIET)
    assert man["fit"]["fits"] is False and man["fit"]["allow_overfit"] is True and man["fit"]["over"] == ["dsp"]
    assert man["options"]["allow_overfit"] is True
    with open(os.path.join(str(tmp_path / "b"), "equihls.json")) as f:
        assert json.load(f)["fit"]["fraction"]["dsp"] > 1
    from equihls.report import summary
    text = summary.format_report(summary.collect(project.Project(str(tmp_path / "b"))))
    assert "DOES NOT FIT (kept with --allow-overfit)" in text
    man = project.compile_model(path, target="vu9p", output_dir=str(tmp_path / "c"), samples=x, **QUIET)
    assert man["fit"]["fits"] is True and man["fit"]["over"] == []

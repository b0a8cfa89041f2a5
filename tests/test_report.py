"""`equihls report`: estimates, types, self-check and certificate of the bundled project, and
measured figures from synthesis reports shown beside the estimate."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from equihls.report import summary as report
from equihls.project import Project
from tests.conftest import ROOT

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "synth")


@pytest.mark.gxx
def test_report_of_bundled_project(demo):
    d, m = demo
    text = report.format_report(report.collect(Project(d)))
    for needle in ("types:", "estimate", "ScalarProducts", "latency", "II = 1",
                   f"self-check on {m['self_check']['n_events']} events",
                   "C-sim vs numpy twin: 0 mismatches", "overflow trace", "no synthesis report"):
        assert needle in text, needle
    t = m["estimate"]["total"]
    assert f"{t['lut']:,}" in text and "544 multipliers vs 1024 for the dense form (0.531)" in text
    for tensor in m["tensors"].values():
        assert tensor["type"] in text


@pytest.mark.gxx
def test_report_shows_measured_beside_estimated(demo, tmp_path):
    d, m = demo
    p = str(tmp_path / "proj")
    shutil.copytree(d, p)
    rep_dir = os.path.join(p, "myproject_prj", "solution1", "syn", "report")
    os.makedirs(rep_dir)
    shutil.copy(os.path.join(FIXTURES, "myproject_csynth.xml"), rep_dir)
    shutil.copy(os.path.join(FIXTURES, "vivado_synth.rpt"), p)
    rep = report.collect(Project(p))
    rows = {r["quantity"]: r for r in rep["measured_vs_estimated"]}
    assert rows["lut"] == {"quantity": "lut", "estimate": m["estimate"]["total"]["lut"], "csynth": 23456,
                           "vivado": 21034}
    assert rows["dsp"]["csynth"] == 72 and rows["dsp"]["vivado"] == 68
    assert rows["latency_cycles"]["csynth"] == 14 and rows["ii"] == {"quantity": "ii", "estimate": 1, "csynth": 1,
                                                                      "vivado": None}
    text = report.format_report(rep)
    assert "measured (" in text and "23,456" in text and "21,034" in text
    # the CLI prints the same and writes JSON
    r = subprocess.run([sys.executable, "-m", "equihls", "report", p, "--json", "-"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["synthesis"]["csynth"]["lut"] == 23456 and js["estimate"]["total"]["ii"] == 1


def test_report_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "equihls", "report", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "not an equihls project" in r.stderr

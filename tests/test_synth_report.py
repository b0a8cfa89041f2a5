"""Parsers of Vitis HLS csynth.xml and Vivado report_utilization reports (fixtures in fixtures/synth)."""
import os
import shutil

import pytest

from equihls.errors import EquihlsError
from equihls.report.synth import find_reports, parse_csynth_xml, parse_vivado_utilization

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "synth")
CSYNTH = os.path.join(FIX, "myproject_csynth.xml")
CSYNTH_OLD = os.path.join(FIX, "vivadohls_2016_csynth.xml")
VIVADO = os.path.join(FIX, "vivado_synth.rpt")
VU9P = {"lut": 1182240, "ff": 2364480, "dsp": 6840, "bram18": 4320, "uram": 960}


def test_csynth_vitis_2023():
    r = parse_csynth_xml(CSYNTH)
    assert r == {
        "tool": "vitis_hls csynth", "tool_version": "2023.1", "part": "xcvu9p-flga2104-2L-e", "top": "myproject",
        "clock_target_ns": 5.0, "clock_estimated_ns": 4.32,
        "latency_min_cycles": 14, "latency_max_cycles": 14, "interval_min": 1, "interval_max": 1,
        "lut": 23456, "ff": 9876, "dsp": 72, "bram18": 4, "uram": 0, "available": VU9P,
    }
    assert all(type(r[k]) is int for k in ("latency_min_cycles", "interval_max", "lut", "bram18"))


def test_csynth_vivado_hls_dsp48e_and_undef():
    r = parse_csynth_xml(CSYNTH_OLD)
    assert (r["tool_version"], r["part"], r["top"]) == ("2016.4", "xc7z020clg400-1", "myproject")
    assert (r["clock_target_ns"], r["clock_estimated_ns"]) == (10.0, 8.51)
    assert (r["latency_min_cycles"], r["latency_max_cycles"]) == (5, None)
    assert (r["interval_min"], r["interval_max"]) == (6, None)
    assert (r["lut"], r["ff"], r["dsp"], r["bram18"], r["uram"]) == (1530, 812, 5, 2, None)
    assert r["available"] == {"lut": 53200, "ff": 106400, "dsp": 220, "bram18": 280, "uram": None}


def test_csynth_undef_latency(tmp_path):
    text = open(CSYNTH).read()
    text = text.replace("<Worst-caseLatency>14<", "<Worst-caseLatency>undef<")
    text = text.replace("<Interval-max>1<", "<Interval-max>undef<")
    p = tmp_path / "myproject_csynth.xml"
    p.write_text(text)
    r = parse_csynth_xml(p)
    assert (r["latency_min_cycles"], r["latency_max_cycles"]) == (14, None)
    assert (r["interval_min"], r["interval_max"]) == (1, None)


def test_csynth_truncated_names_file(tmp_path):
    p = tmp_path / "broken_csynth.xml"
    text = open(CSYNTH).read()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(EquihlsError, match="broken_csynth.xml.*well-formed"):
        parse_csynth_xml(p)


@pytest.mark.parametrize("drop, missing", [("<LUT>23456</LUT>", "<AreaEstimates>/<Resources>/<LUT>"),
                                           ("<Part>xcvu9p-flga2104-2L-e</Part>", "<UserAssignments>/<Part>")])
def test_csynth_missing_element_names_it(tmp_path, drop, missing):
    p = tmp_path / "myproject_csynth.xml"
    text = open(CSYNTH).read()
    assert drop in text
    p.write_text(text.replace(drop, "", 1))
    with pytest.raises(EquihlsError) as e:
        parse_csynth_xml(p)
    assert str(p) in str(e.value) and missing in str(e.value)


def test_csynth_bad_number(tmp_path):
    p = tmp_path / "x_csynth.xml"
    p.write_text(open(CSYNTH).read().replace("<DSP>72</DSP>", "<DSP>many</DSP>"))
    with pytest.raises(EquihlsError, match=r"x_csynth.xml: <AreaEstimates>/<Resources>/<DSP> is 'many'"):
        parse_csynth_xml(p)


def test_vivado_ultrascale_2023():
    r = parse_vivado_utilization(VIVADO)
    # Block RAM Tile 1.5 (36 Kb tiles) -> 3 RAMB18; the SLR table's zero rows must not win.
    assert r == {"tool": "vivado synth", "tool_version": "2023.1", "part": "xcvu9p-flga2104-2L-e",
                 "lut": 21034, "ff": 9120, "dsp": 68, "bram18": 3, "uram": 0, "available": VU9P}


SEVEN_SERIES = """\
| Tool Version : Vivado v.2019.2 (lin64) Build 2708876 Wed Nov  6 21:39:14 MST 2019
| Device       : xc7z020clg400-1
| Design State : Synthesized

1. Slice Logic
--------------

+----------------------------+------+-------+-----------+-------+
|          Site Type         | Used | Fixed | Available | Util% |
+----------------------------+------+-------+-----------+-------+
| Slice LUTs*                | 4321 |     0 |     53200 |  8.12 |
| Slice Registers            | 2468 |     0 |    106400 |  2.32 |
+----------------------------+------+-------+-----------+-------+

2. Memory
---------

+----------------+------+-------+-----------+-------+
|    Site Type   | Used | Fixed | Available | Util% |
+----------------+------+-------+-----------+-------+
| Block RAM Tile |  0.5 |     0 |       140 |  0.36 |
+----------------+------+-------+-----------+-------+

3. DSP
------

+----------------+------+-------+-----------+-------+
|    Site Type   | Used | Fixed | Available | Util% |
+----------------+------+-------+-----------+-------+
| DSPs           |   17 |     0 |       220 |  7.73 |
|   DSP48E1 only |   17 |       |           |       |
+----------------+------+-------+-----------+-------+
"""


def test_vivado_7series_without_prohibited_column(tmp_path):
    p = tmp_path / "vivado_synth.rpt"
    p.write_text(SEVEN_SERIES)
    r = parse_vivado_utilization(p)
    assert r == {"tool": "vivado synth", "tool_version": "2019.2", "part": "xc7z020clg400-1",
                 "lut": 4321, "ff": 2468, "dsp": 17, "bram18": 1, "uram": None,
                 "available": {"lut": 53200, "ff": 106400, "dsp": 220, "bram18": 280, "uram": None}}


def test_vivado_missing_row_or_device(tmp_path):
    p = tmp_path / "vivado_synth.rpt"
    p.write_text(SEVEN_SERIES.replace("| DSPs           |", "| Other          |"))
    with pytest.raises(EquihlsError, match="vivado_synth.rpt: no 'DSPs' row"):
        parse_vivado_utilization(p)
    p.write_text(SEVEN_SERIES.replace("Device", "Part"))
    with pytest.raises(EquihlsError, match="vivado_synth.rpt: no '| Device"):
        parse_vivado_utilization(p)


def test_find_reports_hls4ml_layout(tmp_path):
    rep = tmp_path / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    shutil.copy(CSYNTH, rep / "myproject_csynth.xml")
    shutil.copy(CSYNTH_OLD, rep / "dense_latency_ap_fixed_csynth.xml")  # a sub-module's report: ignored
    shutil.copy(VIVADO, tmp_path / "vivado_synth.rpt")
    r = find_reports(tmp_path)
    assert r["files"] == ["myproject_prj/solution1/syn/report/myproject_csynth.xml", "vivado_synth.rpt"]
    assert r["csynth"] == parse_csynth_xml(CSYNTH)
    assert r["vivado"]["lut"] == 21034 and r["vivado"]["bram18"] == 3


def test_find_reports_other_names_and_absence(tmp_path):
    assert find_reports(tmp_path) == {"files": []}
    rep = tmp_path / "jet_tagger_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    (rep / "jet_tagger_csynth.xml").write_text(open(CSYNTH).read().replace(">myproject<", ">jet_tagger<"))
    r = find_reports(tmp_path)
    assert r["files"] == ["jet_tagger_prj/solution1/syn/report/jet_tagger_csynth.xml"] and "vivado" not in r
    assert r["csynth"]["top"] == "jet_tagger"
    (tmp_path / "reports").mkdir()
    shutil.copy(CSYNTH_OLD, tmp_path / "reports" / "csynth.xml")
    shutil.rmtree(tmp_path / "jet_tagger_prj")
    assert find_reports(tmp_path)["csynth"]["dsp"] == 5


def test_find_reports_malformed_raises(tmp_path):
    (tmp_path / "vivado_synth.rpt").write_text("ERROR: [Common 17-69] Command failed\n")
    with pytest.raises(EquihlsError, match="vivado_synth.rpt"):
        find_reports(tmp_path)
    with pytest.raises(EquihlsError, match="not a directory"):
        find_reports(tmp_path / "nope")

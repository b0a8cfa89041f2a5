"""Read the synthesis reports of a built hls4ml project (no vendor tools needed).

Two sources, both reduced to the same resource keys (``lut``, ``ff``, ``dsp``, ``bram18``, ``uram``;
counts of device primitives, BRAM in 18 Kb blocks):

* the Vitis / Vivado HLS C-synthesis estimate ``<prj>/solution1/syn/report/<top>_csynth.xml``;
* the Vivado post-synthesis ``report_utilization`` table that hls4ml's ``vivado_synth.tcl`` writes to
  ``vivado_synth.rpt`` in the project directory.
"""
from __future__ import annotations

import glob
import os
import re
import xml.etree.ElementTree as ET

from ..errors import EquihlsError
from ..project import LAYOUT

RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")
# csynth.xml element names per resource key; older Vivado HLS writes DSP48E instead of DSP.
_XML_NAMES = {"lut": ("LUT",), "ff": ("FF",), "dsp": ("DSP", "DSP48E"), "bram18": ("BRAM_18K",), "uram": ("URAM",)}
# report_utilization row names per resource key: UltraScale(+) first, 7-series second.
_RPT_ROWS = {"lut": ("CLB LUTs", "Slice LUTs"), "ff": ("CLB Registers", "Slice Registers"),
             "dsp": ("DSPs",), "bram18": ("Block RAM Tile",), "uram": ("URAM",)}


def _number(text, what: str, path: str):
    """'12' -> 12, '4.320' -> 4.32, 'undef' -> None; anything else raises naming file and field."""
    s = (text or "").strip()
    if s == "undef":
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        raise EquihlsError(f"{path}: {what} is {s!r}, not a number") from None


def parse_csynth_xml(path) -> dict:
    """Parse a Vitis HLS (2020.2-2023.x) or Vivado HLS C-synthesis report ``<top>_csynth.xml``.

    Returns a dict:
      ``tool`` ("vitis_hls csynth"), ``tool_version`` (e.g. "2023.1", None if not recorded),
      ``part`` (e.g. "xcvu9p-flga2104-2L-e"), ``top`` (top function name),
      ``clock_target_ns`` and ``clock_estimated_ns`` (float, nanoseconds),
      ``latency_min_cycles`` / ``latency_max_cycles`` (best / worst case, int clock cycles),
      ``interval_min`` / ``interval_max`` (initiation interval II, int clock cycles),
      ``lut``, ``ff``, ``dsp``, ``bram18`` (18 Kb BRAM blocks), ``uram`` (int counts, the HLS estimate),
      ``available``: {lut, ff, dsp, bram18, uram} of the part (same units).
    A latency or interval that HLS could not bound ("undef") is None; ``uram`` is None in reports
    written before URAM existed. A file that is not well-formed XML or lacks a field raises
    EquihlsError naming the file and the missing element.
    """
    path = os.fspath(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise EquihlsError(f"{path}: not a well-formed csynth XML report ({e})") from None
    except OSError as e:
        raise EquihlsError(f"{path}: cannot read csynth report ({e.strerror})") from None

    def text(xpath, required=True):
        node = root.find(xpath)
        if node is None:
            if required:
                raise EquihlsError(f"{path}: csynth report has no <{xpath.replace('/', '>/<')}> element")
            return None
        return (node.text or "").strip()

    def num(xpath):
        return _number(text(xpath), f"<{xpath.replace('/', '>/<')}>", path)

    def clock(xpath):
        v = num(xpath)
        if v is None:
            raise EquihlsError(f"{path}: <{xpath.replace('/', '>/<')}> is 'undef'")
        return float(v)

    def resources(section):
        sec = f"AreaEstimates/{section}"
        if root.find(sec) is None:
            raise EquihlsError(f"{path}: csynth report has no <AreaEstimates>/<{section}> element")
        out = {}
        for key, names in _XML_NAMES.items():
            name = next((n for n in names if root.find(f"{sec}/{n}") is not None), None)
            if name is None and key != "uram":
                raise EquihlsError(f"{path}: csynth report has no <AreaEstimates>/<{section}>/<{names[0]}> element")
            out[key] = None if name is None else num(f"{sec}/{name}")
        return out

    lat = "PerformanceEstimates/SummaryOfOverallLatency"
    res = resources("Resources")
    return {
        "tool": "vitis_hls csynth",
        "tool_version": text("ReportVersion/Version", required=False),
        "part": text("UserAssignments/Part"),
        "top": text("UserAssignments/TopModelName"),
        "clock_target_ns": clock("UserAssignments/TargetClockPeriod"),
        "clock_estimated_ns": clock("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_min_cycles": num(f"{lat}/Best-caseLatency"),
        "latency_max_cycles": num(f"{lat}/Worst-caseLatency"),
        "interval_min": num(f"{lat}/Interval-min"),
        "interval_max": num(f"{lat}/Interval-max"),
        **res,
        "available": resources("AvailableResources"),
    }


def _cells(line: str) -> list:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_vivado_utilization(path) -> dict:
    """Parse a Vivado ``report_utilization`` text report (hls4ml's ``vivado_synth.rpt``).

    Works for UltraScale(+) ("CLB LUTs", "CLB Registers") and 7-series ("Slice LUTs",
    "Slice Registers") tables, with or without the "Prohibited" column: columns are found by their
    header names "Used" and "Available", and the first table row of each name wins (later
    per-SLR and distribution tables repeat the names).

    Returns a dict:
      ``tool`` ("vivado synth"), ``tool_version`` (e.g. "2023.1", None if absent),
      ``part`` (the "Device" header line, e.g. "xcvu9p-flga2104-2L-e"),
      ``lut``, ``ff``, ``dsp`` (int counts of LUTs, flip-flops/registers, DSP slices),
      ``bram18`` (int, 18 Kb BRAM blocks = 2 x the 36 Kb "Block RAM Tile" count, which may be x.5),
      ``uram`` (int UltraRAM blocks; None on parts without a "URAM" row),
      ``available``: {lut, ff, dsp, bram18, uram} from the "Available" column (same units).
    A missing file, device line or resource row raises EquihlsError naming the file and the row.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise EquihlsError(f"{path}: cannot read Vivado utilization report ({e.strerror})") from None
    part = version = None
    rows = {}  # row name -> (used, available) text
    header = None  # (used column, available column) of the table being read
    for line in lines:
        s = line.strip()
        if not s.startswith(("|", "+")):
            header = None
            continue
        m = re.match(r"\|\s*(Device|Tool Version)\s*:\s*(.+)", s)
        if m:
            if m.group(1) == "Device":
                part = m.group(2).split()[0]
            else:
                v = re.search(r"v\.?(\d{4}\.\d+(?:\.\d+)?)", m.group(2))
                version = v.group(1) if v else m.group(2).strip()
            continue
        if not s.startswith("|"):
            continue
        cells = _cells(s)
        if "Used" in cells and "Available" in cells:
            header = (cells.index("Used"), cells.index("Available"), len(cells))
        elif header and len(cells) == header[2]:
            rows.setdefault(cells[0].rstrip("*").strip(), (cells[header[0]], cells[header[1]]))
    if part is None:
        raise EquihlsError(f"{path}: no '| Device : <part>' line; not a Vivado report_utilization report")

    used, avail = {}, {}
    for key, names in _RPT_ROWS.items():
        name = next((n for n in names if n in rows), None)
        if name is None:
            if key == "uram":
                used[key] = avail[key] = None
                continue
            raise EquihlsError(f"{path}: no '{' or '.join(names)}' row in a table with Used/Available columns")
        scale = 2 if key == "bram18" else 1  # Block RAM Tile counts 36 Kb tiles (0.5 = one RAMB18)
        for out, txt, col in ((used, rows[name][0], "Used"), (avail, rows[name][1], "Available")):
            v = _number(txt, f"'{name}' {col}", path)
            if v is None:
                raise EquihlsError(f"{path}: '{name}' {col} is 'undef'")
            out[key] = int(round(v * scale))
    return {"tool": "vivado synth", "tool_version": version, "part": part, **used, "available": avail}


def _candidates(root: str):
    """(kind, path) of the report files find_reports looks for, most specific first."""
    prjs = sorted(p for p in glob.glob(os.path.join(glob.escape(root), "*_prj")) if os.path.isdir(p))
    for prj in prjs:
        tops = dict.fromkeys([os.path.basename(prj)[:-len("_prj")], LAYOUT.top])
        rep = os.path.join(prj, "solution1", "syn", "report")
        yield from (("csynth", os.path.join(rep, f"{t}_csynth.xml")) for t in tops)
        yield "csynth", os.path.join(rep, "csynth.xml")
    yield "csynth", os.path.join(root, "csynth.xml")
    yield "csynth", os.path.join(root, "reports", "csynth.xml")
    yield "vivado", os.path.join(root, "vivado_synth.rpt")
    for prj in prjs:
        tops = dict.fromkeys([os.path.basename(prj)[:-len("_prj")], LAYOUT.top])
        rep = os.path.join(prj, "solution1", "impl", "verilog", "report")
        yield from (("vivado", os.path.join(rep, f"{t}_utilization_synth.rpt")) for t in tops)


def find_reports(project_dir) -> dict:
    """Find and parse the synthesis reports of an hls4ml Vitis/Vivado HLS project directory.

    Looks for the HLS estimate in ``<name>_prj/solution1/syn/report/<name>_csynth.xml`` (also
    ``myproject_csynth.xml`` and ``csynth.xml`` there), else ``csynth.xml`` in the project
    directory or its ``reports/``; and for the Vivado post-synthesis utilization in
    ``vivado_synth.rpt`` (hls4ml's ``vsynth`` step), else
    ``<name>_prj/solution1/impl/verilog/report/<name>_utilization_synth.rpt`` (``export_design``).

    Returns {"csynth": parse_csynth_xml(...), "vivado": parse_vivado_utilization(...),
    "files": [paths of the parsed reports, relative to project_dir, '/'-separated]}; a report that
    is not there is simply absent (so a project never synthesised gives {"files": []}).
    A report that is there but malformed raises EquihlsError naming the file; a project_dir that is
    not a directory raises EquihlsError.
    """
    root = os.fspath(project_dir)
    if not os.path.isdir(root):
        raise EquihlsError(f"{root}: not a directory (expected an hls4ml project directory)")
    parsers = {"csynth": parse_csynth_xml, "vivado": parse_vivado_utilization}
    out = {"files": []}
    for kind, path in _candidates(root):
        if kind not in out and os.path.isfile(path):
            out[kind] = parsers[kind](path)
            out["files"].append(os.path.relpath(path, root).replace(os.sep, "/"))
    return out

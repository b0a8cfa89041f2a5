"""`equihls report DIR`: what a compiled project costs and how far it can be trusted.

Reads only the project directory: the manifest (types, estimates, self-check, overflow trace),
the last equivariance certificate (equihls_check.json) and, when a vendor run left them there,
the C-synthesis and Vivado utilization reports, shown beside the estimate.
"""
from __future__ import annotations

import json
import os

from ..project import LAYOUT
from ..verify import check, overflow, selfcheck, probe as symprobe
from . import estimate, fit, synth as synth_report

COMPARED = ("lut", "ff", "dsp", "bram18")


def collect(project) -> dict:
    """Everything `report` shows, as a JSON-able dict (project: a project.Project)."""
    m = project.manifest
    rep = {"project": project.dir, "model": m["model"], "target": m["target"], "equihls_version": m["equihls_version"],
           "inputs": m["inputs"], "outputs": m["outputs"], "tensors": m["tensors"], "nodes": m["nodes"],
           "estimate": m.get("estimate"), "self_check": m["self_check"], "overflow": m.get("overflow"),
           "symmetry_probe": m.get("symmetry_probe"), "auto_exact": m.get("auto_exact"),
           "fit": m.get("fit") or (fit.verdict(m["estimate"]) if m.get("estimate") else None)}
    cert = os.path.join(project.dir, LAYOUT.certificate)
    if os.path.exists(cert):
        with open(cert) as f:
            rep["certificate"] = json.load(f)
    rep["synthesis"] = synth_report.find_reports(project.dir)
    rep["measured_vs_estimated"] = _compare(rep["estimate"], rep["synthesis"])
    return rep


def _compare(est: dict | None, synth: dict) -> list:
    """Rows (quantity, estimate, csynth, vivado) for each resource, latency and II."""
    if not est or not (synth.get("csynth") or synth.get("vivado")):
        return []
    t, cs, vv = est["total"], synth.get("csynth") or {}, synth.get("vivado") or {}
    rows = [{"quantity": k, "estimate": t[k], "csynth": cs.get(k), "vivado": vv.get(k)} for k in COMPARED]
    rows.append({"quantity": "latency_cycles", "estimate": t["latency_cycles"], "csynth": cs.get("latency_max_cycles"),
                 "vivado": None})
    rows.append({"quantity": "ii", "estimate": t["ii"], "csynth": cs.get("interval_max"), "vivado": None})
    return rows


def _type_table(rep: dict) -> list:
    lines = [f"  {'tensor':28} {'shape':14} {'type':34} block: note"]
    for c in rep["inputs"]:
        lines.append(f"  {c['onnx_name'][:28]:28} {str(c['shape']):14} {c['type']:34} input")
    by_onnx = {t["onnx_name"]: t for t in rep["tensors"].values()}
    for node in rep["nodes"]:   # graph order
        t = by_onnx[node["outputs"][0]]
        note = ("user override" if t.get("user_override") else
                f"calibrated to [{t['calibrated']['lo']:.4g}, {t['calibrated']['hi']:.4g}] x "
                f"{t['calibrated']['margin']:g}"
                if t.get("calibrated") else "quantiser in the model" if t.get("quantizer") else
                "table (approximates f)" if node["op"] == "LUT" else "exact" if t["exact"] else "rounded")
        lines.append(f"  {t['onnx_name'][:28]:28} {str(t['shape']):14} {t['type']:34} {node['op']}: {note}")
    return lines


def _shown(line: dict) -> str:
    """PASS / FAIL / not checked of one probe or certificate line (a line that compared 0 pairs
    is not checked, also in files written before lines carried a 'verdict')."""
    v = line.get("verdict") or (check.NOT_CHECKED if not line.get("pairs") else
                                check.PASS if line.get("passed", not line.get("mismatched")) else check.FAIL)
    return check.SHOWN[v]


def format_report(rep: dict) -> str:
    """The report as text."""
    tg = rep["target"]
    lines = [f"equihls report: {rep['project']}",
             f"  model {rep['model']['file']} (sha256 {rep['model']['sha256'][:12]}), target {tg['name']} "
             f"({tg['part']}), clock {tg['clock_ns']} ns, equihls {rep['equihls_version']}", "", "types:"]
    lines += _type_table(rep)
    lines += ["", "estimate (model: equihls/estimate.py; README 'Estimates'):"]
    lines += ["  " + s for s in estimate.format_estimate(rep["estimate"]).splitlines()] if rep["estimate"] else \
        ["  none in this project (compiled before estimates existed): re-run equihls compile"]
    if rep.get("fit"):
        kept = " (kept with --allow-overfit)" if not rep["fit"]["fits"] and rep["fit"].get("allow_overfit") else ""
        lines.append("  " + fit.format_fit(rep["fit"], rep["estimate"]).removeprefix("equihls: ") + kept)
    if rep["measured_vs_estimated"]:
        lines += ["", f"measured ({', '.join(rep['synthesis']['files'])}) beside estimated:",
                  f"  {'':16} {'estimate':>10} {'HLS csynth':>11} {'Vivado synth':>13}"]
        for r in rep["measured_vs_estimated"]:
            cells = [("-" if r[k] is None else f"{r[k]:,}") for k in ("estimate", "csynth", "vivado")]
            lines.append(f"  {r['quantity']:16} {cells[0]:>10} {cells[1]:>11} {cells[2]:>13}")
    else:
        lines += ["", "no synthesis report in the project (run build_prj.tcl in Vitis HLS to get one)"]
    lines += ["", selfcheck.format_report(rep["self_check"])]
    if rep.get("overflow"):
        lines.append(overflow.format_trace(rep["overflow"]))
    if symprobe.format_auto_exact(rep.get("auto_exact")):
        lines.append(symprobe.format_auto_exact(rep["auto_exact"]).replace("equihls: ", ""))
    probe = rep.get("symmetry_probe")
    if probe:
        lines.append(f"symmetry probe at compile (twin, exact lines on the samples): {check.verdict_text(probe)}")
        for r in probe["lines"]:
            lines.append(f"  {r['group']}: {r['line']}: {r['pairs']} pairs, {r['mismatched']} mismatched "
                         f"{_shown(r)}")
        if not probe["passed"]:
            lines.append(symprobe.format_probe(probe))
    cert = rep.get("certificate")
    lines.append("")
    if cert:
        lines.append(f"equivariance certificate ({LAYOUT.certificate}): {check.verdict_text(cert)}")
        for r in cert["lines"]:
            lines.append(f"  {r['group']}: {r['line']} ({r['kind']}, {r['pairs']} pairs) {_shown(r)}")
    else:
        lines.append(f"no equivariance certificate yet: equihls check {rep['project']}")
    return "\n".join(lines)

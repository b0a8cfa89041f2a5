"""Compile and evaluate the reference models: float vs. bit-accurate C simulation.

Run from the repository root (``make evaluate`` runs the first form)::

    .venv/bin/python -m models.evaluate --write                 # every ZOO model
    .venv/bin/python -m models.evaluate pelican_nano --grid-scan
    .venv/bin/python -m models.evaluate lorentznet_lite --project /tmp/ll_vu9p --json /tmp/m.json --roc /tmp/roc.png

For each model it compiles ``hls_projects/<name>_vu9p`` with the card's options (models.ZOO) when
the project is missing or ``--compile`` is given, then measures it on the full Pythia test set
(``data/pythia_top16_test.npz``, generated if missing) and on the shipped ``samples.npz``: taggers
get AUC, accuracy and 1/eps_B at eps_S = 0.3 of the float model (raw jets and jets on the input
grid) and of the C simulation (:func:`models.common.evaluate_pythia_tagger`); regressors run their
folder's ``evaluate.py``. ``--write`` stores ``models/<folder>/metrics_csim[_<name>].json`` and,
for taggers, ``roc.png`` (needs matplotlib). Exit status 1 if a tagger's C-sim test AUC is more
than ``--max-auc-drop`` (0.005) below its float AUC.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from equihls.project import Project  # noqa: E402
from models import ZOO, compile_zoo  # noqa: E402
from models.common import evaluate_pythia_tagger, float_onnx_session, has_quant_nodes  # noqa: E402

MAX_AUC_DROP = 0.005


def project_for(name: str, project: str | None, recompile: bool) -> str:
    """The compiled project of ZOO entry `name`: `project` or hls_projects/<name>_vu9p, compiled
    first when missing or when `recompile`."""
    out = project or str(REPO / "hls_projects" / f"{name}_vu9p")
    if recompile or not os.path.exists(os.path.join(out, "equihls.json")):
        print(f"== compiling {name} -> {out}", flush=True)
        compile_zoo(name, out)
    return out


def evaluate_one(name: str, project: str, json_out: Path | None, roc: Path | None, grid_scan: bool) -> dict:
    """Evaluate ZOO entry `name` compiled in `project`; returns its metrics dict."""
    spec = ZOO[name]
    if spec["task"] == "regressor":
        mod = importlib.import_module(f"models.{spec['folder']}.evaluate")
        return mod.main([project, *spec["evaluate_args"], *(["--json", str(json_out)] if json_out else [])])
    quantised = has_quant_nodes(spec["onnx"])
    return evaluate_pythia_tagger(
        project, name=name, float_session=float_onnx_session(spec["onnx"]), samples=Path(spec["samples"]),
        float_label="QONNX reference" if quantised else "float32",
        references={f"float_{c}": float_onnx_session(ZOO[c]["onnx"]) for c in spec["compare"]},
        note="(float = the QONNX reference: its Quant nodes in standard ops)" if quantised else None,
        json_out=json_out, roc=roc, grid_scan=grid_scan)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"ZOO models (default: all of {', '.join(ZOO)})")
    ap.add_argument("--project", help="compiled project directory (one NAME only; default hls_projects/NAME_vu9p)")
    ap.add_argument("--compile", action="store_true", help="recompile even if the project exists")
    ap.add_argument("--json", type=Path, help="write the metrics here (one NAME only)")
    ap.add_argument("--roc", type=Path, help="write the test-set ROC plot here (one tagger only)")
    ap.add_argument("--write", action="store_true",
                    help="write models/<folder>/metrics_csim[_<name>].json and roc.png for every NAME")
    ap.add_argument("--grid-scan", action="store_true",
                    help="taggers: also the float AUC on the test jets rounded / truncated to 2^-4..2^-10 GeV")
    ap.add_argument("--max-auc-drop", type=float, default=MAX_AUC_DROP)
    a = ap.parse_args(argv)
    names = a.names or list(ZOO)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ZOO)}")
    if (a.project or a.json or a.roc) and len(names) != 1:
        ap.error("--project, --json and --roc take exactly one NAME")
    rows, bad = [], []
    for name in names:
        spec = ZOO[name]
        folder = REPO / "models" / spec["folder"]
        suffix = "" if name == spec["folder"] else f"_{name}"
        json_out = a.json or (folder / f"metrics_csim{suffix}.json" if a.write else None)
        roc = a.roc or (folder / "roc.png" if a.write and spec["task"] == "tagger" else None)
        project = project_for(name, a.project, a.compile)
        r = evaluate_one(name, project, json_out, roc, a.grid_scan)
        if spec["task"] == "tagger":
            metric, f, c = "AUC", r["test"]["float"]["auc"], r["test"]["csim"]["auc"]
            ok = c >= f - a.max_auc_drop
        else:                                   # the first output block's R^2
            block = next(iter(r["test"]["float"]))
            metric, f, c, ok = f"R2({block})", r["test"]["float"][block]["r2"], r["test"]["csim"][block]["r2"], True
        bad += [] if ok else [name]
        rows.append((name, metric, f, c, ok, Project(project).manifest["estimate"]["total"]))
    print("\nfloat vs C-sim on the Pythia test jets, and the estimate (vu9p):")
    for name, metric, f, c, ok, t in rows:
        print(f"  {name:18s} {metric:9s} float {f:.6f}  C-sim {c:.6f}  delta {c - f:+.6f}  {'ok' if ok else 'FAIL':4s}"
              f"  {t['dsp']:,} DSP ({100 * t['fraction']['dsp']:.1f}%)  {t['lut']:,} LUT  {t['latency_ns']:.0f} ns"
              f"  II {t['ii']}")
    if bad:
        print(f"C-sim AUC more than {a.max_auc_drop} below float: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

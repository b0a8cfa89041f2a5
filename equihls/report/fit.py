"""The fit verdict of an estimate: does the design fit its target, and if not, what is to blame
and what would fit. Every compile prints it and refuses a design over capacity unless
--allow-overfit (equihls/driver.py, stage_fit)."""
from __future__ import annotations

from .. import targets

RESOURCES = ("dsp", "lut", "ff", "bram18")
LABEL = {"dsp": "DSP", "lut": "LUT", "ff": "FF", "bram18": "BRAM18"}
N_BLAMED = 3


def verdict(est: dict) -> dict:
    """{fits, over: resources above capacity (worst first), fraction: {resource: used / capacity},
    blamed: the N_BLAMED blocks using most of the worst resource [{node, op, used, share}],
    targets_that_fit: named targets whose capacities hold the totals (estimates do not depend on
    the part beyond its capacity and clock)}. est: equihls.report.estimate.estimate()."""
    t, cap = est["total"], est["target"]
    frac = {r: t[r] / cap[r] for r in RESOURCES}
    over = sorted((r for r in RESOURCES if frac[r] > 1.0), key=lambda r: -frac[r])
    blamed = []
    if over:
        worst = over[0]
        ranked = sorted((b for b in est["blocks"] if b[worst] > 0), key=lambda b: (-b[worst], b["node"]))
        blamed = [{"node": b["node"], "op": b["op"], "used": b[worst], "share": b[worst] / t[worst]}
                  for b in ranked[:N_BLAMED]]
    fits_on = sorted(n for n, tg in targets.TARGETS.items() if all(t[r] <= getattr(tg, r) for r in RESOURCES))
    return {"fits": not over, "over": over, "fraction": frac, "blamed": blamed, "targets_that_fit": fits_on,
            "target": cap["name"]}


def format_fit(fit: dict, est: dict) -> str:
    """One line: each resource with its share of the target, the latency and the verdict."""
    t = est["total"]
    used = ", ".join(f"{LABEL[r]} {t[r]:,} ({100 * fit['fraction'][r]:.1f} %)" for r in RESOURCES)
    word = "fits" if fit["fits"] else "DOES NOT FIT"
    return f"equihls: fit on {fit['target']}: {used}; latency {t['latency_ns']:.0f} ns, II {t['ii']}: {word}"


def overfit_message(model: str, fit: dict, est: dict) -> str:
    """Why the design is refused: the resources over capacity, the blocks that use most of the
    worst one, and the ways out (the named targets that would hold it)."""
    t, cap = est["total"], est["target"]
    over = ", ".join(f"{LABEL[r]} {t[r]:,} of {cap[r]:,} ({100 * fit['fraction'][r]:.1f} %)" for r in fit["over"])
    worst = LABEL[fit["over"][0]]
    blamed = ", ".join(f"'{b['node']}' ({b['op']}) {b['used']:,} ({100 * b['share']:.1f} %)" for b in fit["blamed"])
    others = [n for n in fit["targets_that_fit"] if n != fit["target"]]
    where = (f"it fits {', '.join(others)} (--target)" if others else "no named target holds it")
    return (f"{model}: the estimated design does not fit {fit['target']}: {over}. Most {worst}: {blamed}. It needs "
            f"{fit['fraction'][fit['over'][0]]:.2f}x fewer {worst}: narrower types on those blocks (--type, "
            f"--default-type, --weight-bits) or fewer particles in the model; {where}; --allow-overfit keeps the "
            f"project as it is")

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


def overfit_message(model: str, fit: dict, est: dict, sharing=None) -> str:
    """Why the design is refused: the resources over capacity, the blocks that use most of the
    worst one, and the ways out: sharing = (K, estimate) of the smallest II that fits (or None),
    the named targets that would hold it."""
    t, cap = est["total"], est["target"]
    over = ", ".join(f"{LABEL[r]} {t[r]:,} of {cap[r]:,} ({100 * fit['fraction'][r]:.1f} %)" for r in fit["over"])
    worst = LABEL[fit["over"][0]]
    blamed = ", ".join(f"'{b['node']}' ({b['op']}) {b['used']:,} ({100 * b['share']:.1f} %)" for b in fit["blamed"])
    others = [n for n in fit["targets_that_fit"] if n != fit["target"]]
    where = (f"it fits {', '.join(others)} (--target)" if others else "no named target holds it")
    if sharing:
        k, e = sharing
        r = fit["over"][0]
        share = (f"--ii {k} fits (each multiplier shared by up to {k} products: {LABEL[r]} "
                 f"{100 * e['total'][r] / cap[r]:.1f} %, latency {e['total']['latency_ns']:.0f} ns, a new event "
                 f"every {k} cycles)")
    else:
        share = f"no --ii up to {MAX_II} fits"
    return (f"{model}: the estimated design does not fit {fit['target']}: {over}. Most {worst}: {blamed}. It needs "
            f"{fit['fraction'][fit['over'][0]]:.2f}x fewer {worst}: {share}; or narrower types on those blocks "
            f"(--type, --default-type, --weight-bits), fewer particles in the model; {where}; --allow-overfit keeps "
            f"the project as it is")


MAX_II = 64     # the largest initiation interval searched (a 40 MHz bunch crossing at 360 MHz is 9 cycles)
BUDGET_KEYS = {"dsp": "dsp", "lut": "lut", "ff": "ff", "bram18": "bram18", "bram": "bram18",
               "latency-ns": "latency_ns", "latency_ns": "latency_ns", "ii": "ii"}


def parse_budget(text) -> dict:
    """'dsp=0.5,lut=0.6,latency-ns=150,ii=6' (or a dict) -> {resource: max fraction of the part,
    latency_ns: max ns, ii: max II}; ValueError naming a bad entry."""
    items = text.items() if isinstance(text, dict) else (p.partition("=")[::2] for p in str(text).split(",") if p)
    out = {}
    for k, v in items:
        key = BUDGET_KEYS.get(str(k).strip().lower())
        if key is None:
            raise ValueError(f"--budget: unknown entry '{k}' (use {', '.join(sorted(set(BUDGET_KEYS)))})")
        try:
            val = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"--budget: '{k}={v}' is not a number") from None
        if key == "ii" and (val != int(val) or not 1 <= val <= MAX_II):
            raise ValueError(f"--budget: ii must be an integer from 1 to {MAX_II}, got {v}")
        if key != "ii" and not val > 0:
            raise ValueError(f"--budget: {k} must be positive, got {v}")
        out[key] = int(val) if key == "ii" else val
    return out


def meets(est: dict, budget: dict) -> bool:
    """Whether an estimate is within the budget (resources default to the whole part)."""
    t, cap = est["total"], est["target"]
    return (all(t[r] <= budget.get(r, 1.0) * cap[r] for r in RESOURCES)
            and t["latency_ns"] <= budget.get("latency_ns", float("inf")))


def smallest_ii(estimate_at, budget: dict, first: int = 1):
    """(K, estimate) for the smallest II from `first` to budget['ii'] (default MAX_II) whose estimate
    meets the budget, None when none does. estimate_at(K) -> estimate. Resources only shrink with
    K and latency only grows, so the search stops once the latency budget is exceeded."""
    for k in range(first, budget.get("ii", MAX_II) + 1):
        est = estimate_at(k)
        if meets(est, budget):
            return k, est
        if est["total"]["latency_ns"] > budget.get("latency_ns", float("inf")):
            return None
    return None

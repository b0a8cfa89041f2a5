"""FPGA targets: part numbers, default clocks and device capacities."""
from __future__ import annotations

import dataclasses

from .errors import EquihlsError


@dataclasses.dataclass(frozen=True)
class Target:
    """A named FPGA target. Capacities are device totals; clock in ns."""

    name: str
    part: str
    clock_ns: float
    lut: int
    ff: int
    dsp: int
    bram18: int
    description: str


# Capacities from the vendors' product tables (BRAM counted in 18 Kb blocks).
TARGETS = {t.name: t for t in (
    Target("vu9p", "xcvu9p-flga2104-2L-e", 5.0, 1_182_240, 2_364_480, 6_840, 4_320,
           "Virtex UltraScale+ VU9P (CMS Phase-2 trigger boards)"),
    Target("vu13p", "xcvu13p-flga2577-2-e", 5.0, 1_728_000, 3_456_000, 12_288, 5_376,
           "Virtex UltraScale+ VU13P (ATLAS/CMS Phase-2 boards)"),
    Target("ku115", "xcku115-flvb2104-2-e", 5.0, 663_360, 1_326_720, 5_520, 4_320,
           "Kintex UltraScale KU115"),
    Target("zcu102", "xczu9eg-ffvb1156-2-e", 5.0, 274_080, 548_160, 2_520, 1_824,
           "Zynq UltraScale+ ZU9EG (ZCU102 board)"),
    Target("u250", "xcu250-figd2104-2L-e", 5.0, 1_728_000, 3_456_000, 12_288, 5_376,
           "Alveo U250 (VU13P-class die)"),
)}


def get(name: str) -> Target:
    """Target by name; unknown names raise an error listing the known ones."""
    try:
        return TARGETS[name.lower()]
    except KeyError:
        raise EquihlsError(f"unknown target '{name}'; known targets: {', '.join(sorted(TARGETS))}") from None


def table() -> str:
    """A printable table of all targets."""
    rows = [f"{'target':8} {'part':24} {'clock':>7} {'LUT':>10} {'FF':>10} {'DSP':>7} {'BRAM18':>7}  description"]
    for t in TARGETS.values():
        rows.append(f"{t.name:8} {t.part:24} {t.clock_ns:>5.1f}ns {t.lut:>10,} {t.ff:>10,} {t.dsp:>7,} "
                    f"{t.bram18:>7,}  {t.description}")
    return "\n".join(rows)

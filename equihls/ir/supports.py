"""What each pass lowers, declared on the pass itself: the source of README's op table
(`equihls ops`, report/op_table.py) and of the test that every recognising or lowering pass
declares its forms."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Supports:
    """One row of the op table.

    ops: the ONNX op types the row covers ("Relu"; custom domains as "equihls::ScalarProducts",
    "qonnx::Quant"); form: how exporters write it (markdown); block: what it becomes; notes: the
    conditions and the arithmetic (exact, table with an error bound, ...)."""

    ops: tuple
    form: str
    block: str
    notes: str = ""


def supports(*rows: Supports):
    """Decorator: attach the op-table rows a pass lowers (read by report/op_table.py)."""
    def mark(fn):
        fn.supports = tuple(rows)
        return fn
    return mark


def code(ops) -> str:
    """`Op1 Op2 ...` in markdown code."""
    return "`" + " ".join(ops) + "`"

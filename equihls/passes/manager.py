"""The pass manager: runs one group of passes of the pipeline (passes/pipeline.py) on a subject,
an ONNX model state or the IR Graph.

A pass is a function `pass_(subject) -> bool`: True when it changed the subject. A check (it
only refuses bad input) returns None and is never logged. A fixed-point group is repeated until
one round changes nothing, at most MAX_ROUNDS rounds. Each pass that changed something is
appended to the pass log (the manifest's `passes`); after it the group's `after` hook runs
(Graph.remove_dead for IR groups). With verification on (environment EQUIHLS_VERIFY_IR=1, set by
the tests) the group's `verify` hook (Graph.verify for IR groups) runs after every pass.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

MAX_ROUNDS = 64   # no shipped model needs more than a few; a pass pair that undoes itself would loop forever


class PipelineError(RuntimeError):
    """A fixed-point group did not converge, or verification failed after a pass: a compiler bug."""


@dataclasses.dataclass(frozen=True)
class Group:
    """A named, ordered group of passes.

    fixed_point: repeat the whole group until a round changes nothing (else run it once).
    after: called on the subject after each pass that changed it.
    verify: called on the subject after each pass when verification is on.
    """

    name: str
    passes: tuple
    fixed_point: bool = False
    after: Callable | None = None
    verify: Callable | None = None

    def __post_init__(self):
        object.__setattr__(self, "passes", tuple(self.passes))

    def __iter__(self):
        return iter(self.passes)

    def names(self) -> list[str]:
        return [p.__name__ for p in self.passes]


def verifying() -> bool:
    """Whether to verify after every pass: EQUIHLS_VERIFY_IR set to anything but '', '0'."""
    return os.environ.get("EQUIHLS_VERIFY_IR", "") not in ("", "0")


def run_group(group: Group, subject, log: list) -> list:
    """Run `group` on `subject`, appending the name of each pass that changed it to `log`.
    Raises PipelineError when a fixed-point group still changes after MAX_ROUNDS rounds, or when
    verification after a pass fails (the message names the group and the pass)."""
    check = group.verify if verifying() else None
    for _ in range(MAX_ROUNDS if group.fixed_point else 1):
        changed = []
        for p in group.passes:
            if p(subject):
                log.append(p.__name__)
                changed.append(p.__name__)
                if group.after is not None:
                    group.after(subject)
            if check is not None:
                try:
                    check(subject)
                except Exception as e:
                    raise PipelineError(f"internal error: after pass {p.__name__} (group {group.name}): {e}") from e
        if not changed:
            return log
    if group.fixed_point:
        raise PipelineError(f"internal error: pass group {group.name} reached no fixed point in {MAX_ROUNDS} rounds; "
                            f"passes still changing the graph: {', '.join(dict.fromkeys(changed))}")
    return log

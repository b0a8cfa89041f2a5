"""Errors raised by equihls. Every message names what is wrong: file, node, op, tensor, shape or value."""
from __future__ import annotations

from typing import NamedTuple


class EquihlsError(Exception):
    """Base class of all equihls errors: a user error (bad file, option, model or data). The CLI
    prints the message on one line and exits 2; any other exception is an internal error (exit 3)."""


class ModelError(EquihlsError):
    """The ONNX file cannot be read, is invalid, or has a shape equihls cannot handle."""


class Unsupported(NamedTuple):
    """One op of a refusal: how many nodes of it are left, the first of them (graph order) and why."""

    op: str
    count: int
    first_node: str
    reason: str


class UnsupportedNodeError(EquihlsError):
    """Nodes remain that no equihls pass lowers.

    Args:
        node: the (first) IR node (its name and op are put into the message).
        reason: why it could not be lowered.
        unsupported: every unlowered op, in graph order of its first node (default: just `node`);
            with more than one node the message is one line: the count, then per op its count,
            first node and reason.

    Attributes: node_name, op_type (of the first node) and unsupported (a list of Unsupported).
    """

    def __init__(self, node, reason: str, unsupported: list[Unsupported] | None = None):
        self.node_name = node.name
        self.op_type = node.op
        self.unsupported = list(unsupported or [Unsupported(node.op, 1, node.name, reason)])
        total = sum(u.count for u in self.unsupported)
        if total == 1:
            super().__init__(f"{node.op} '{node.name}': {reason}")
            return
        parts = [f"{u.op} ×{u.count} ({'first ' if u.count > 1 else ''}'{u.first_node}': {u.reason})"
                 for u in self.unsupported]
        super().__init__(f"{total} nodes have no equihls lowering: " + ", ".join(parts))

    @classmethod
    def of_nodes(cls, refused: list) -> UnsupportedNodeError:
        """The error for a list of (node, reason) in graph order: grouped by op, each op's first node."""
        groups: dict[str, list] = {}
        for node, reason in refused:
            groups.setdefault(node.op, []).append((node, reason))
        unsupported = [Unsupported(op, len(v), v[0][0].name, v[0][1]) for op, v in groups.items()]
        return cls(refused[0][0], refused[0][1], unsupported)


class OptionError(EquihlsError, ValueError):
    """A command-line option value, type string or override is malformed or outside its domain
    (also a ValueError, so callers of the library API that catch ValueError keep working)."""


class TypeWidthError(ModelError, ValueError):
    """A tensor's exact fixed-point type is wider than equihls supports (names the node and what
    can help). Also a ValueError, as it was before it became an EquihlsError."""


class InputError(EquihlsError):
    """Input data are malformed: NaN/Inf, wrong shape, unreadable file."""


class PrecisionError(EquihlsError):
    """A constant loses its relative precision when quantised (it names the constant and its nodes)."""


class SelfCheckError(EquihlsError):
    """The C simulation disagrees with the reference beyond the tolerance."""


class FitError(EquihlsError):
    """The estimated design exceeds the target's capacity (and --allow-overfit was not given)."""


class OverflowDetected(EquihlsError):
    """Values overflowed their fixed-point types on the sample events (or an exact tensor rounded)."""

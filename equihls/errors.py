"""Errors raised by equihls. Every message names what is wrong: file, node, op, tensor, shape or value."""


class EquihlsError(Exception):
    """Base class of all equihls errors (the CLI prints the message and exits non-zero)."""


class ModelError(EquihlsError):
    """The ONNX file cannot be read, is invalid, or has a shape equihls cannot handle."""


class UnsupportedNodeError(EquihlsError):
    """A node remains that no equihls pass lowers.

    Args:
        node: the IR node (its name and op are put into the message).
        reason: why it could not be lowered.
    """

    def __init__(self, node, reason: str):
        self.node_name = node.name
        self.op_type = node.op
        super().__init__(f"{node.op} '{node.name}': {reason}")


class TypeWidthError(EquihlsError, ValueError):
    """A tensor's exact fixed-point type is wider than equihls supports (names the node). Also a
    ValueError, as it was before it became an EquihlsError."""


class InputError(EquihlsError):
    """Input data are malformed: NaN/Inf, wrong shape, unreadable file."""


class SelfCheckError(EquihlsError):
    """The C simulation disagrees with the reference beyond the tolerance."""


class OverflowDetected(EquihlsError):
    """Values overflowed their fixed-point types on the sample events (or an exact tensor rounded)."""

"""Errors raised by equihls. Every message names what is wrong: file, node, op, tensor, shape or value."""


class EquihlsError(Exception):
    """Base class of all equihls errors: a user error (bad file, option, model or data). The CLI
    prints the message on one line and exits 2; any other exception is an internal error (exit 3)."""


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


class OverflowDetected(EquihlsError):
    """Values overflowed their fixed-point types on the sample events (or an exact tensor rounded)."""

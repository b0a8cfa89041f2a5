"""The intermediate representation: the graph of typed tensors (`graph`) and the fixed-point
number model every stage shares (`fixedpoint`)."""
from .graph import Graph, Node

__all__ = ["Graph", "Node"]

"""The equihls intermediate representation: a small dataflow graph of per-event tensors.

Shapes keep ONNX semantics with the batch axis fixed to 1, so a four-vector input of an ONNX
model with shape [batch, N, 4] is a tensor of shape (1, N, 4) here and ONNX axes, broadcasting
and constants mean what they meant in the file. The firmware computes one event, so the leading
1 is dropped only when code is emitted. Nodes keep ONNX op names (domain "") until a pass
rewrites them into equihls ops (domain "equihls").
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np


@dataclasses.dataclass
class Node:
    """One operation. `attrs` holds plain Python values or numpy arrays."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = dataclasses.field(default_factory=dict)
    domain: str = ""

    @property
    def is_equihls(self) -> bool:
        return self.domain == "equihls"


class Graph:
    """Nodes in topological order plus tensor shapes (per event) and constant values.

    Attributes:
        nodes: list of Node in topological order.
        shapes: tensor name -> tuple of ints (batch axis = 1 for runtime tensors).
        consts: tensor name -> numpy array (float64 for data, int64 for indices), ONNX shape.
        inputs / outputs: graph input / output tensor names.
    """

    def __init__(self, nodes, shapes, consts, inputs, outputs, name="model"):
        self.nodes: list[Node] = list(nodes)
        self.shapes: dict[str, tuple] = dict(shapes)
        self.consts: dict[str, np.ndarray] = dict(consts)
        self.inputs: list[str] = list(inputs)
        self.outputs: list[str] = list(outputs)
        self.name = name
        self._counter = Counter()

    # -- queries -----------------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        """The node writing `tensor`, or None for inputs and constants."""
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        """Nodes reading `tensor`."""
        return [n for n in self.nodes if tensor in n.inputs]

    def is_const(self, tensor: str) -> bool:
        return tensor in self.consts

    def size(self, tensor: str) -> int:
        return int(np.prod(self.shapes[tensor], dtype=np.int64))

    # -- edits -------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A new unique tensor/node name derived from `base`."""
        while True:
            self._counter[base] += 1
            name = f"{base}_{self._counter[base]}"
            if name not in self.shapes and all(n.name != name for n in self.nodes):
                return name

    def replace(self, old: Node, new_nodes: list[Node]):
        """Put `new_nodes` where `old` was (keeps topological order)."""
        i = self.nodes.index(old)
        self.nodes[i : i + 1] = new_nodes

    def add_const(self, base: str, value) -> str:
        """Register a constant tensor and return its name."""
        name = self.fresh(base)
        value = np.asarray(value)
        self.consts[name] = value
        self.shapes[name] = tuple(value.shape)
        return name

    def remove_dead(self):
        """Drop nodes whose outputs nobody reads (and unused constants)."""
        changed = True
        while changed:
            changed = False
            used = set(self.outputs)
            for n in self.nodes:
                used.update(n.inputs)
            keep = [n for n in self.nodes if any(o in used for o in n.outputs)]
            if len(keep) != len(self.nodes):
                self.nodes = keep
                changed = True
        used = set(self.outputs)
        for n in self.nodes:
            used.update(n.inputs)
        for c in [c for c in self.consts if c not in used]:
            del self.consts[c]

    def rename_tensor(self, old: str, new: str):
        """Make every reader of `old` read `new` instead (graph outputs included)."""
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
        self.outputs = [new if t == old else t for t in self.outputs]

    def summary(self) -> str:
        """One line per node: op, name, inputs -> outputs with shapes."""
        lines = []
        for n in self.nodes:
            ins = ", ".join(f"{t}{list(self.shapes.get(t, ()))}" for t in n.inputs)
            outs = ", ".join(f"{t}{list(self.shapes.get(t, ()))}" for t in n.outputs)
            lines.append(f"{(n.domain + '::' if n.domain else '')}{n.op} {n.name}: {ins} -> {outs}")
        return "\n".join(lines)

"""The equihls intermediate representation: a small dataflow graph of per-event tensors.

Shapes keep ONNX semantics with the batch axis fixed to 1, so a four-vector input of an ONNX
model with shape [batch, N, 4] is a tensor of shape (1, N, 4) here and ONNX axes, broadcasting
and constants mean what they meant in the file. The firmware computes one event, so the leading
1 is dropped only when code is emitted. Nodes keep ONNX op names (domain "") until a pass
rewrites them into equihls ops (domain "equihls").

Producers, consumers and node names are indexed. Every edit of the wiring (a node's inputs,
outputs or name, the graph's node list) bumps one generation counter, and the index is rebuilt
on the next query after an edit, so passes may edit nodes in place and the index is never stale.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

DOMAIN = "equihls"      # the ONNX domain of equihls ops (in the IR, in custom nodes, in emitted graphs)
DOMAIN_VERSION = 1      # its opset version
OPSET = 17              # the default-domain opset equihls writes (function bodies, emitted graphs, index tables)

_generation = 0   # bumped on every wiring edit, of any graph


def _edited():
    """Mark every Graph index stale (called on each edit of a node list or a node's wiring)."""
    global _generation
    _generation += 1


class _Tracked(list):
    """A list whose in-place edits mark the indexes stale: node inputs/outputs, Graph.nodes."""

    __slots__ = ()


def _tracking(method):
    def edit(self, *args, **kwargs):
        _edited()
        return method(self, *args, **kwargs)
    edit.__name__ = method.__name__
    edit.__doc__ = method.__doc__
    return edit


for _m in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop", "remove",
           "clear", "sort", "reverse"):
    setattr(_Tracked, _m, _tracking(getattr(list, _m)))

_WIRING = ("inputs", "outputs", "name")


class IRInvariantError(RuntimeError):
    """Graph.verify found a broken structural invariant: a compiler bug, not a user error."""


@dataclasses.dataclass
class Node:
    """One operation. `attrs` holds plain Python values or numpy arrays."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = dataclasses.field(default_factory=dict)
    domain: str = ""

    def __setattr__(self, key, value):
        if key in _WIRING:
            _edited()
            if key != "name":
                value = value if isinstance(value, _Tracked) else _Tracked(value)
        object.__setattr__(self, key, value)

    @property
    def is_equihls(self) -> bool:
        return self.domain == DOMAIN


@dataclasses.dataclass
class _Index:
    """Lookup tables of one generation of a graph's wiring."""

    generation: int
    producer: dict        # tensor -> first node (in graph order) writing it
    consumers: dict       # tensor -> nodes reading it (graph order, each node once)
    names: set            # node names


class Graph:
    """Nodes in topological order plus tensor shapes (per event) and constant values.

    Attributes:
        nodes: list of Node in topological order.
        shapes: tensor name -> tuple of ints (batch axis = 1 for runtime tensors).
        consts: tensor name -> numpy array (float64 for data, int64 for indices), ONNX shape.
        inputs / outputs: graph input / output tensor names.
        pass_log: names of the frontend passes that changed the model this graph came from
            (set by the frontend; passes.run_all starts its log with them).
        opset: the model's default-domain opset (set by the frontend; op forms differ by opset,
            e.g. Softmax's axis before opset 13).
    """

    def __init__(self, nodes, shapes, consts, inputs, outputs, name="model"):
        self.nodes = nodes
        self.shapes: dict[str, tuple] = dict(shapes)
        self.consts: dict[str, np.ndarray] = dict(consts)
        self.inputs: list[str] = list(inputs)
        self.outputs: list[str] = list(outputs)
        self.name = name
        self.pass_log: list[str] = []
        self.opset = OPSET
        self._counter = Counter()
        self._index_cache: _Index | None = None

    @property
    def nodes(self) -> list[Node]:
        return self._nodes

    @nodes.setter
    def nodes(self, nodes):
        _edited()
        self._nodes = _Tracked(nodes)

    # -- index -------------------------------------------------------------------------
    def _index(self) -> _Index:
        """The producer/consumer/name index, rebuilt when the wiring was edited since it was built."""
        ix = self._index_cache
        if ix is not None and ix.generation == _generation:
            return ix
        producer, consumers = {}, {}
        for n in self._nodes:
            for t in n.outputs:
                producer.setdefault(t, n)
            for t in dict.fromkeys(n.inputs):
                consumers.setdefault(t, []).append(n)
        self._index_cache = _Index(_generation, producer, consumers, {n.name for n in self._nodes})
        return self._index_cache

    # -- queries -----------------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        """The node writing `tensor`, or None for inputs and constants."""
        return self._index().producer.get(tensor)

    def consumers(self, tensor: str) -> list[Node]:
        """Nodes reading `tensor` (in graph order)."""
        return list(self._index().consumers.get(tensor, ()))

    def is_const(self, tensor: str) -> bool:
        return tensor in self.consts

    def size(self, tensor: str) -> int:
        return int(np.prod(self.shapes[tensor], dtype=np.int64))

    # -- edits -------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A new unique tensor/node name derived from `base`."""
        names = self._index().names
        while True:
            self._counter[base] += 1
            name = f"{base}_{self._counter[base]}"
            if name not in self.shapes and name not in names:
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

    # -- invariants --------------------------------------------------------------------
    def verify(self):
        """Check the structural invariants every pass must keep; raise IRInvariantError naming
        the node or tensor that breaks one:
        unique node names; every tensor written by at most one node, never by a node when it is
        a graph input or a constant; every node input a graph input, a constant or the output of
        an earlier node (so the node list is in topological order, hence acyclic); every graph
        output written by a node; graph inputs and outputs listed once; a shape recorded for every
        tensor, a constant's shape that of its value, graph inputs and outputs with the batch axis 1
        first (inner tensors may merge it into another axis, as reshape(-1, d) does: the per-event
        independence proof, verify/independence.py, is what makes that sound)."""
        self._verify_ports()
        names, written = set(), {}
        for n in self.nodes:
            where = f"{n.op} '{n.name}'"
            if n.name in names:
                raise IRInvariantError(f"IR: two nodes are named '{n.name}'")
            names.add(n.name)
            for t in n.inputs:
                if t:
                    self._verify_read(where, t, written)
            for t in n.outputs:
                self._verify_write(where, t, written)
            written.update((t, n) for t in n.outputs)
        for t in self.outputs:
            if t not in written:
                raise IRInvariantError(f"IR: graph output '{t}' is written by no node")
            self._verify_port_shape(f"graph output '{t}'", t)

    def _verify_ports(self):
        """Graph inputs/outputs listed once; inputs are runtime tensors with a batch-1 shape."""
        for kind, ports in (("input", self.inputs), ("output", self.outputs)):
            for t, k in Counter(ports).items():
                if k > 1:
                    raise IRInvariantError(f"IR: graph {kind} '{t}' is listed {k} times")
        for t in self.inputs:
            if t in self.consts:
                raise IRInvariantError(f"IR: graph input '{t}' is also a constant")
            self._verify_port_shape(f"graph input '{t}'", t)
        for t in self.consts:
            self._verify_shape(f"constant '{t}'", t)

    def _verify_read(self, where: str, t: str, written: dict):
        """Input `t` of the node `where`: a graph input, a constant or written by an earlier node."""
        if t not in written and t not in self.consts and t not in self.inputs:
            later = next((n for n in self.nodes if t in n.outputs), None)
            if later is not None:
                raise IRInvariantError(f"IR: {where} reads '{t}' before {later.op} '{later.name}' writes it "
                                       "(nodes out of topological order, or a cycle)")
            raise IRInvariantError(f"IR: {where} reads '{t}', which is no graph input, constant or node output")
        self._verify_shape(f"{where}: input '{t}'", t)

    def _verify_write(self, where: str, t: str, written: dict):
        """Output `t` of the node `where`: a new runtime tensor with a recorded shape."""
        if not t:
            raise IRInvariantError(f"IR: {where} has an output without a name")
        if t in written:
            raise IRInvariantError(f"IR: tensor '{t}' is written by both {written[t].op} '{written[t].name}' "
                                   f"and {where}")
        if t in self.inputs or t in self.consts:
            raise IRInvariantError(f"IR: {where} writes '{t}', which is a graph "
                                   f"{'input' if t in self.inputs else 'constant'}")
        self._verify_shape(f"{where}: output '{t}'", t)

    def _verify_shape(self, what: str, t: str):
        """A shape of ints is recorded for `t`: its value's shape for a constant."""
        s = self.shapes.get(t)
        if s is None:
            raise IRInvariantError(f"IR: {what} has no recorded shape")
        if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in s):
            raise IRInvariantError(f"IR: {what} has shape {s}, not a tuple of sizes")
        if t in self.consts:
            if tuple(s) != tuple(np.shape(self.consts[t])):
                raise IRInvariantError(f"IR: {what}: constant of shape {tuple(np.shape(self.consts[t]))} recorded "
                                       f"as {tuple(s)}")

    def _verify_port_shape(self, what: str, t: str):
        """A graph input or output: a recorded shape with the batch axis 1 first."""
        self._verify_shape(what, t)
        s = self.shapes[t]
        if len(s) == 0 or s[0] != 1:
            raise IRInvariantError(f"IR: {what} has shape {tuple(s)}, without the batch axis 1 first")

    def summary(self) -> str:
        """One line per node: op, name, inputs -> outputs with shapes."""
        lines = []
        for n in self.nodes:
            ins = ", ".join(f"{t}{list(self.shapes.get(t, ()))}" for t in n.inputs)
            outs = ", ".join(f"{t}{list(self.shapes.get(t, ()))}" for t in n.outputs)
            lines.append(f"{(n.domain + '::' if n.domain else '')}{n.op} {n.name}: {ins} -> {outs}")
        return "\n".join(lines)

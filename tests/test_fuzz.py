"""Property-based fuzzing of the whole compiler (issue 12, point 8).

hypothesis generates small random ONNX graphs (1-5 nodes) of the ops of the README's op table
(MatMul/Gemm with constant weights + bias, Add/Sub/Mul/Max/Min with constants or tensors
(broadcasting), Div by a constant, ReduceSum/ReduceMean over non-batch axes, Relu, Neg, Sigmoid,
Tanh, Reshape/Transpose/Slice/Concat/Unsqueeze/Squeeze and the Gram Einsum "bid,bjd->bij"), with
random input shapes, random input types ap_fixed<W,I,Q> and random constants of magnitude 1e-6..1e4
(log-uniform, random signs, some exact zeros and powers of two). Every model is valid ONNX by
construction (onnx.checker and ONNX Runtime run on it first). The property, per graph:

  compile_model either refuses with an EquihlsError whose message names a node, op, tensor or
  option of the model (any other exception fails), or succeeds, and then on raw (off-grid)
  in-range float inputs (a) the C-sim equals the numpy twin bit for bit, and (b) the C-sim
  reproduces ONNX Runtime float32 by the fidelity criterion of tests/fidelity.py (relative RMS
  error <= 5% of the output's spread and correlation >= 0.9; constant outputs within 5% of their
  magnitude). A success that fails (b) is a silent miscompile: the test prints the graph.

The compile sees the same raw events as its samples, so the compiler's own self-check judges
exactly the events this test measures (the test never reads the self-check's verdict).

CI budget: a fixed seed and FUZZ_EXAMPLES examples, no shrinking. A longer run:
  EQUIHLS_FUZZ_EXAMPLES=200 .venv/bin/python -m pytest -q tests/test_fuzz.py   (= make fuzz)
EQUIHLS_FUZZ_SEED picks another fixed seed. There is no shrinking: an example is one seed of a
numpy generator (see _Builder), so a smaller seed is not a simpler graph; a failure prints the
graph and build(seed), which rebuilds it.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

from equihls import project  # noqa: E402
from equihls.errors import EquihlsError  # noqa: E402
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from tests.fidelity import capture_precision, check_project, onnxruntime_float, raw_inputs  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("EQUIHLS_FUZZ_EXAMPLES", "5"))
FUZZ_SEED = int(os.environ.get("EQUIHLS_FUZZ_SEED", "12"))
N_EVENTS = 64
OPSET = 17
ROUNDINGS = ["AP_TRN", "AP_RND", "AP_RND_CONV", "AP_TRN_ZERO", "AP_RND_ZERO", "AP_RND_INF", "AP_RND_MIN_INF"]
UNARY_OPS = ["Relu", "Neg", "Sigmoid", "Tanh"]
BINARY_OPS = ["Add", "Sub", "Mul", "Max", "Min"]


# --------------------------------------------------------------------------------------------------
# the generated model


@dataclasses.dataclass
class Spec:
    """A generated model: ONNX nodes, float32 initializers, inputs (name -> per-event shape and
    input type) and the output tensor names (in order)."""

    nodes: list
    inits: dict
    inputs: dict
    input_types: dict
    outputs: list
    shapes: dict
    seed: int | None = None   # build(seed) rebuilds this model

    def model(self) -> onnx.ModelProto:
        """The ONNX model (opset 17, dynamic batch axis)."""
        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", *s]) for n, s in self.inputs.items()]
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["batch", *self.shapes[o]]) for o in self.outputs]
        inits = [numpy_helper.from_array(v, k) for k, v in self.inits.items()]
        graph = helper.make_graph(self.nodes, "fuzz", ins, outs, initializer=inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="equihls-fuzz")
        m.ir_version = 8
        return m

    def names(self) -> set:
        """Everything a refusal may name: nodes, ops, tensors, constants, inputs."""
        out = set(self.inits) | set(self.inputs) | set(self.shapes)
        for n in self.nodes:
            out |= {n.name, n.op_type}
        return out

    def __str__(self) -> str:
        lines = [f"build({self.seed}): inputs: " + ", ".join(f"{n}[batch,{','.join(map(str, s))}] {self.input_types[n]}"
                                         for n, s in self.inputs.items())]
        for n in self.nodes:
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
            lines.append(f"  {n.name}: {n.op_type}({', '.join(n.input)}){attrs or ''} -> {n.output[0]}"
                         f"{list(self.shapes.get(n.output[0], ()))}")
        for k, v in self.inits.items():
            if v.dtype == np.float32:
                flat = np.array2string(v.reshape(-1), precision=6, max_line_width=200)
                lines.append(f"  const {k}{list(v.shape)} = {flat}")
            else:
                lines.append(f"  const {k} = {v.tolist()}")
        lines.append(f"outputs: {self.outputs}")
        return "\n".join(lines)


class _Builder:
    """Grows a Spec one op at a time; tensors are named t<k>, constants c<k>, nodes n<k>_<Op>.

    Every choice comes from a numpy generator seeded by one hypothesis draw: at ~15 s of g++ per
    example, diverse graphs matter more than hypothesis' shrinking (off in CI anyway), and the
    failing graph is printed in full."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.shapes, self.runtime, self.inputs = [], {}, {}, [], {}
        self.target = 5   # number of nodes to build

    def int(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi, endpoint=True))

    def bool(self) -> bool:
        return bool(self.rng.integers(0, 2))

    def choice(self, options):
        return options[self.int(0, len(options) - 1)]

    def const(self, arr, dtype=np.float32) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = np.asarray(arr, dtype=dtype)
        return name

    def node(self, op, inputs, shape, **attrs) -> str:
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"n{len(self.nodes)}_{op}", **attrs))
        self.shapes[out] = tuple(int(d) for d in shape)
        self.runtime.append(out)
        return out

    def pick(self, pred=lambda s: True):
        """A runtime tensor (mostly the newest, so ops chain) whose per-event shape satisfies pred."""
        ok = [t for t in self.runtime if pred(self.shapes[t])]
        if not ok:
            return None
        return ok[-1] if self.int(0, 9) < 7 else self.choice(ok)


def constants(b, shape, nonzero=False) -> np.ndarray:
    """float32 constants of `shape`: one log-uniform magnitude 1e-6..1e4 per tensor (entries within
    a decade of it) or per entry, random signs, some exact zeros and exact powers of two."""
    rng = b.rng
    n = int(np.prod(shape, dtype=np.int64))
    if b.int(0, 2):
        expo = rng.uniform(-5, 4) - rng.uniform(0, 1, n)
    else:
        expo = rng.uniform(-6, 4, n)
    v = 10.0 ** expo * rng.choice([-1.0, 1.0], n)
    special = b.choice(["none", "zeros", "pow2", "both"])
    if special in ("pow2", "both"):
        m = rng.random(n) < 0.4
        v[m] = np.sign(v[m]) * 2.0 ** np.round(np.log2(np.abs(v[m])))
    if special in ("zeros", "both") and not nonzero:
        v[rng.random(n) < 0.3] = 0.0
    return v.astype(np.float32).reshape(shape)


def _broadcastable_shape(b, shape) -> tuple:
    """A constant shape that broadcasts onto [batch, *shape] without changing it: a suffix of
    shape (possibly with a leading batch-1 axis), some dims set to 1."""
    full = (1, *shape)
    k = b.int(0, len(full))
    suffix = list(full[len(full) - k:])
    return tuple(1 if b.int(0, 2) == 0 else d for d in suffix)


# one function per op family; each returns the new output tensor or None when it does not apply
def op_matmul(b):
    x = b.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    k, h = b.shapes[x][-1], b.int(1, 4)
    y = b.node("MatMul", [x, b.const(constants(b, (k, h)))], (*b.shapes[x][:-1], h))
    if len(b.nodes) < b.target and b.bool():   # a bias: along the last axis or another one
        s = b.shapes[y]
        options = [(h,), (1, h), ()]
        if len(s) >= 2:
            options += [(s[-2], 1), (s[-2], h)]
        bs = b.choice(options)
        y = b.node("Add", [y, b.const(constants(b, bs))], s)
    return y


def op_gemm(b):
    x = b.pick(lambda s: len(s) == 1)
    if x is None:
        return None
    k, h = b.shapes[x][0], b.int(1, 4)
    trans = b.bool()
    w = b.const(constants(b, (h, k) if trans else (k, h)))
    alpha = float(np.float32(b.choice([1.0, 0.5, 3.0, 1e-3])))
    ins = [x, w]
    if b.bool():
        ins.append(b.const(constants(b, b.choice([(h,), (1, h)]))))
    return b.node("Gemm", ins, (h,), transB=int(trans), alpha=alpha, beta=1.0)


def op_binary(b):
    op = b.choice(BINARY_OPS)
    x = b.pick()
    if x is None:
        return None
    s = b.shapes[x]
    if b.bool():
        c = b.const(constants(b, _broadcastable_shape(b, s)))
        ins = [c, x] if b.bool() else [x, c]
        return b.node(op, ins, s)
    # runtime tensors all carry the batch axis: only equal ranks broadcast without moving it
    partners = [t for t in b.runtime if len(b.shapes[t]) == len(s) and _broadcast(b.shapes[t], s) is not None]
    y = partners[b.int(0, len(partners) - 1)]
    return b.node(op, [x, y] if b.bool() else [y, x], _broadcast(b.shapes[y], s))


def _broadcast(a, s):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(s)))
    except ValueError:
        return None


def op_div(b):
    x = b.pick()
    if x is None:
        return None
    return b.node("Div", [x, b.const(constants(b, _broadcastable_shape(b, b.shapes[x]), nonzero=True))],
                  b.shapes[x])


def op_reduce(b):
    x = b.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = b.shapes[x]
    axes = sorted(int(a) for a in b.rng.choice(np.arange(1, len(s) + 1), b.int(1, len(s)), replace=False))
    if b.bool():   # negative axes are valid too
        axes = [a - len(s) - 1 for a in axes]
    keep = b.bool()
    pos = [a % (len(s) + 1) for a in axes]
    out = tuple(1 if i + 1 in pos else d for i, d in enumerate(s)) if keep else \
        tuple(d for i, d in enumerate(s) if i + 1 not in pos)
    if b.bool():
        return b.node("ReduceSum", [x, b.const(np.array(axes), np.int64)], out, keepdims=int(keep))
    return b.node("ReduceMean", [x], out, axes=axes, keepdims=int(keep))


def op_unary(b):
    x = b.pick()
    return None if x is None else b.node(b.choice(UNARY_OPS), [x], b.shapes[x])


def op_reshape(b):
    x = b.pick()
    if x is None:
        return None
    n = int(np.prod(b.shapes[x], dtype=np.int64))
    dims, rest = [], n
    for _ in range(b.int(0, 2)):
        f = [d for d in range(1, rest + 1) if rest % d == 0]
        d = f[b.int(0, len(f) - 1)]
        dims.append(d)
        rest //= d
    dims.append(rest)
    return b.node("Reshape", [x, b.const(np.array([-1, *dims]), np.int64)], dims)


def op_transpose(b):
    x = b.pick(lambda s: len(s) >= 2)
    if x is None:
        return None
    s = b.shapes[x]
    perm = [int(p) for p in b.rng.permutation(np.arange(1, len(s) + 1))]
    return b.node("Transpose", [x], [s[p - 1] for p in perm], perm=[0, *perm])


def op_slice(b):
    x = b.pick(lambda s: any(d >= 2 for d in s))
    if x is None:
        return None
    s = list(b.shapes[x])
    ax = b.choice([i for i, d in enumerate(s) if d >= 2])
    d = s[ax]
    start = b.int(0, d - 1)
    end = b.int(start + 1, d)
    step = b.choice([1, 1, 2])
    s[ax] = len(range(start, end, step))
    ins = [x, b.const(np.array([start]), np.int64), b.const(np.array([end]), np.int64),
           b.const(np.array([ax + 1]), np.int64), b.const(np.array([step]), np.int64)]
    return b.node("Slice", ins, s)


def op_concat(b):
    x = b.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = b.shapes[x]
    ax = b.int(0, len(s) - 1)
    same = lambda t: len(t) == len(s) and all(a == c for i, (a, c) in enumerate(zip(t, s)) if i != ax)  # noqa: E731
    partners = [t for t in b.runtime if same(b.shapes[t])]
    y = partners[b.int(0, len(partners) - 1)]
    out = list(s)
    out[ax] += b.shapes[y][ax]
    return b.node("Concat", [x, y] if b.bool() else [y, x], out, axis=ax + 1)


def op_unsqueeze(b):
    x = b.pick(lambda s: len(s) <= 3)
    if x is None:
        return None
    s = list(b.shapes[x])
    ax = b.int(1, len(s) + 1)
    s.insert(ax - 1, 1)
    return b.node("Unsqueeze", [x, b.const(np.array([ax]), np.int64)], s)


def op_squeeze(b):
    x = b.pick(lambda s: 1 in s and len(s) >= 2)
    if x is None:
        return None
    s = list(b.shapes[x])
    ax = b.choice([i for i, d in enumerate(s) if d == 1])
    del s[ax]
    return b.node("Squeeze", [x, b.const(np.array([ax + 1]), np.int64)], s)


def op_gram(b):
    x = b.pick(lambda s: len(s) == 2)
    if x is None:
        return None
    n = b.shapes[x][0]
    return b.node("Einsum", [x, x], (n, n), equation="bid,bjd->bij")


OPS = [op_matmul, op_gemm, op_binary, op_div, op_reduce, op_unary, op_reshape, op_transpose, op_slice,
       op_concat, op_unsqueeze, op_squeeze, op_gram]


def input_type(b) -> str:
    """ap_fixed<W,I,Q,O>: 8..20 bits (so the input port alone costs < 1% of an input's spread),
    integer bits -2..W, any rounding mode, wrap or saturate."""
    w = b.int(8, 20)
    return f"ap_fixed<{w},{b.int(-2, w)},{b.choice(ROUNDINGS)},{b.choice(['AP_WRAP', 'AP_SAT'])}>"


def build(seed: int) -> Spec:
    """A random valid model of 1-5 nodes (see module doc) from `seed`. Two inputs are first combined
    by a broadcasting binary op; the outputs are the newest tensor and up to two other tensors
    nobody reads, in random order."""
    b = _Builder(seed)
    x0 = tuple(b.int(1, 4) for _ in range(b.int(1, 3)))
    b.inputs["x0"] = x0
    if b.int(0, 3) == 0:
        # same rank as x0 (both carry the batch axis), some axes 1: broadcasts onto x0
        b.inputs["x1"] = x0 if b.bool() else tuple(1 if b.int(0, 2) == 0 else d for d in x0)
    for n, s in b.inputs.items():
        b.shapes[n] = s
        b.runtime.append(n)
    in_type = input_type(b)   # compile_model's --input-type is one type for every input
    if "x1" in b.inputs:
        ins = ["x0", "x1"] if b.bool() else ["x1", "x0"]
        b.node(b.choice(BINARY_OPS), ins, _broadcast(b.inputs["x0"], b.inputs["x1"]))
    b.target = b.choice([1, 2, 3, 3, 4, 4, 5, 5, 5])
    while len(b.nodes) < b.target:
        b.choice(OPS)(b)
    read = {i for n in b.nodes for i in n.input}
    leaves = [t for t in b.runtime[:-1] if t not in b.inputs and t not in read]
    outputs = [b.runtime[-1]] + [leaves[k] for k in b.rng.permutation(len(leaves))[:b.int(0, 2)]]
    outputs = [outputs[k] for k in b.rng.permutation(len(outputs))]
    return Spec(b.nodes, b.inits, dict(b.inputs), {n: in_type for n in b.inputs}, outputs, dict(b.shapes), seed)


def graphs():
    """The hypothesis strategy: one 63-bit seed per example (see _Builder)."""
    return st.integers(0, 2**63 - 1).map(build)


# --------------------------------------------------------------------------------------------------
# the property


def run_case(spec: Spec, work: str) -> dict:
    """Compile one generated model and judge it. Returns {'verdict': 'refused'|'ok'|'float_overflow',
    ...}; raises AssertionError (with the graph) on a violation of the property."""
    model = spec.model()
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(work, "fuzz.onnx")
    onnx.save(model, path)
    specs = {n: (FixedType.parse(spec.input_types[n]), s) for n, s in spec.inputs.items()}
    xs = raw_inputs(specs, N_EVENTS, seed=0)
    ref = onnxruntime_float(path, xs)   # the model must run in ONNX Runtime (valid by construction)
    if not all(np.all(np.isfinite(v)) for v in ref.values()):
        return {"verdict": "float_overflow"}   # the float model itself overflows float32: nothing to compare
    np.savez(os.path.join(work, "samples.npz"), **xs)
    out = os.path.join(work, "p")
    try:
        with capture_precision() as seen:
            project.compile_model(path, output_dir=out, input_type=spec.input_types["x0"],
                                  samples=os.path.join(work, "samples.npz"), log=lambda *a: None)
    except EquihlsError as e:
        msg = str(e)
        named = [n for n in spec.names() if re.search(rf"(?<![\w/]){re.escape(n)}(?!\w)", msg)]
        named += ["--option"] if re.search(r"--[a-z]", msg) else []
        assert named, f"refusal names nothing of the model: {type(e).__name__}: {msg}\n{spec}"
        return {"verdict": "refused", "error": type(e).__name__, "message": msg.splitlines()[0][:300]}
    except Exception as e:   # noqa: BLE001 - any other exception is a crash, the property fails
        raise AssertionError(f"compile crashed with {type(e).__name__}: {e}\n{spec}") from e
    assert seen, "compile_model no longer calls equihls.precision.infer.infer: update tests/fidelity.capture_precision"
    g, prec = seen[-1]
    rep = check_project(out, path, g, prec, xs)
    bad = {o: r for o, r in rep.items() if r["twin_mismatches"]}
    assert not bad, f"C-sim != twin on {sorted(bad)}\n{spec}"
    bad = {o: r["fidelity"] for o, r in rep.items() if not r["fidelity"]["passed"]}
    assert not bad, f"compiled, but C-sim does not reproduce ONNX Runtime (silent miscompile): {bad}\n{spec}"
    return {"verdict": "ok", "fidelity": {o: r["fidelity"] for o, r in rep.items()}}


def _settings():
    return settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                    print_blob=False)


@hypothesis.seed(FUZZ_SEED)
@_settings()
@given(spec=graphs())
@pytest.mark.gxx
def test_fuzz_compile_refuses_or_reproduces_float(spec):
    """Random graphs of supported ops: a clear refusal, or C-sim == twin and C-sim ~ ONNX Runtime."""
    with tempfile.TemporaryDirectory(prefix="equihls_fuzz_") as work:
        verdict = run_case(spec, work)["verdict"]
    hypothesis.assume(verdict != "float_overflow")   # float32 itself overflows: not a valid example


def _unlowered_op() -> Spec:
    """sin(x) on [batch, 2, 2]: an op equihls has no lowering for (README op table)."""
    node = helper.make_node("Sin", ["x0"], ["t0"], name="n0_Sin")
    return Spec([node], {}, {"x0": (2, 2)}, {"x0": "ap_fixed<12,4>"}, ["t0"], {"x0": (2, 2), "t0": (2, 2)})


def test_fuzz_judges_refusals_and_crashes(tmp_path, monkeypatch):
    """The property's other branches, without g++: a refusal naming the node passes; a refusal
    naming nothing of the model, and any non-EquihlsError exception, fail it."""
    from equihls.errors import UnsupportedNodeError

    r = run_case(_unlowered_op(), str(tmp_path))
    assert r["verdict"] == "refused" and "n0_Sin" in r["message"], r

    def vague(*a, **k):
        raise UnsupportedNodeError(type("N", (), {"name": "?", "op": "?"})(), "something is wrong")

    monkeypatch.setattr(project, "compile_model", vague)
    with pytest.raises(AssertionError, match="refusal names nothing of the model"):
        run_case(_unlowered_op(), str(tmp_path))

    def crash(*a, **k):
        raise KeyError("t0")

    monkeypatch.setattr(project, "compile_model", crash)
    with pytest.raises(AssertionError, match="compile crashed with KeyError"):
        run_case(_unlowered_op(), str(tmp_path))


def test_fidelity_criterion_fails_constant_biased_and_uncorrelated_outputs():
    """tests/fidelity.measure: 1% noise passes; a constant output, a 10%-of-spread offset and a
    shuffled (uncorrelated) output fail; a float-constant element must stay within 5% of itself."""
    from tests.fidelity import measure

    rng = np.random.default_rng(0)
    f = rng.normal(3.0, 1.0, size=(64, 4))
    assert measure(f + 0.01 * rng.normal(size=f.shape), f)["passed"]
    assert not measure(np.full_like(f, 3.0), f)["passed"]
    assert not measure(f + 0.1, f)["passed"]
    assert not measure(rng.permutation(f), f)["passed"]
    g = np.concatenate([f, np.full((64, 1), 256.0)], axis=1)
    ok, bad = g.copy(), g.copy()
    ok[:, 4], bad[:, 4] = 250.0, 240.0
    assert measure(ok, g)["passed"] and not measure(bad, g)["passed"]
    z = np.concatenate([f, np.zeros((64, 1))], axis=1)
    tiny = z.copy()
    tiny[:, 4] = 1e-9
    assert measure(z, z)["passed"] and not measure(tiny, z)["passed"]

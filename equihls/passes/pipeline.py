"""THE pass order: every check and rewrite from the ONNX file to the lowered IR, in stage groups.

    READ              the file's model: nodes, ONNX checker, opset
    SOURCE            unique node names (both the IR and the float reference start from this model)
    ONNX_CHECKS       refusals of graph ports equihls cannot compile
    ONNX_REWRITES     batch axis 1, QONNX Quant -> Cast, Identity/Dropout dropped
    ONNX_FOLDING      shape inference, constant folding, If on a constant inlined, to a fixed point
    ONNX_SHAPES       control flow left refused; shapes after folding, TensorFlow's tensordot unflattened
    IMPORT            ONNX -> IR nodes and shapes, with the refusals that need them
    RECOGNITION       standard-op subgraphs -> equihls ops, to a fixed point
    LOWERING          remaining standard ops -> equihls blocks, to a fixed point
    CLEANUP           routes elided, CG scales, constant factors and symmetric pairs folded, to a fixed point
    REFUSAL           every node left must be an equihls block
and, for the float reference that ONNX Runtime runs (not compiled):
    REFERENCE         batch axis fixed in the file made dynamic, float16 computed in float32

The ONNX groups run on a frontend.onnx_import.OnnxState, the others on the IR Graph; manager.py
runs each group (fixed point with a cap, pass log, Graph.verify after each pass under tests).
The pass log (the manifest's `passes`) lists, in order, each pass that changed something.
"""
from __future__ import annotations

from ..frontend import onnx_import as fe
from ..frontend.source import read_model
from ..ir import Graph
from .lower.decompose import decompose
from .lower.einsum import lower_einsum, matmul_as_einsum
from .lower.exact import lower_exact
from .lower.indices import lower_scatter_add
from .lower.linear import fuse_bias_into_dense, lower_gemm, lower_matmul_const
from .lower.ops import elide_identity_routes, lower_elementwise, lower_reductions, lower_routing, lower_unary
from .lower.tables import lower_tables
from .manager import Group, run_group, verifying
from .optimize.fold_pairs import fold_symmetric_pairs
from .optimize.fold_scales import fold_cg_scales, fold_constant_factors
from .recognize.scalars import recognize_psi, recognize_scalar_products
from .recognize.tensor_products import recognize_tensor_products
from .refuse import refuse_unlowered

READ = Group("READ", [fe.check_onnx])
SOURCE = Group("SOURCE", [fe.unique_node_names])
ONNX_CHECKS = Group("ONNX_CHECKS", [fe.check_graph_ports])
ONNX_REWRITES = Group("ONNX_REWRITES", [fe.fix_batch, fe.quant_to_casts, fe.drop_passthrough])
# folding can expose new static shapes (a Shape of a now-static tensor): infer again, fold again
ONNX_FOLDING = Group("ONNX_FOLDING", [fe.infer_shapes, fe.fold_constants, fe.inline_constant_ifs],
                     fixed_point=True)
ONNX_SHAPES = Group("ONNX_SHAPES", [fe.refuse_subgraphs, fe.infer_shapes, fe.unflatten_tensordot, fe.equihls_shapes])
IMPORT = Group("IMPORT", [fe.ir_nodes, fe.unique_ir_names, fe.check_outputs, fe.check_const_values,
                          fe.check_tensor_shapes])
REFERENCE = Group("REFERENCE", [fe.unique_node_names, fe.free_fixed_batch, fe.float16_to_float32])


def _ir_group(name, passes):
    """An IR group run to a fixed point, dead nodes dropped after each change, verified under tests."""
    return Group(name, passes, fixed_point=True, after=Graph.remove_dead, verify=Graph.verify)


# scalar products first: their Einsum forms (rank-1 metric operand) must not become Bilinear
RECOGNITION = _ir_group("RECOGNITION", [recognize_scalar_products, recognize_tensor_products, recognize_psi])
LOWERING = _ir_group("LOWERING", [lower_gemm, lower_matmul_const, decompose, fuse_bias_into_dense, lower_unary,
                                  lower_tables, lower_elementwise, lower_reductions, lower_exact, lower_routing,
                                  lower_scatter_add, matmul_as_einsum, lower_einsum])
CLEANUP = _ir_group("CLEANUP", [elide_identity_routes, fold_cg_scales, fold_constant_factors,
                                fold_symmetric_pairs])
REFUSAL = Group("REFUSAL", [refuse_unlowered])


def stages() -> list[Group]:
    """Every group of the compile, in order (REFERENCE, a side branch, not included)."""
    return [READ, SOURCE, ONNX_CHECKS, ONNX_REWRITES, ONNX_FOLDING, ONNX_SHAPES, IMPORT,
            RECOGNITION, LOWERING, CLEANUP, REFUSAL]


def load(path: str):
    """Read the ONNX file at `path`: (IR graph with its frontend pass log in g.pass_log, the
    float reference model). READ and SOURCE, then the import and the REFERENCE branch."""
    st = fe.OnnxState(read_model(path), path)
    log = []
    for group in (READ, SOURCE):
        run_group(group, st, log)
    g = import_onnx(st.model, path, log)
    ref = reference(st.model, log)
    g.pass_log = log
    return g, ref


def import_onnx(model, path: str, log: list) -> Graph:
    """ONNX_CHECKS to IMPORT on `model`: the IR graph (verified when verification is on)."""
    st = fe.OnnxState(model, path)
    with fe.fixed_batch_hint(model):
        for group in (ONNX_CHECKS, ONNX_REWRITES, ONNX_FOLDING, ONNX_SHAPES, IMPORT):
            run_group(group, st, log)
    g = fe.to_graph(st)
    if verifying():
        g.verify()
    return g


def reference(model, log: list):
    """The REFERENCE branch on `model`: the model ONNX Runtime runs as the float reference."""
    st = fe.OnnxState(model)
    run_group(REFERENCE, st, log)
    return st.model


def run_ir(g: Graph, log: list) -> list:
    """RECOGNITION, LOWERING, CLEANUP, then REFUSAL on the IR graph. Returns `log`."""
    for group in (RECOGNITION, LOWERING, CLEANUP, REFUSAL):   # looked up at call time (tests swap one)
        run_group(group, g, log)
    return log

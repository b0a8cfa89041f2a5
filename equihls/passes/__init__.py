"""Graph passes. Each pass is a function `pass_(graph) -> bool` (True if it changed the graph)
with one concern; pipeline.py declares the order of every pass (the frontend's too) and
manager.py runs them; `run_all` runs the IR part of the pipeline."""
from .optimize.fold_pairs import fold_symmetric_pairs
from .optimize.fold_scales import fold_cg_scales
from .lower.linear import fuse_bias_into_dense, lower_gemm, lower_matmul_const
from .lower.ops import elide_identity_routes, lower_elementwise, lower_reductions, lower_routing, lower_unary
from .recognize.scalars import recognize_psi, recognize_scalar_products
from .refuse import refuse_unlowered
from .recognize.tensor_products import recognize_tensor_products
from . import pipeline
from .pipeline import CLEANUP, LOWERING, RECOGNITION

__all__ = ["pipeline", "run_all", "RECOGNITION", "LOWERING", "CLEANUP", "recognize_scalar_products",
           "recognize_tensor_products", "recognize_psi", "lower_gemm", "lower_matmul_const", "fuse_bias_into_dense",
           "lower_unary", "lower_elementwise", "lower_reductions", "lower_routing", "elide_identity_routes",
           "fold_cg_scales", "fold_symmetric_pairs", "refuse_unlowered"]


def run_all(g, log=None):
    """Recognition, lowering and cleanup, each to a fixed point, then the refusal check.
    Returns the pass log: `log` (a new list if None) extended with the frontend passes that
    changed the model `g` came from (g.pass_log), then with the IR passes that changed `g`."""
    log = [] if log is None else log
    log.extend(g.pass_log)
    return pipeline.run_ir(g, log)

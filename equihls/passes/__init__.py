"""Graph passes. Each pass is a function `pass_(graph) -> bool` (True if it changed the graph)
with one concern; `run_all` applies them in order, to a fixed point where that matters."""
from .optimize.fold_pairs import fold_symmetric_pairs
from .optimize.fold_scales import fold_cg_scales
from .lower.linear import fuse_bias_into_dense, lower_gemm, lower_matmul_const
from .lower.ops import elide_identity_routes, lower_elementwise, lower_reductions, lower_routing, lower_unary
from .recognize.scalars import recognize_psi, recognize_scalar_products
from .refuse import refuse_unlowered
from .recognize.tensor_products import recognize_tensor_products

# scalar products first: their Einsum forms (rank-1 metric operand) must not become Bilinear
RECOGNITION = [recognize_scalar_products, recognize_tensor_products, recognize_psi]
LOWERING = [lower_gemm, lower_matmul_const, fuse_bias_into_dense, lower_unary, lower_elementwise,
            lower_reductions, lower_routing]
CLEANUP = [elide_identity_routes, fold_cg_scales, fold_symmetric_pairs]


def run_all(g, log=None):
    """Recognition to a fixed point, then lowering, then the refusal check. Returns the pass log."""
    log = [] if log is None else log
    for group in (RECOGNITION, LOWERING, CLEANUP):
        changed = True
        while changed:
            changed = False
            for p in group:
                if p(g):
                    log.append(p.__name__)
                    g.remove_dead()
                    changed = True
    refuse_unlowered(g)
    return log

"""The equihls IP-block models: one module per block (see base.Block); each class registers itself
in BLOCKS when its module is imported. Importing them here, in this order, fixes the registry
(and the hls4ml layer registration) order."""
from . import scalar_products, dense, eltwise, route, reduce, unary, lut, bilinear, select  # noqa: F401  (registration)
from .base import BLOCKS, block_for, block_or_none

__all__ = ["BLOCKS", "block_for", "block_or_none"]

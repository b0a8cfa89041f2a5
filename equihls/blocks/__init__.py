"""Registry of equihls IP-block models (op name -> Block instance)."""
from .bilinear import Bilinear
from .dense import Dense
from .eltwise import Eltwise
from .lut import LUT
from .reduce import ReduceSum
from .route import Concat2, Route
from .scalar_products import ScalarProducts
from .unary import Unary

BLOCKS = {b.op: b for b in (ScalarProducts(), Dense(), Eltwise(), Route(), Concat2(), ReduceSum(), Unary(), LUT(),
                            Bilinear())}


def block_for(node):
    """The Block model of an equihls node."""
    return BLOCKS[node.op]

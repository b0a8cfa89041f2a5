"""hls4ml extension: one registered Layer class per equihls block, an ONNX handler for the
equihls domain ops, generic config/function templates, and our IP-block headers as sources.

The equihls ONNX graph given to hls4ml has only equihls nodes. Each carries its output shape and
type, its constant operands (exact dyadic values + types) and the C++ config body and call text
prepared by the block models, so hls4ml only names variables and writes the project.
"""
from __future__ import annotations

import os

import numpy as np

from ..blocks import BLOCKS
from ..errors import EquihlsError
from ..ir.fixedpoint import FixedType


def _ip_dir() -> str:
    """The IP-block headers: equihls/ip_blocks/ in an installed wheel (the data package
    equihls.ip_blocks), else the repository's top-level ip_blocks/ (source tree, editable install)."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = (os.path.join(pkg, "ip_blocks"), os.path.join(os.path.dirname(pkg), "ip_blocks"))
    return next((d for d in candidates if os.path.isdir(d)), candidates[-1])


IP_DIR = _ip_dir()
HLS_OP_PREFIX = "Equi"
_registered = False


def hls_precision(t: FixedType):
    """hls4ml precision object for a FixedType."""
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    return FixedPrecisionType(width=t.width, integer=t.integer, signed=t.signed,
                              rounding_mode=RoundingMode.from_string(t.rounding),
                              saturation_mode=SaturationMode.from_string(t.overflow))


def _layer_base():
    from hls4ml.model.layers import Layer

    class EquiLayer(Layer):
        """An equihls IP block inside an hls4ml ModelGraph."""

        def initialize(self):
            shape = [int(s) for s in self.get_attr("out_shape")]
            self.add_output_variable(shape, precision=hls_precision(FixedType.parse(self.get_attr("out_type"))))
            for k in self.get_attr("weight_slots", []):
                t = FixedType.parse(self.get_attr(f"w{k}_type"))
                self.add_weights_variable(name=f"w{k}", var_name=f"w{k}_{{index}}", type_name=f"w{k}_{{index}}_t",
                                          precision=hls_precision(t), data=np.asarray(self.get_attr(f"w{k}_data")))

    return EquiLayer


def _templates(layer_classes):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    class EquiConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(tuple(layer_classes))

        def format(self, node):
            return f"struct config{node.index} {{\n{node.get_attr('cpp_config')}}};\n"

    class EquiFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(tuple(layer_classes), include_header=[])

        def transform(self, model, node):
            node.set_attr("include_header", [f"nnet_utils/{node.get_attr('header')}"])
            node.set_attr("function_cpp", self.format(node))
            return False

        def format(self, node):
            fill = {"config": f"config{node.index}", "out": node.get_output_variable().name,
                    "out_t": node.get_output_variable().type.name}
            runtime = iter(node.inputs)
            for k, kind in enumerate(node.get_attr("operand_kinds")):
                if kind == "w":
                    w = node.weights[f"w{k}"]
                    fill[f"in{k}"], fill[f"in{k}_t"] = w.name, w.type.name
                elif kind == "r":
                    v = node.get_input_variable(next(runtime))
                    fill[f"in{k}"], fill[f"in{k}_t"] = v.name, v.type.name
            return node.get_attr("cpp_call").format(**fill)

    return EquiConfigTemplate, EquiFunctionTemplate


def _onnx_handler(node, input_names, input_shapes, graph):
    """hls4ml ONNX handler for equihls-domain nodes: attributes -> layer dict."""
    from onnx import helper, numpy_helper

    layer = {"class_name": node.op_type, "name": node.name,
             "inputs": list(input_names), "outputs": list(node.output)}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if a.type == a.TENSOR:
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        layer[a.name] = v
    return layer


def register():
    """Register equihls layers, handlers, templates and headers with hls4ml (idempotent)."""
    global _registered
    if _registered:
        return
    import hls4ml
    from hls4ml.converters.onnx_to_hls import register_onnx_layer_handler
    from hls4ml.model.layers import register_layer

    base = _layer_base()
    classes = []
    for op in BLOCKS:
        cls = type(HLS_OP_PREFIX + op, (base,), {})
        register_layer(cls.__name__, cls)
        register_onnx_layer_handler(HLS_OP_PREFIX + op, _onnx_handler)
        classes.append(cls)
    cfg, fn = _templates(classes)
    for name in ("Vivado", "Vitis"):
        backend = hls4ml.backends.get_backend(name)
        backend.register_template(cfg)
        backend.register_template(fn)
        for h in sorted(os.listdir(IP_DIR)):
            if h.endswith(".h"):
                backend.register_source(os.path.join(IP_DIR, h))
    _registered = True


def set_initiation_interval(project_dir: str, top: str, ii: int, mul_limit: int):
    """Ask Vitis HLS for a new event every `ii` cycles: the top function's `#pragma HLS PIPELINE`
    gets II=ii and, for ii > 1, `#pragma HLS ALLOCATION operation instances=mul limit=mul_limit`
    (the estimate's shared multipliers; every block is inlined into the top function, so the limit
    covers all of them, as hls4ml's per-layer limit does for one layer). ii = 1 leaves the file as
    hls4ml wrote it. The C simulation does not change: these are pragmas only."""
    if ii == 1:
        return
    path = os.path.join(project_dir, "firmware", f"{top}.cpp")
    with open(path) as f:
        text = f.read()
    old = "    #pragma HLS PIPELINE\n"
    if text.count(old) != 1:
        raise EquihlsError(f"internal error: {path} has {text.count(old)} '#pragma HLS PIPELINE' lines (expected 1)")
    new = f"    #pragma HLS PIPELINE II={ii}\n    #pragma HLS ALLOCATION operation instances=mul limit={mul_limit}\n"
    with open(path, "w") as f:
        f.write(text.replace(old, new))

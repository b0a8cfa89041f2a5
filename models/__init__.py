"""Bundled reference models and data generators for ``equihls``.

ZOO lists every reference model with the options its card compiles it with: name ->
{onnx, samples, input_type, types (tensor -> type overrides)}.
"""
import os as _os

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def _entry(folder, onnx, input_type, types=None):
    return {"onnx": _os.path.join(_HERE, folder, onnx), "samples": _os.path.join(_HERE, folder, "samples.npz"),
            "input_type": input_type, "types": dict(types or {})}


ZOO = {
    "deepsets_pairs": _entry("deepsets_pairs", "deepsets_pairs.onnx", "ap_fixed<16,12>"),
    "so3_cg": _entry("so3_cg", "so3_cg.onnx", "ap_fixed<16,6>", {"y": "ap_fixed<20,8,AP_RND_CONV>"}),
    "so3_cg_l2": _entry("so3_cg", "so3_cg_l2.onnx", "ap_fixed<16,6>", {"y": "ap_fixed<20,8,AP_RND_CONV>"}),
    "pelican_nano": _entry("pelican_nano", "pelican_nano.onnx", "ap_fixed<18,12,AP_RND,AP_SAT>"),
    "pelican_nano_qat": _entry("pelican_nano_qat", "pelican_nano_qat.onnx", "ap_fixed<18,12,AP_RND,AP_SAT>"),
    # the coordinate-update product (x_i - x_j) * tanh(phi_x(m_ij)) kept at its exact width
    # <19,13> x <12,2> = <31,15>: rounded (the compiler's default for a product of two runtime
    # tensors) it breaks the exact Lorentz equivariance of x' (models/lorentznet_lite/README.md)
    "lorentznet_lite": _entry("lorentznet_lite", "lorentznet_lite.onnx", "ap_fixed<18,12,AP_RND,AP_SAT>",
                              {"/Mul_11_output_0": "ap_fixed<31,15>"}),
}

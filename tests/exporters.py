"""torch.onnx.export with either exporter, as the tests that run both call it: a dynamic batch axis
on every input (dynamic_shapes for dynamo=True, dynamic_axes for the TorchScript exporter, opset 17),
no deprecation noise from the TorchScript one (used on purpose)."""
import warnings

import pytest
import torch

# parametrize a test over both exporters (the dynamo case takes seconds: slow where the test is fast)
EXPORTERS = pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
EXPORTERS_SLOW_DYNAMO = pytest.mark.parametrize("dynamo", [pytest.param(True, marks=pytest.mark.slow), False],
                                                ids=["dynamo", "torchscript"])


def export(model, args, path: str, dynamo: bool, input_names=("x",), output_names=("y",)) -> str:
    """Export `model` (eval mode) on example `args` (a tuple of [B, ...] tensors) to `path`."""
    ins, outs = list(input_names), list(output_names)
    if dynamo:
        torch.onnx.export(model, args, path, dynamo=True, input_names=ins, output_names=outs,
                          dynamic_shapes=tuple({0: torch.export.Dim("batch")} for _ in ins))
        return path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, path, dynamo=False, opset_version=17, input_names=ins, output_names=outs,
                          dynamic_axes={k: {0: "batch"} for k in ins + outs})
    return path

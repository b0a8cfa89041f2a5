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


def export(model, args, path: str, dynamo: bool, input_names=("x",), output_names=("y",), opset: int | None = 17,
           external_data: bool = False) -> str:
    """Export `model` (eval mode) on example `args` (a tuple of [B, ...] tensors) to `path`.
    opset: the TorchScript exporter's opset (None: its default, as a user who names none gets);
    external_data: dynamo writes the weights to `path`.data (as it does by default for large models)."""
    ins, outs = list(input_names), list(output_names)
    if dynamo:
        torch.onnx.export(model, args, path, dynamo=True, input_names=ins, output_names=outs,
                          dynamic_shapes=tuple({0: torch.export.Dim("batch")} for _ in ins),
                          **({"external_data": True} if external_data else {}))
        return path
    kw = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, path, dynamo=False, input_names=ins, output_names=outs,
                          dynamic_axes={k: {0: "batch"} for k in ins + outs}, **kw)
    return path

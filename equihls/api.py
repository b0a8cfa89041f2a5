"""The public Python API: compile a model, load a project, run it, certify it, report on it.

    import equihls
    p = equihls.compile("model.onnx", target="vu9p", output_dir="prj",
                        input_type="ap_fixed<18,12,AP_RND,AP_SAT>", samples="samples.npz")
    y = p.predict(x)              # bit-accurate C simulation, numpy in and out
    cert = p.check()              # equivariance certificate (also DIR/equihls_check.json)
    print(p.report())

The command line (equihls.cli) calls these same functions; errors are the EquihlsError
subclasses of equihls.errors, with the messages the CLI prints after 'equihls: error:'.
"""
from __future__ import annotations

import os
import re
import tempfile

from . import driver
from .driver import CompileOptions
from .errors import ModelError, OptionError
from .project import Project

__all__ = ["compile", "load", "CompileOptions", "Project"]

# the Python spellings of options the CLI repeats (--type T=..., --accum-type N=...)
_ALIASES = {"types": "type_overrides", "accum_types": "accum_overrides"}


def compile(model, target: str = "vu9p", output_dir: str | None = None, log=None, **options) -> Project:
    """Compile `model` into a self-checked HLS project for `target`; returns the loaded Project.

    Args:
        model: an ONNX file path, or an onnx.ModelProto (compiled from a temporary file named
            after its graph, e.g. '<graph name>.onnx'; the manifest records that name).
        target: FPGA target name (`equihls targets`).
        output_dir: project directory; default hls_projects/<model stem>_<target>.
        log: callable for the progress lines (default: none; print for the CLI's output).
        options: CompileOptions fields (input_type, default_type, samples, n_samples, seed,
            weight_bits, fidelity_rms, symmetry, calibrate, allow_overflow, force, ...); types
            are strings ('ap_fixed<16,6>') or FixedType; `types={tensor: type}` and
            `accum_types={node: type}` are --type and --accum-type; samples / calibrate are a
            path (.npy, .npz, FILE.npz:key) or numpy arrays (one per input, or {input: array}).
    Raises: OptionError for bad options, ModelError/UnsupportedNodeError for a model equihls
        cannot compile, SelfCheckError/OverflowDetected for a rejected build (all EquihlsError).
    """
    for alias, name in _ALIASES.items():
        if alias in options:
            if name in options:
                raise OptionError(f"give {alias}= or {name}=, not both")
            options[name] = options.pop(alias)
    opts = CompileOptions.from_user(target=target, output_dir=output_dir, **options)
    log = log or (lambda *a, **k: None)
    if isinstance(model, (str, os.PathLike)):
        return Project(driver.run(model, opts, log=log)["project_dir"])
    return _compile_proto(model, opts, log)


def _compile_proto(model, opts: CompileOptions, log) -> Project:
    """Compile an in-memory onnx.ModelProto: saved to a temporary '<graph name>.onnx' first (the
    compiler identifies a model by its file, and stores a copy in the project)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        raise ModelError(f"model must be an ONNX file path or an onnx.ModelProto, got {type(model).__name__}")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.graph.name).strip("._") or "model"
    with tempfile.TemporaryDirectory(prefix="equihls_model_") as tmp:
        path = os.path.join(tmp, f"{stem}.onnx")
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        return Project(driver.run(path, opts, log=log)["project_dir"])


def load(project_dir: str) -> Project:
    """The compiled project in `project_dir` (EquihlsError if it is not one)."""
    return Project(os.fspath(project_dir))

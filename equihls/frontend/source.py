"""The source model: an ONNX file and the external data files its tensors live in.

torch's default exporter (`dynamo=True`, since 2.9) writes every tensor above a size threshold to
`model.onnx.data` beside the model (ONNX external data). equihls reads such a model with all
its tensors, identifies it by the sha256 of the .onnx file *and* of every external data file
(what was compiled), and stores a self-contained copy (every tensor embedded) in the project, so
`equihls check` and `equihls report` need only the project directory.
"""
from __future__ import annotations

import hashlib
import os

import onnx
from onnx import external_data_helper

from ..errors import ModelError


def sha256_file(path: str) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tensors(graph: onnx.GraphProto):
    """Every TensorProto of a graph: initializers and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _tensors(a.g)
            for sub in a.graphs:
                yield from _tensors(sub)


def external_files(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(location, first tensor name) of each external data file the model refers to, in order of
    first use; [] for a self-contained model. `model` must be loaded without its external data."""
    seen = {}
    for t in _tensors(model.graph):
        if external_data_helper.uses_external_data(t):
            loc = external_data_helper.ExternalDataInfo(t).location
            seen.setdefault(loc, t.name)
    return list(seen.items())


def read_model(path: str) -> onnx.ModelProto:
    """Read the ONNX file `path` with every external tensor loaded (and marked embedded).

    Raises ModelError naming the file for an unreadable model, and naming the missing or
    unreadable external data file (and a tensor stored in it)."""
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf raises several types
        raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    base = os.path.dirname(os.path.abspath(path))
    for loc, tensor in external_files(model):
        full = os.path.join(base, loc)
        if not os.path.isfile(full):
            raise ModelError(f"{path}: external data file '{loc}' (tensor '{tensor}') not found: expected {full}; "
                             f"keep the .onnx and its data file(s) together")
    try:
        external_data_helper.load_external_data_for_model(model, base)
    except Exception as e:  # a location outside the folder, a short file, ...
        raise ModelError(f"{path}: cannot read its external data ({type(e).__name__}: {e})") from None
    return model


def identity(path: str) -> dict:
    """What was compiled, for the manifest: {"file", "sha256" (of the .onnx file),
    "external_data": [{"file", "sha256"}] (each external data file, in order of first use)}."""
    model = onnx.load(path, load_external_data=False)
    base = os.path.dirname(os.path.abspath(path))
    return {"file": os.path.basename(path), "sha256": sha256_file(path),
            "external_data": [{"file": loc, "sha256": sha256_file(os.path.join(base, loc))}
                              for loc, _ in external_files(model)]}


def save_model(model: onnx.ModelProto, dest: str):
    """Store `model` at `dest` with every tensor embedded (a project's source model: what the
    self-check compared against, readable without the original's data files). The
    serialisation is deterministic."""
    if any(external_data_helper.uses_external_data(t) for t in _tensors(model.graph)):
        raise RuntimeError(f"{dest}: the model to store still refers to external data (load it with read_model)")
    with open(dest, "wb") as f:
        f.write(model.SerializeToString())

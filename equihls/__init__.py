"""equihls: compile symmetry-equivariant neural networks (ONNX) into fixed-point HLS firmware.

Python API (equihls.api): ``equihls.compile(model, target="vu9p", output_dir=None, **options)``
returns a ``Project`` (``.predict(x)``, ``.trace(x)``, ``.check()``, ``.report()``, ``.manifest``,
``.estimate``); ``equihls.load(dir)`` loads a compiled one.
"""

__version__ = "0.1.0"

# name -> module that defines it. Resolved on first access (PEP 562) so that `import equihls`
# stays light: the compiler pulls in onnx, onnxruntime and hls4ml, which the CLI's --help and
# targets do not need.
_LAZY = {"compile": "api", "load": "api", "CompileOptions": "driver", "Project": "project",
         "ProjectLayout": "project", "LAYOUT": "project", "FixedType": "ir.fixedpoint"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'equihls' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

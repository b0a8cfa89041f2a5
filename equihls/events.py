"""Event arrays from .npy/.npz files (compile's --samples and --calibrate, csim's and check's
--input), refused with a message naming the file, the input and the row when they are malformed:
unreadable, complex (the imaginary part would be dropped), not numbers, without events, of the
wrong shape, or holding NaN/Inf."""
from __future__ import annotations

import os

import numpy as np

from .errors import InputError


def split_spec(spec: str) -> tuple[str, str | None]:
    """'f.npz:key' -> ('f.npz', 'key'); 'f.npy' -> ('f.npy', None). A path that exists as given
    is never split (file names may contain ':')."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    path, _, key = spec.rpartition(":")
    return path, key or None


def load_arrays(spec: str):
    """The arrays of `spec` ('FILE.npy', 'FILE.npz' or 'FILE.npz:key'): an ndarray for a .npy
    or a selected key, else {key: ndarray} in the file's order. Pickled (object) arrays are
    refused, never unpickled."""
    path, key = split_spec(spec)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file" if not os.path.exists(path) else f"{path}: not a file")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            arrays = data
        else:
            with data:
                arrays = {k: data[k] for k in data.files}
    except Exception as e:   # not numpy data, pickled objects, truncated zip, ...
        raise InputError(f"{path}: cannot read arrays ({type(e).__name__}: {e})") from None
    if key is None:
        return arrays
    if isinstance(arrays, np.ndarray):
        raise InputError(f"{path}: a .npy file holds one array; ':{key}' selects an array of a .npz")
    if key not in arrays:
        raise InputError(f"{path}: no array '{key}' (has {list(arrays)})")
    return arrays[key]


def checked_events(a, name: str, source: str, shape: tuple) -> np.ndarray:
    """`a` as float64 [batch, *shape] for input `name` (one event without a batch axis gets one).

    Refuses complex values (their imaginary part would be dropped), non-numeric dtypes (object,
    str), a wrong per-event shape, no events and NaN/Inf, naming `source` (the file), the input
    and, for NaN/Inf, the first bad row."""
    a = np.asarray(a)
    where = f"{source}: input '{name}'"
    if a.dtype.kind == "c":
        raise InputError(f"{where} is complex ({a.dtype}); equihls needs real values (the imaginary part would be "
                         f"lost)")
    if a.dtype.kind not in "biuf":
        raise InputError(f"{where} has dtype {a.dtype}; equihls needs real numbers")
    shape = tuple(shape)
    if a.ndim == len(shape):
        a = a[None]
    if tuple(a.shape[1:]) != shape:
        raise InputError(f"{where} has shape {list(a.shape)}, expected [batch, {', '.join(map(str, shape))}]")
    if a.shape[0] == 0:
        raise InputError(f"{where} has no events (shape {list(a.shape)})")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"{where}: {len(rows)} event(s) contain NaN or Inf; first at row {rows[0]}")
    return a

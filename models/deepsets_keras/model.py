"""Deep Sets over pairwise Minkowski products in Keras 3: a Lorentz- and permutation-invariant
top tagger (the Keras twin of models/deepsets_pairs, smaller per-pair network).

Needs Keras 3 with the TensorFlow backend (the ``.venv-keras`` of README.md); the compiler's
venv does not import this file. Functional model, one op per line of the firmware::

    x: [B, 16, 4] float32, (E, px, py, pz) in GeV
    g = matmul(x * eta, transpose(x, (0, 2, 1)))   # eta = (1, -1, -1, -1): Minkowski Gram matrix
    g = g * G_SCALE                                # power of two
    p = sign(g) * log(1 + |g|)                     # psi (written without log1p: tf2onnx has no Log1p)
    h = Dense(H, relu)(p[..., None])               # per-pair network, [B, 16, 16, H]
    s = sum(h, axes=(1, 2)) * POOL_SCALE           # sum over all 256 pairs, power of two
    z = Dense(H, relu)(s)
    logit = Dense(1)(z)                            # [B, 1]

The Gram matrix is written as a matmul with a transpose rather than ``keras.ops.einsum``:
tf2onnx rewrites Einsum into a Reshape/Transpose/MatMul chain that equihls does not recognise
(README.md, "Export").
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

N_CONST = 16
HIDDEN = 8
ETA = np.array([1.0, -1.0, -1.0, -1.0], np.float32)
G_SCALE = 2.0 ** -8      # GeV^2 -> units of 256 GeV^2: the psi knee at 16 GeV
POOL_SCALE = 2.0 ** -8   # 1 / N_CONST**2: the sum over pairs becomes a mean


def build(hidden: int = HIDDEN, n_const: int = N_CONST) -> keras.Model:
    """The functional model: input ``x`` [batch, n_const, 4] (GeV), output ``logit`` [batch, 1]."""
    x = keras.Input((n_const, 4), name="x")
    g = ops.matmul(x * ETA, ops.transpose(x, (0, 2, 1))) * G_SCALE
    p = ops.sign(g) * ops.log(1.0 + ops.abs(g))
    h = layers.Dense(hidden, activation="relu", name="phi")(ops.expand_dims(p, -1))
    s = ops.sum(h, axis=(1, 2)) * POOL_SCALE
    z = layers.Dense(hidden, activation="relu", name="rho")(s)
    logit = layers.Dense(1, name="logit")(z)
    return keras.Model(x, logit, name="deepsets_keras")


def reference(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's logits [n] on `x` [n, n_const, 4] (GeV) recomputed in float64 numpy from its
    weights, written the textbook way (explicit sum over d, log1p): checks the Keras graph."""
    x = np.asarray(x, np.float64)
    w = {l.name: [np.asarray(v, np.float64) for v in l.get_weights()] for l in model.layers if l.get_weights()}
    g = np.einsum("bid,d,bjd->bij", x, ETA.astype(np.float64), x) * G_SCALE
    p = np.sign(g) * np.log1p(np.abs(g))
    h = np.maximum(p[..., None] * w["phi"][0][0] + w["phi"][1], 0.0)
    s = h.sum(axis=(1, 2)) * POOL_SCALE
    z = np.maximum(s @ w["rho"][0] + w["rho"][1], 0.0)
    return (z @ w["logit"][0] + w["logit"][1])[:, 0]


def n_params(model: keras.Model) -> int:
    """Number of trainable scalars."""
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))

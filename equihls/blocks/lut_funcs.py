"""Registry of the scalar functions a grid LUT (LUT func="grid") can tabulate.

Each entry is a numpy float64 function f(x, **params) together with what the table builder and
the error analysis need to be exact without sampling the input densely:
  extrema(params)  points where f has a local extremum (or a kink where it turns): between two
                   consecutive ones f is monotone, so the min and max of f over the representable
                   inputs of a cell are at the cell's ends or at the representable neighbours of
                   an extremum inside it;
  domain           "all", "positive" (x > 0: log, reciprocal of a positive input, pow with p < 0),
                   "nonneg" (x >= 0: sqrt, pow with p > 0) or "nonzero" (reciprocal);
  slope(x, params) |f'(x)| (used only for the a-priori error bound, with `slope_peaks`, the points
                   where |f'| has a local maximum).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import ModelError

# math.erf elementwise: numpy has no erf, and one function does not justify a scipy dependency
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _ndtr(x):
    """The standard normal CDF."""
    return 0.5 * (1.0 + _erf(np.asarray(x, np.float64) / math.sqrt(2.0)))


SELU_ALPHA = 1.6732632423543772
SELU_GAMMA = 1.0507009873554805
_GELU_C = math.sqrt(2.0 / math.pi)


class TableDomainError(ModelError):
    """A grid table's input range reaches outside the function's domain (a pole or NaN region)."""


@dataclasses.dataclass(frozen=True)
class TableFunc:
    name: str
    f: object                 # (x: float64 array, **params) -> float64 array
    slope: object             # (x, **params) -> |f'(x)|
    domain: str = "all"
    extrema: object = lambda **p: ()
    slope_peaks: object = lambda **p: ()
    defaults: tuple = ()      # ((param, default), ...)

    def params(self, given: dict) -> dict:
        """The function's parameters: `given` over the defaults, unknown names refused."""
        out = dict(self.defaults)
        for k, v in given.items():
            if k not in out:
                raise ValueError(f"table function {self.name} takes no parameter '{k}' (takes: "
                                 f"{', '.join(out) or 'none'})")
            out[k] = float(v)
        return out

    def __call__(self, x, **p):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self.f(np.asarray(x, dtype=np.float64), **p)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x ** 3)))


def _gelu_tanh_slope(x):
    u = _GELU_C * (x + 0.044715 * x ** 3)
    t = np.tanh(u)
    return np.abs(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x))


def _gelu_slope(x):
    return np.abs(_ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def _root(fn, a: float, b: float) -> float:
    """A zero of fn between a and b (fn(a), fn(b) of opposite sign), to float64 resolution."""
    fa = fn(a)
    for _ in range(200):
        m = 0.5 * (a + b)
        if m in (a, b):
            break
        if (fn(m) > 0) == (fa > 0):
            a, fa = m, fn(m)
        else:
            b = m
    return 0.5 * (a + b)


def _gelu_d(x):
    return float(_ndtr(x) + x * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def _gelu_tanh_d(x):
    u = _GELU_C * (x + 0.044715 * x ** 3)
    t = math.tanh(u)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)


# the single minimum of each gelu form (f' changes sign once, near -0.75)
GELU_MIN = _root(_gelu_d, -2.0, 0.0)
GELU_TANH_MIN = _root(_gelu_tanh_d, -2.0, 0.0)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # no exp overflow on wide inputs


FUNCS = {t.name: t for t in [
    TableFunc("exp", lambda x: np.exp(x), lambda x: np.exp(x)),
    TableFunc("log", lambda x: np.log(x), lambda x: 1.0 / np.abs(x), domain="positive"),
    TableFunc("sqrt", lambda x: np.sqrt(x), lambda x: 0.5 / np.sqrt(x), domain="nonneg"),
    TableFunc("reciprocal", lambda x: 1.0 / x, lambda x: 1.0 / (x * x), domain="nonzero"),
    TableFunc("softplus", lambda x: np.logaddexp(0.0, x), lambda x: _sigmoid(x)),
    TableFunc("erf", lambda x: _erf(x), lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x),
              slope_peaks=lambda: (0.0,)),
    TableFunc("gelu", lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))), _gelu_slope,
              extrema=lambda: (GELU_MIN,), slope_peaks=lambda: (math.sqrt(2.0),)),
    TableFunc("gelu_tanh", _gelu_tanh, _gelu_tanh_slope, extrema=lambda: (GELU_TANH_MIN,),
              slope_peaks=lambda: (1.4, 1.45, 1.5, 1.55)),
    TableFunc("elu", _elu, lambda x, alpha: np.where(x > 0, 1.0, np.abs(alpha) * np.exp(np.minimum(x, 0.0))),
              extrema=lambda alpha: (0.0,), slope_peaks=lambda alpha: (0.0,), defaults=(("alpha", 1.0),)),
    TableFunc("selu", lambda x, alpha, gamma: gamma * _elu(x, alpha),
              lambda x, alpha, gamma: gamma * np.where(x > 0, 1.0, np.abs(alpha) * np.exp(np.minimum(x, 0.0))),
              extrema=lambda alpha, gamma: (0.0,), slope_peaks=lambda alpha, gamma: (0.0,),
              defaults=(("alpha", SELU_ALPHA), ("gamma", SELU_GAMMA))),
    TableFunc("celu",
              lambda x, alpha: np.maximum(x, 0.0) + np.minimum(0.0, alpha * np.expm1(np.minimum(x, 0.0) / alpha)),
              lambda x, alpha: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)),
              extrema=lambda alpha: (0.0,), slope_peaks=lambda alpha: (0.0,), defaults=(("alpha", 1.0),)),
    TableFunc("softsign", lambda x: x / (1.0 + np.abs(x)), lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
              slope_peaks=lambda: (0.0,)),
    TableFunc("sigmoid", _sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)), slope_peaks=lambda: (0.0,)),
    TableFunc("tanh", lambda x: np.tanh(x), lambda x: 1.0 - np.tanh(x) ** 2, slope_peaks=lambda: (0.0,)),
    TableFunc("pow", lambda x, p: np.power(x, p), lambda x, p: np.abs(p * np.power(x, p - 1.0)),
              domain="nonneg", defaults=(("p", 0.5),)),
]}


def lookup(name: str) -> TableFunc:
    if name not in FUNCS:
        raise ValueError(f"no table function '{name}' (known: {', '.join(sorted(FUNCS))})")
    return FUNCS[name]


def domain_kind(fn: TableFunc, params: dict) -> str:
    """The function's domain for these parameters (pow with a negative exponent has a pole at 0)."""
    if fn.name == "pow" and params["p"] < 0:
        return "positive"
    return fn.domain


def check_domain(fn: TableFunc, params: dict, lo: float, hi: float, where: str) -> None:
    """Refuse an input interval [lo, hi] that reaches a pole or the NaN region of fn, naming `where`."""
    kind = domain_kind(fn, params)
    bad = {"positive": lo <= 0.0, "nonneg": lo < 0.0, "nonzero": lo <= 0.0 <= hi}.get(kind, False)
    if not bad:
        return
    need = {"positive": "only values > 0", "nonneg": "only values >= 0",
            "nonzero": "values of one sign, never 0"}[kind]
    raise TableDomainError(
        f"{where}: the table of {fn.name} needs {need}, but the interval analysis gives its input the range "
        f"[{lo:.6g}, {hi:.6g}] ({'a pole' if kind != 'nonneg' else 'undefined values'} inside); bound the input "
        f"away from it in the model (e.g. Relu(x) plus a positive constant: the interval analysis follows Relu, "
        f"squares x*x and additions, not a difference of squares or an indefinite product)"
        + (", or give that tensor an unsigned type (--type)" if kind == "nonneg" else ""))

"""Bundled reference models and data generators for ``equihls``.

ZOO lists every reference model with the options its card compiles it with: name ->
{onnx, samples, input_type, types (tensor -> type overrides), options (further compile_model
options, e.g. fidelity_rms), torch (the torch module "package.module:Class" and its keyword
arguments, with the trained weights in ``<onnx stem>.weights.npz``; None for Keras/QAT models:
:func:`torch_model`), folder, task ('tagger': a Pythia
top tagger with a logit output; 'regressor': evaluated by its folder's evaluate.py with
evaluate_args), compare (ZOO taggers whose float model is shown beside it)}. `python -m
models.evaluate` compiles and evaluates them all.
"""
import os as _os

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def _entry(folder, onnx, input_type, types=None, task="tagger", compare=(), evaluate_args=(), options=None,
           torch=None):
    return {"onnx": _os.path.join(_HERE, folder, onnx), "samples": _os.path.join(_HERE, folder, "samples.npz"),
            "input_type": input_type, "types": dict(types or {}), "task": task, "folder": folder,
            "compare": tuple(compare), "evaluate_args": list(evaluate_args), "options": dict(options or {}),
            "torch": torch}


PYTHIA_INPUT_TYPE = "ap_fixed<18,12,AP_RND,AP_SAT>"   # GeV, LSB 2^-6 GeV: the grid the taggers train on

ZOO = {
    "deepsets_pairs": _entry("deepsets_pairs", "deepsets_pairs.onnx", PYTHIA_INPUT_TYPE,
                             torch=("models.deepsets_pairs.model:DeepSetsPairs", {})),
    # inputs in units of 64 GeV; rounding (not truncating) them halves the C-sim vs float gap
    "so3_cg": _entry("so3_cg", "so3_cg.onnx", "ap_fixed<16,6,AP_RND_CONV>", {"y": "ap_fixed<20,8,AP_RND_CONV>"},
                     "regressor", torch=("models.so3_cg.model:SO3CG", {})),
    "so3_cg_l2": _entry("so3_cg", "so3_cg_l2.onnx", "ap_fixed<16,6,AP_RND_CONV>", {"y": "ap_fixed<20,8,AP_RND_CONV>"},
                        "regressor", evaluate_args=["--l2"], torch=("models.so3_cg.model:SO3CG", {"l2": True})),
    # built in Keras 3 (TensorFlow backend), exported by tf2onnx: models/deepsets_keras/README.md
    "deepsets_keras": _entry("deepsets_keras", "deepsets_keras.onnx", PYTHIA_INPUT_TYPE),
    # psi(d_ij) of nearly collinear pairs is sensitive to the input grid: rounding the raw jets to
    # 2^-6 GeV alone moves the float logit by 7.3% RMS of its spread (correlation 0.998), above
    # the default --fidelity-rms 0.05; 2^-8 GeV would cost 2.2% (README "Model zoo")
    "pelican_nano": _entry("pelican_nano", "pelican_nano.onnx", PYTHIA_INPUT_TYPE, options={"fidelity_rms": 0.1},
                           torch=("models.pelican_nano.model:PelicanNano", {})),
    "pelican_nano_qat": _entry("pelican_nano_qat", "pelican_nano_qat.onnx", PYTHIA_INPUT_TYPE,
                               compare=["pelican_nano"], options={"fidelity_rms": 0.1}),
    # the coordinate-update product (x_i - x_j) * tanh(phi_x(m_ij)) is kept at its exact width
    # <19,13> x <12,2> = <31,15> by the compiler (auto-exact, the declared Lorentz symmetry):
    # rounded, it breaks the exact Lorentz equivariance of x' (models/lorentznet_lite/README.md)
    # psi(||x_i - x_j||^2) of nearly collinear pairs: rounding the raw jets to the 2^-6 GeV grid
    # alone moves the float logit by 53% RMS of its spread (correlation 0.946); the firmware
    # matches the float model on the grid to 0.11 logits. 2^-10 GeV would cost 2.2% (README)
    "lorentznet_lite": _entry("lorentznet_lite", "lorentznet_lite.onnx", PYTHIA_INPUT_TYPE,
                              options={"fidelity_rms": 0.6}, torch=("models.lorentznet_lite.model:LorentzNetLite", {})),
    # LGN-style Lorentz CG layer: the covariant products u_i ∧ J and T(u_i, J) are exact (integer
    # couplings); their Minkowski norms cancel, which is why the model itself runs in float64
    "lgn_lite": _entry("lgn_lite", "lgn_lite.onnx", PYTHIA_INPUT_TYPE, torch=("models.lgn_lite.model:LGNLite", {})),
}


def torch_model(name: str):
    """ZOO entry `name` as its trained torch module (eval mode), built with the card's arguments and
    loaded from its ``.weights.npz``; None for an entry not written in torch."""
    import importlib

    if not ZOO[name]["torch"]:
        return None
    from models.common import load_weights

    where, kwargs = ZOO[name]["torch"]
    mod, cls = where.split(":")
    model = getattr(importlib.import_module(mod), cls)(**kwargs)
    return load_weights(model, ZOO[name]["onnx"][:-len(".onnx")] + ".weights.npz")


def compile_zoo(name: str, output_dir: str, samples: str | None = None, log=print, **options) -> dict:
    """Compile ZOO entry `name` for vu9p with its card's options (input type, type overrides)
    into `output_dir`; `samples` (npz with ``x``) defaults to the entry's shipped samples.
    Further keyword options go to :func:`equihls.driver.compile_model`. Returns the manifest."""
    from equihls import driver
    from equihls.ir.fixedpoint import FixedType

    spec = ZOO[name]
    return driver.compile_model(spec["onnx"], target="vu9p", output_dir=output_dir,
                                input_type=spec["input_type"], samples=samples or spec["samples"],
                                type_overrides={k: FixedType.parse(v) for k, v in spec["types"].items()},
                                log=log, **{**spec["options"], **options})

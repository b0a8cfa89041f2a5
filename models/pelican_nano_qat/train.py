"""Train (float warm start + QAT), evaluate and export PELICAN-nano-QAT as QONNX.

Run from the repository root (needs ``brevitas==0.13.4``; the shipped ONNX does not)::

    .venv/bin/python models/pelican_nano_qat/train.py            # reproduces the shipped files

1. Float warm start: the float ``PelicanNano`` trained with exactly the pelican_nano recipe
   (``models/pelican_nano/train.py``: torch seed 0, 250 epochs, one-cycle LR 1e-2, inputs on the
   2^-6 GeV grid, best validation epoch) -- i.e. the shipped pelican_nano weights.
2. Its weights are copied into ``PelicanNanoQAT`` (pair W0, diagonal (W0 + W4, W5), row W1,
   column W2, total W3 + bias, output layer), and the quantised model is fine-tuned for
   ``--qat-epochs`` epochs (Adam, cosine LR from ``--qat-lr``, batch 128, same inputs, torch seed),
   keeping the best validation epoch.
3. Export with ``brevitas.export.export_qonnx`` (TorchScript exporter, opset 17, custom opset
   equihls:1 for the ScalarProducts node), ``qonnx`` cleanup, then the equihls function body is
   attached (``equihls.ops.onnx_ops.attach_functions``) and the symmetry metadata set. ONNX Runtime
   (on ``equihls.frontend.qonnx_quant.standard_ops`` of the model) must agree with torch.

Writes ``pelican_nano_qat.onnx``, ``samples.npz`` (same 512 jets as pelican_nano) and
``metrics_float.json`` into ``--out`` (default: this directory).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")

from models.common import (EPS_S, INPUT_LSB, LORENTZ_TAGGER_METADATA, N_SAMPLES_PER_CLASS, auc,  # noqa: E402
                           balanced_sample_indices, check_ort, finish_onnx, fit, metrics, onnx_ops,
                           ort_session, predict, pythia_splits, save_jet_samples, seed_everything,
                           to_input_grid, write_json)
from models.pelican_nano.model import PelicanNano  # noqa: E402
from models.pelican_nano_qat.model import ACT_BITS, WEIGHT_BITS, PelicanNanoQAT, n_params  # noqa: E402


def copy_float_weights(qat: PelicanNanoQAT, fl: PelicanNano) -> None:
    w, b = fl.mix.weight.detach(), fl.mix.bias.detach()
    with torch.no_grad():
        qat.lin_pair.weight.copy_(w[:, 0:1])
        qat.lin_dia.weight.copy_(torch.stack([w[:, 0] + w[:, 4], w[:, 5]], dim=1))
        qat.lin_row.weight.copy_(w[:, 1:2])
        qat.lin_col.weight.copy_(w[:, 2:3])
        qat.lin_tot.weight.copy_(w[:, 3:4])
        qat.lin_tot.bias.copy_(b)
        qat.out.weight.copy_(fl.out.weight.detach())
        qat.out.bias.copy_(fl.out.bias.detach())


def export_qonnx_model(model: PelicanNanoQAT, x_example: np.ndarray, path: Path, cleanup: bool = False):
    """QONNX export + cleanup + equihls function body + metadata; returns the ModelProto."""
    import onnx
    from brevitas.export import export_qonnx
    from qonnx.util.cleanup import cleanup_model
    from qonnx.core.modelwrapper import ModelWrapper

    from equihls.ops.onnx_ops import attach_functions
    from equihls.ops.onnx_ops import DOMAIN, DOMAIN_VERSION

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(model, args=torch.from_numpy(np.asarray(x_example, np.float32)), export_path=str(path),
                     input_names=["x"], output_names=["logit"],
                     dynamic_axes={"x": {0: "batch"}, "logit": {0: "batch"}},
                     opset_version=17, custom_opsets={DOMAIN: DOMAIN_VERSION}, dynamo=False)
    om = onnx.load(str(path))
    if cleanup:
        om = cleanup_model(ModelWrapper(om)).model
    # the TorchScript exporter lists the initializers as graph inputs too: keep only x
    inits = {i.name for i in om.graph.initializer}
    keep = [i for i in om.graph.input if i.name not in inits]
    del om.graph.input[:]
    om.graph.input.extend(keep)
    om = attach_functions(om)
    del om.metadata_props[:]
    return finish_onnx(om, path, LORENTZ_TAGGER_METADATA)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--float-epochs", type=int, default=250)
    ap.add_argument("--qat-epochs", type=int, default=40)
    ap.add_argument("--qat-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args(argv)
    seed_everything(args.seed, args.out)

    xtr, ytr, xva, yva, xte, yte = pythia_splits()
    xtr_t = torch.from_numpy(to_input_grid(xtr).astype(np.float32))
    xva_q = to_input_grid(xva)
    ytr_t = torch.from_numpy(ytr).float()

    def train_loop(model, epochs, lr, schedule, log_every):
        return fit(model, xtr_t, ytr_t, epochs=epochs, lr=lr, batch_size=args.batch_size, seed=args.seed,
                   validate=lambda m: auc(predict(m, xva_q), yva), schedule=schedule, log_every=log_every,
                   indent="  ")

    # ---- 1. float warm start (the pelican_nano recipe)
    fl = PelicanNano()
    print(f"float warm start: PelicanNano, {args.float_epochs} epochs")
    fv, fe, ft = train_loop(fl, args.float_epochs, 1e-2, "onecycle", 50)
    s_fl = predict(fl, xte)
    print(f"  {ft:.0f} s; epoch {fe + 1}, val AUC {fv:.4f}; test AUC {auc(s_fl, yte):.4f}")

    # ---- 2. QAT fine-tune
    torch.manual_seed(args.seed)
    model = PelicanNanoQAT()
    copy_float_weights(model, fl)
    s0 = predict(model, to_input_grid(xte))      # eval mode, activation scales not yet calibrated
    print(f"QAT: PelicanNanoQAT ({WEIGHT_BITS}-bit weights, {ACT_BITS}-bit activations), "
          f"{n_params(model)} parameters; copied float weights, test AUC before fine-tuning {auc(s0, yte):.4f}")
    qv, qe, qt = train_loop(model, args.qat_epochs, args.qat_lr, "cosine", 5)
    print(f"  {qt:.0f} s; keeping epoch {qe + 1} (val AUC {qv:.4f})")

    s_te = predict(model, xte)
    s_te_q = predict(model, to_input_grid(xte))
    m_q, m_qg, m_fl = metrics(s_te, yte), metrics(s_te_q, yte), metrics(s_fl, yte)
    for label, m in (("QAT test (raw jets): ", m_q), ("QAT test (2^-6 grid):", m_qg)):
        print(f"{label} AUC {m['auc']:.4f} acc {m['accuracy']:.4f} 1/eps_B {m['rejection_at_eps_s']:.1f}")
    print(f"float warm start:     AUC {m_fl['auc']:.4f}")

    # ---- 3. QONNX export
    from equihls.frontend.qonnx_quant import is_quant, standard_ops

    onnx_path = args.out / "pelican_nano_qat.onnx"
    om = export_qonnx_model(model, xte[:2], onnx_path)
    ops = onnx_ops(om)
    print("ONNX ops (without Constant):", ops)
    max_diff = check_ort(ort_session(standard_ops(om).SerializeToString()), xte, s_te, 1e-2,
                         f"onnxruntime (standard_ops) vs torch on {len(xte)} test jets")

    idx = balanced_sample_indices(yte, N_SAMPLES_PER_CLASS, args.seed)
    save_jet_samples(args.out / "samples.npz", xte[idx], yte[idx])

    quant_nodes = []
    for nd in om.graph.node:
        if is_quant(nd.op_type, nd.domain):
            a = {x.name: (x.s.decode() if x.type == x.STRING else x.i) for x in nd.attribute}
            quant_nodes.append({"node": nd.name, "input": nd.input[0], **a})
    out = {
        "model": "pelican_nano_qat",
        "note": "QAT (Brevitas 0.13.4) on Pythia 8 + FastJet jets, float warm start = pelican_nano recipe",
        "test": m_q, "test_on_input_grid": m_qg, "float_warm_start_test": m_fl,
        "eps_s": EPS_S, "samples": metrics(s_te[idx], yte[idx]), "n_test": int(len(yte)),
        "n_params": n_params(model), "weight_bits": WEIGHT_BITS, "act_bits": ACT_BITS,
        "float_epochs": args.float_epochs, "float_best_epoch": fe + 1,
        "qat_epochs": args.qat_epochs, "qat_lr": args.qat_lr, "qat_best_epoch": qe + 1, "val_auc": round(qv, 6),
        "torch_seed": args.seed, "batch_size": args.batch_size,
        "training_inputs": f"rounded to multiples of {INPUT_LSB} GeV (ties up)",
        "quant_nodes": quant_nodes,
        "onnx_ops": ops, "onnx_ort_max_abs_diff": max_diff,
        "torch_version": torch.__version__,
    }
    write_json(args.out / "metrics_float.json", out)
    print("wrote", onnx_path, args.out / "samples.npz", args.out / "metrics_float.json")
    return out


if __name__ == "__main__":
    main()

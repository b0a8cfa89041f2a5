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
   attached (``equihls.onnx_ops.attach_functions``) and the symmetry metadata set. ONNX Runtime
   (on ``equihls.quant.standard_ops`` of the model) must agree with torch.

Writes ``pelican_nano_qat.onnx``, ``samples.npz`` (same 512 jets as pelican_nano) and
``metrics_float.json`` into ``--out`` (default: this directory).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")

from models.deepsets_pairs.train import EPS_S, auc  # noqa: E402
from models.pelican_nano import train as float_train  # noqa: E402
from models.pelican_nano.model import PelicanNano  # noqa: E402
from models.pelican_nano.train import (N_SAMPLES_PER_CLASS, SYMMETRY_METADATA, load_jets, metrics,  # noqa: E402
                                       predict, to_input_grid)
from models.pelican_nano_qat.model import ACT_BITS, WEIGHT_BITS, PelicanNanoQAT, n_params  # noqa: E402


def train_loop(model, xtr_t, ytr_t, xva_q, yva, epochs, lr, batch, seed, sched_kind, log_every):
    n = len(ytr_t)
    steps = epochs * math.ceil(n / batch)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if sched_kind == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    best = (-1.0, None, -1)
    t1 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss = loss_fn(model(xtr_t[idx])[:, 0], ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        val_auc = auc(predict(model, xva_q), yva)
        if val_auc > best[0]:
            best = (val_auc, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        if (epoch + 1) % log_every == 0 or epoch == 0:
            print(f"  epoch {epoch + 1:3d}/{epochs}  loss {tot / n:.4f}  val AUC {val_auc:.4f}  "
                  f"({time.perf_counter() - t1:.0f} s)", flush=True)
    model.load_state_dict(best[1])
    return best[0], best[2], time.perf_counter() - t1


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

    from equihls.onnx_ops import attach_functions
    from equihls.onnx_ops import DOMAIN, DOMAIN_VERSION

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
    onnx.helper.set_model_props(om, SYMMETRY_METADATA)
    onnx.checker.check_model(om)
    onnx.save(om, str(path))
    return om


def ort_session(om):
    import onnxruntime as ort

    from equihls.quant import standard_ops
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(standard_ops(om).SerializeToString(), so, providers=["CPUExecutionProvider"])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--float-epochs", type=int, default=250)
    ap.add_argument("--qat-epochs", type=int, default=40)
    ap.add_argument("--qat-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    train, test = load_jets("train"), load_jets("test")
    n_val = int(round(float_train.VAL_FRACTION * len(train["y"])))
    xtr, ytr = train["x"][:-n_val], train["y"][:-n_val]
    xva, yva = train["x"][-n_val:], train["y"][-n_val:]
    xte, yte = test["x"], test["y"]
    xtr_t = torch.from_numpy(to_input_grid(xtr).astype(np.float32))
    xva_q = to_input_grid(xva)
    ytr_t = torch.from_numpy(ytr).float()

    # ---- 1. float warm start (the pelican_nano recipe)
    fl = PelicanNano()
    print(f"float warm start: PelicanNano, {args.float_epochs} epochs")
    fv, fe, ft = train_loop(fl, xtr_t, ytr_t, xva_q, yva, args.float_epochs, 1e-2, args.batch_size,
                            args.seed, "onecycle", 50)
    s_fl = predict(fl, xte)
    print(f"  {ft:.0f} s; epoch {fe + 1}, val AUC {fv:.4f}; test AUC {auc(s_fl, yte):.4f}")

    # ---- 2. QAT fine-tune
    torch.manual_seed(args.seed)
    model = PelicanNanoQAT()
    copy_float_weights(model, fl)
    s0 = predict(model, to_input_grid(xte))      # eval mode, activation scales not yet calibrated
    print(f"QAT: PelicanNanoQAT ({WEIGHT_BITS}-bit weights, {ACT_BITS}-bit activations), "
          f"{n_params(model)} parameters; copied float weights, test AUC before fine-tuning {auc(s0, yte):.4f}")
    qv, qe, qt = train_loop(model, xtr_t, ytr_t, xva_q, yva, args.qat_epochs, args.qat_lr, args.batch_size,
                            args.seed, "cosine", 5)
    print(f"  {qt:.0f} s; keeping epoch {qe + 1} (val AUC {qv:.4f})")

    s_te = predict(model, xte)
    s_te_q = predict(model, to_input_grid(xte))
    m_q, m_qg, m_fl = metrics(s_te, yte), metrics(s_te_q, yte), metrics(s_fl, yte)
    print(f"QAT test (raw jets):  AUC {m_q['auc']:.4f} acc {m_q['accuracy']:.4f} 1/eps_B {m_q['rejection_at_eps_s']:.1f}")
    print(f"QAT test (2^-6 grid): AUC {m_qg['auc']:.4f} acc {m_qg['accuracy']:.4f} 1/eps_B {m_qg['rejection_at_eps_s']:.1f}")
    print(f"float warm start:     AUC {m_fl['auc']:.4f}")

    # ---- 3. QONNX export
    onnx_path = args.out / "pelican_nano_qat.onnx"
    om = export_qonnx_model(model, xte[:2], onnx_path)
    ops = [nd.op_type for nd in om.graph.node if nd.op_type != "Constant"]
    print("ONNX ops (without Constant):", ops)
    sess = ort_session(om)
    s_ort = sess.run(None, {"x": xte.astype(np.float32)})[0][:, 0]
    max_diff = float(np.max(np.abs(s_ort - s_te)))
    print(f"onnxruntime (standard_ops) vs torch on {len(xte)} test jets: max |diff| = {max_diff:.3g}")
    if max_diff > 1e-2:
        raise SystemExit("ONNX export mismatch")

    rng = np.random.default_rng(args.seed)
    idx = np.concatenate([np.nonzero(yte == c)[0][:N_SAMPLES_PER_CLASS] for c in (0, 1)])
    idx = idx[rng.permutation(idx.size)]
    np.savez_compressed(args.out / "samples.npz", x=xte[idx].astype(np.float32), y=yte[idx].astype(np.int64))

    from equihls.quant import is_quant
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
        "training_inputs": f"rounded to multiples of {float_train.INPUT_LSB} GeV (ties up)",
        "quant_nodes": quant_nodes,
        "onnx_ops": ops, "onnx_ort_max_abs_diff": max_diff,
        "torch_version": torch.__version__,
    }
    (args.out / "metrics_float.json").write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", onnx_path, args.out / "samples.npz", args.out / "metrics_float.json")
    return out


if __name__ == "__main__":
    main()

"""What a user does with a Lorentz-equivariant peer model: export it with torch (either exporter),
`equihls compile` it with the defaults (auto-exact keeps the covariant tensors the probe names exact),
`equihls check` it, and compare the C simulation with torch."""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from equihls import cli, project
from equihls.project import LAYOUT
from equihls.verify import check

from tests.exporters import export
from tests.peer.lorentz_models import MODELS, N

INPUT_TYPE = "ap_fixed<12,8,AP_RND_CONV,AP_SAT>"    # LSB 1/16, [-128, 128)


def events(n=64, seed=0, padded=False):
    """Four-momenta on the input grid (E > 0); `padded`: 2..N real particles, the rest zero rows."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-64, 65, size=(n, N, 4)) / 16.0
    x[..., 0] = np.abs(x[..., 0]) + 4.0
    if padded:
        k = rng.integers(2, N + 1, size=n)
        x[np.arange(N)[None, :] >= k[:, None]] = 0.0
    return x


def build(name: str, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MODELS[name][0]().eval()


def compile_project(tmp_path, name: str, model, dynamo: bool, padded: bool):
    """Export and compile with the defaults. Returns (project dir, x, manifest)."""
    _, groups, orep, operm = MODELS[name]
    path = export(model, (torch.zeros(2, N, 4),), str(tmp_path / f"{name}.onnx"), dynamo)
    x = events(padded=padded)
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / "prj")
    assert cli.main(["compile", path, "--input-type", INPUT_TYPE, "--samples", str(tmp_path / "s.npz"),
                     "--symmetry", groups, "--output-rep", orep, "--output-perm", operm, "-o", out]) == 0
    return out, x, json.load(open(os.path.join(out, LAYOUT.manifest)))


def assert_user_story(tmp_path, capsys, name: str, dynamo: bool, padded: bool = False):
    """Compile exit 0, self-check and symmetry probe PASS, `equihls check` PASS on every line with
    pairs > 0, and the C-sim agrees with torch on the quantised events (output not constant)."""
    model = build(name)
    out, x, m = compile_project(tmp_path, name, model, dynamo, padded)
    assert m["self_check"]["passed"] is True
    assert m["symmetry_probe"]["verdict"] == check.PASS, m["symmetry_probe"]
    capsys.readouterr()
    assert cli.main(["check", out, "--samples", "3", "-q"]) == 0, capsys.readouterr().out
    rep = json.load(open(os.path.join(out, LAYOUT.certificate)))
    assert rep["verdict"] == check.PASS
    assert sorted(rep["groups"]) == ["lorentz", "perm"]
    assert rep["lines"] and all(r["pairs"] > 0 for r in rep["lines"]), rep["lines"]

    p = project.Project(out)
    xq = p.input_type(0).quantize(x)
    y_sim = np.asarray(p.run(xq)[0]).reshape(len(x), -1)
    with torch.no_grad():
        y_torch = model(torch.tensor(xq, dtype=torch.float32)).numpy().reshape(len(x), -1)
    spread = y_torch.std()
    assert spread > 0.01                                      # the output is not constant
    err = np.abs(y_sim - y_torch).max()
    assert err <= 0.02 * spread + 4 * p.output_type(0).lsb, (err, spread)
    return err

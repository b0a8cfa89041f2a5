"""Every ONNX that torch writes loads (issue 12, point 5): small models exported with torch's
default exporter (`dynamo=True`: opset 18+, weights in `model.onnx.data`, new node names) and with
the TorchScript exporter (`dynamo=False`) compile, `equihls check` and `equihls report` work on
the project (which stores a self-contained source model), and the C simulation agrees with torch.
A missing `.onnx.data` is an exit-2 error naming the file."""
import json
import os
import shutil

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")          # the dynamo exporter needs it

from equihls.verify import check  # noqa: E402
from equihls.project import LAYOUT  # noqa: E402
from equihls import cli, project  # noqa: E402
from equihls.frontend import source  # noqa: E402
from tests import exporters  # noqa: E402

N = 4
INPUT_TYPE = "ap_fixed<12,8,AP_RND_CONV,AP_SAT>"    # LSB 1/16, [-128, 128)


class DeepSets(torch.nn.Module):
    """Linear -> ReLU on every particle, sum over particles, Linear: permutation invariant."""

    def __init__(self):
        super().__init__()
        self.phi = torch.nn.Linear(4, 32)        # 512 bytes of weights: above the exporter's 256-byte threshold
        self.rho = torch.nn.Linear(32, 1)

    def forward(self, x):
        return self.rho(torch.relu(self.phi(x)).sum(dim=1) * 0.25)


class GramPairs(torch.nn.Module):
    """d = x diag(η) xᵀ (as models/deepsets_pairs writes it with a matrix), a per-pair Linear,
    ReLU, sum over pairs, MLP: permutation and Lorentz invariant."""

    def __init__(self):
        super().__init__()
        self.register_buffer("metric", torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0])))
        self.phi = torch.nn.Linear(1, 8)
        self.rho1 = torch.nn.Linear(8, 64)       # 2 KB: external data
        self.rho2 = torch.nn.Linear(64, 1)

    def forward(self, x):
        d = (x @ self.metric @ x.transpose(1, 2)) * 2.0 ** -2
        h = torch.relu(self.phi(d.unsqueeze(-1))).sum(dim=(1, 2)) * 0.125
        return self.rho2(torch.relu(self.rho1(h)))


MODELS = {"deepsets": (DeepSets, "perm"), "gram_pairs": (GramPairs, "perm,lorentz")}


def export(model: torch.nn.Module, path: str, dynamo: bool):
    """torch.onnx.export with a dynamic batch axis; dynamo=True forces external data."""
    exporters.export(model, (torch.zeros(2, N, 4),), path, dynamo, opset=None, external_data=True)


def lattice_events(n=64, seed=0):
    """Small events on the input grid: integer Lorentz words keep most of them in range."""
    x = np.random.default_rng(seed).integers(-64, 65, size=(n, N, 4)) / 16.0
    x[..., 0] = np.abs(x[..., 0]) + 4.0
    return x


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.gxx
def test_export_compiles_checks_reports(tmp_path, capsys, name, dynamo):
    cls, groups = MODELS[name]
    torch.manual_seed(1)
    model = cls().eval()
    path = str(tmp_path / f"{name}.onnx")
    export(model, path, dynamo)
    data = path + ".data"
    if dynamo:      # the tensors really are outside the .onnx
        assert os.path.getsize(data) >= 512
        assert source.external_files(onnx.load(path, load_external_data=False))
    else:
        assert not os.path.exists(data)
    x = lattice_events()
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / "prj")
    assert cli.main(["compile", path, "-o", out, "--input-type", INPUT_TYPE, "--samples", str(tmp_path / "s.npz"),
                     "--symmetry", groups]) == 0
    m = json.load(open(os.path.join(out, LAYOUT.manifest)))
    assert m["model"]["sha256"] == source.sha256_file(path)
    assert m["model"]["external_data"] == ([{"file": os.path.basename(data), "sha256": source.sha256_file(data)}]
                                           if dynamo else [])
    assert m["symmetry_probe"]["verdict"] == check.PASS, m["symmetry_probe"]

    # the stored source is self-contained: no external reference, loads and checks on its own
    stored = os.path.join(out, LAYOUT.source_model)
    assert not source.external_files(onnx.load(stored, load_external_data=False))
    onnx.checker.check_model(stored)
    if dynamo:      # the original's data file is not needed any more
        os.remove(data)
    capsys.readouterr()
    assert cli.main(["check", out, "--samples", "3", "-q"]) == 0, capsys.readouterr().out
    rep = json.load(open(os.path.join(out, LAYOUT.certificate)))
    assert rep["float_reference"] == "float64" and rep["verdict"] == check.PASS
    assert all(r["pairs"] > 0 for r in rep["lines"])
    assert cli.main(["report", out]) == 0
    assert "equivariance certificate (equihls_check.json): PASS" in capsys.readouterr().out

    # C-sim (bit-accurate firmware) against torch in float on the same quantised events
    p = project.Project(out)
    xq = p.input_type(0).quantize(x)
    y_sim = p.run(xq)[0][:, 0]
    with torch.no_grad():
        y_torch = model(torch.tensor(xq, dtype=torch.float32)).numpy()[:, 0]
    spread = y_torch.std()
    assert spread > 0.01                                  # the output is not constant
    assert np.abs(y_sim - y_torch).max() <= 0.02 * spread + 4 * p.output_type(0).lsb, (y_sim, y_torch)
    assert np.corrcoef(y_sim, y_torch)[0, 1] > 0.999


def test_stored_source_model_is_self_contained_and_deterministic(tmp_path):
    path = str(tmp_path / "ds.onnx")
    export(DeepSets().eval(), path, dynamo=True)
    model = source.read_model(path)
    a, b = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    source.save_model(model, a)
    source.save_model(source.read_model(path), b)
    assert open(a, "rb").read() == open(b, "rb").read()
    assert os.path.getsize(a) > os.path.getsize(path)         # the weights moved in


def test_missing_external_data_is_a_clear_error(tmp_path, capsys):
    path = str(tmp_path / "ds.onnx")
    export(DeepSets().eval(), path, dynamo=True)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(path, moved / "ds.onnx")       # the .onnx without its .onnx.data
    capsys.readouterr()
    rc = cli.main(["compile", str(moved / "ds.onnx"), "-o", str(tmp_path / "prj")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "external data file 'ds.onnx.data'" in err and "not found" in err and str(moved) in err
    assert "Traceback" not in err and not os.path.exists(tmp_path / "prj")

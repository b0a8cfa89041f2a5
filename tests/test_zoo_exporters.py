"""Both torch exporters over the whole torch zoo (issue 14 point 5). The shipped ONNX files are
TorchScript exports (test_model_zoo.py); here every torch model of models.ZOO is rebuilt from its
trained weights (`<name>.weights.npz`) and exported with torch's default exporter (`dynamo=True`,
through `equihls.torch_ops.export`, whose custom ops then export as plain torch), and the export
compiles with the card's options, passes its self-check and compile-time probe, and carries an
equivariance certificate for the groups the card declares."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")          # the dynamo exporter needs it

from equihls import driver, project  # noqa: E402
from equihls.ir.fixedpoint import FixedType  # noqa: E402
from equihls.ops.torch_ops import export  # noqa: E402
from equihls.verify import check  # noqa: E402
from models import ZOO, torch_model  # noqa: E402
from models.common import finish_onnx  # noqa: E402
from tests.conftest import ZOO_EVENTS, exact_line  # noqa: E402

TORCH_ZOO = sorted(n for n in ZOO if ZOO[n]["torch"])


def _shipped(name):
    om = onnx.load(ZOO[name]["onnx"])
    return om, {p.key: p.value for p in om.metadata_props}


@pytest.mark.parametrize("name", TORCH_ZOO)
def test_weights_are_the_shipped_model(name):
    """The checkpoint is the model the ONNX holds: torch on it equals ONNX Runtime on the file."""
    x = np.load(ZOO[name]["samples"])["x"][:256]
    sess = ort.InferenceSession(ZOO[name]["onnx"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = torch_model(name)(torch.from_numpy(x)).numpy()
    assert ref.std() > 0.1
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max(), np.abs(got - ref).max()


def test_only_keras_and_qat_models_are_not_torch():
    assert sorted(set(ZOO) - set(TORCH_ZOO)) == ["deepsets_keras", "pelican_nano_qat"]


@pytest.mark.gxx
@pytest.mark.parametrize("name", TORCH_ZOO)
def test_dynamo_export_compiles_and_is_certified(tmp_path, name):
    spec = ZOO[name]
    shipped, meta = _shipped(name)
    x = np.load(spec["samples"])["x"][:ZOO_EVENTS]
    path = str(tmp_path / f"{name}.onnx")
    out_name = shipped.graph.output[0].name
    om = export(torch_model(name), (torch.from_numpy(x[:2]),), path, dynamo=True, input_names=["x"],
                output_names=[out_name], dynamic_shapes=({0: torch.export.Dim("batch")},))
    om = finish_onnx(om, path, meta)
    assert {o.domain for o in om.opset_import} == {""} and om.opset_import[0].version >= 18
    assert not {n.domain for n in om.graph.node} - {""}           # no custom node: plain torch ops
    np.savez(tmp_path / "s.npz", x=x)
    out = str(tmp_path / "prj")
    m = driver.compile_model(path, target="vu9p", output_dir=out, input_type=spec["input_type"],
                             samples=str(tmp_path / "s.npz"), log=lambda *a: None,
                             type_overrides={k: FixedType.parse(v) for k, v in spec["types"].items()},
                             **spec["options"])
    rep = m["self_check"]
    assert rep["passed"] and all(r["csim_vs_twin_mismatches"] == 0 for r in rep["outputs"].values())
    assert m["overflow"]["n_overflow"] == 0
    assert m["symmetry"]["groups"] == [g for g in meta["equihls.symmetry"].split(",")]
    assert m["symmetry_probe"]["passed"], m["symmetry_probe"]
    cert = check.run(project.Project(out), n_elements=8, progress=False)
    assert cert["passed"], check.format_report(cert)
    assert exact_line(cert, "perm")["identical"] == exact_line(cert, "perm")["pairs"] > 0
    for g in ("lorentz", "so3", "o3"):
        if g in cert["groups"]:
            ex = exact_line(cert, g)
            assert ex["mismatched"] == 0 and ex["identical"] == ex["pairs"] > 0, ex

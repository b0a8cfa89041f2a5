"""The public Python API (equihls.api): the README's notebook example runs as written; a
ModelProto, numpy samples and FixedType options give the same firmware as paths and type strings;
Project.check writes the certificate `equihls check` writes; bad options raise the CLI's errors."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest

import equihls
from equihls import cli
from equihls.errors import ModelError, OptionError
from equihls.ir.fixedpoint import FixedType
from equihls.project import LAYOUT
from equihls.verify import check
from tests.conftest import MODEL, ROOT, SAMPLES

CARD_INPUT = "ap_fixed<18,12,AP_RND,AP_SAT>"   # the bundled tagger's input type (its card)
QUIET = dict(log=lambda *a: None)


def readme_example() -> str:
    """The first ```python block of README.md's "Python API" section, verbatim."""
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README.md's Python API section has no ```python block"
    return m.group(1)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """Run the README example in a fresh directory holding the repository's models/ (its paths are
    relative to the repository root); yields (its namespace, the directory), the module's tests
    running in that directory (the example's Project names its directory relative to it)."""
    work = tmp_path_factory.mktemp("readme")
    os.symlink(os.path.join(ROOT, "models"), work / "models")
    ns, cwd = {}, os.getcwd()
    os.chdir(work)
    try:
        exec(compile(readme_example(), "README.md:python-api", "exec"), ns)
        yield ns, str(work)
    finally:
        os.chdir(cwd)


def files(project: str) -> dict:
    """{relative path: bytes} of a project as compiled: the C-sim shared object (a g++ product) and
    the certificate (written by check afterwards) left out, and
    the project's own path replaced (hls4ml writes it into its yml and build script)."""
    out, real = {}, os.path.realpath(project).encode()
    for root, _, names in os.walk(project):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), project)
            if rel not in (LAYOUT.csim_lib, LAYOUT.certificate):
                out[rel] = open(os.path.join(root, n), "rb").read().replace(real, b"<PROJECT>")
    return out


@pytest.mark.gxx
def test_readme_example_runs(readme_run, capsys):
    ns, work = readme_run
    p, logits, cert = ns["p"], ns["logits"], ns["cert"]
    assert isinstance(p, equihls.Project) and p.dir == "hls_projects/deepsets_pairs_api"
    assert logits.shape == (8, 1) and logits.dtype == np.float64
    # predict is the C simulation: the same as Project.run on the same events, and close to the float model
    jets = ns["jets"][:8]
    assert np.array_equal(logits, p.run(jets)[0])
    import onnxruntime as ort
    y = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"]).run(None, {"x": jets.astype(np.float32)})[0]
    assert np.max(np.abs(logits - y)) < 0.5
    assert cert["passed"] and cert["groups"] == ["perm", "lorentz"]
    stored = json.load(open(os.path.join(work, p.dir, LAYOUT.certificate)))
    assert stored == json.loads(json.dumps(cert)) and cert["verdict"] == check.PASS
    assert p.estimate == p.manifest["estimate"] and p.estimate["total"]["dsp"] > 0
    text = p.report()
    assert "equihls report" in text and "PASS" in text
    assert p.report(json=True)["certificate"] == stored
    assert p.manifest["options"]["input_type"] == CARD_INPUT and p.manifest["self_check"]["samples"] == "samples.npz:x"


@pytest.mark.gxx
def test_fixedtype_options_give_the_byte_identical_project(readme_run):
    """Types given as FixedType (and types={}) compile exactly what the strings compile: recompiled
    into the README project's directory (hls4ml's files name it), every file is unchanged."""
    ns, work = readme_run
    d = os.path.join(work, ns["p"].dir)
    before = files(d)
    equihls.compile(MODEL, output_dir=d, input_type=FixedType.parse(CARD_INPUT),
                    default_type=FixedType.parse("ap_fixed<18,8,AP_RND>"), types={},
                    samples=f"{SAMPLES}:x", **QUIET)
    after = files(d)
    assert sorted(before) == sorted(after) and len(before) > 100
    assert [k for k in before if before[k] != after[k]] == []


@pytest.mark.gxx
def test_modelproto_and_numpy_samples(readme_run):
    """An onnx.ModelProto with the samples as a numpy array ({input: array}) gives the firmware,
    testbench and types of the path-and-file compile; the manifest names the in-memory model."""
    ns, work = readme_run
    d = os.path.join(work, ns["p"].dir)
    ref, before = equihls.load(d), files(d)
    x = ns["jets"][:32]
    y_ref = ref.predict(x)
    proto = onnx.load(MODEL)
    p = equihls.compile(proto, output_dir=d, input_type=CARD_INPUT, samples={"x": ns["jets"]}, **QUIET)
    after = files(d)
    assert sorted(before) == sorted(after)
    differ = sorted(k for k in before if before[k] != after[k])
    assert differ == [LAYOUT.manifest], differ      # firmware, tb_data, samples, source model: identical
    ma, mb = ref.manifest, p.manifest
    assert mb["model"]["file"] == f"{proto.graph.name}.onnx" and mb["self_check"]["samples"] == "numpy arrays"
    for k in ("tensors", "nodes", "estimate", "inputs", "outputs", "options", "overflow"):
        assert ma[k] == mb[k], k
    assert np.array_equal(p.predict(x), y_ref)


@pytest.mark.gxx
def test_check_writes_the_json_the_cli_writes(readme_run, capsys):
    """Project.check and `equihls check DIR` write the same equihls_check.json (wall-clock timing aside)."""
    ns, work = readme_run
    d = os.path.join(work, ns["p"].dir)
    cert = os.path.join(d, LAYOUT.certificate)
    rep = equihls.load(d).check(n_events=64)
    from_api = open(cert).read()
    assert cli.main(["check", d, "--events", "64", "-q"]) == 0
    from_cli = open(cert).read()
    a, b = json.loads(from_api), json.loads(from_cli)
    assert a.pop("timing").keys() == b.pop("timing").keys()
    assert a == b and a["events"] == 64 and a["passed"]
    assert json.dumps(rep, indent=1, sort_keys=True) == from_api     # the returned report is the file


@pytest.mark.parametrize("options, message", [
    (dict(input_type="ap_fixed<200,8>"), "--input-type: 'ap_fixed<200,8>' is 200 bits wide"),
    (dict(default_type="ap_fixed<8,10>"), "--default-type: 'ap_fixed<8,10>' has 10 integer bits"),
    (dict(types={"t": "ap_fixd<8,2>"}), "--type t: "),
    (dict(target="vu99"), "unknown target"),
])
def test_bad_options_raise_the_cli_message(options, message, capsys):
    """The API's error is the line the CLI prints after 'equihls: error: ' (same option, same words)."""
    with pytest.raises(equihls.errors.EquihlsError) as e:
        equihls.compile(MODEL, **options)
    assert message in str(e.value)
    argv = ["compile", MODEL]
    for k, v in options.items():
        argv += [f"--{k.replace('_', '-')}", v] if k != "types" else [f"--type={kk}={vv}" for kk, vv in v.items()]
    assert cli.main(argv) == cli.EXIT_USER_ERROR
    assert capsys.readouterr().err.strip() == f"equihls: error: {e.value}"


def test_bad_arguments_are_user_errors():
    with pytest.raises(OptionError, match="unknown compile option"):
        equihls.compile(MODEL, n_sample=3)
    with pytest.raises(OptionError, match="^argument --n-samples: must be a finite integer >= 1, got '0'$"):
        equihls.compile(MODEL, n_samples=0)        # argparse's words for `--n-samples 0`
    with pytest.raises(OptionError, match="^argument --clock-ns: must be a finite number > 0 ns, got '-1'$"):
        equihls.compile(MODEL, clock_ns=-1)
    with pytest.raises(OptionError, match="--input-type: expected a type"):
        equihls.compile(MODEL, input_type=16)
    with pytest.raises(ModelError, match="ONNX file path or an onnx.ModelProto"):
        equihls.compile(b"bytes")
    with pytest.raises(equihls.errors.EquihlsError, match="not an equihls project"):
        equihls.load(ROOT)


def test_import_equihls_is_light():
    """`import equihls` loads neither numpy nor onnx; the API resolves on first access."""
    code = ("import sys, equihls; heavy = [m for m in ('numpy', 'onnx', 'hls4ml') if m in sys.modules]; "
            "assert not heavy, heavy; assert callable(equihls.compile) and 'onnx' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})

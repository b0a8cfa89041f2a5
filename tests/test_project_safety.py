"""The output directory is never destroyed or mixed: foreign dirs refused, recompiles swap atomically,
killed/failed/concurrent compiles leave a consistent project, projects are byte-identical."""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import cli, project
from equihls.backend import csim, staging as pdir
from equihls.project import LAYOUT
from equihls.errors import EquihlsError
from tests.conftest import ROOT

FAST = ["--n-samples", "16"]


def _tiny(path, seed):
    """MatMul + Relu on a [B,4] input -> [B,3]; weights differ by seed (so models are told apart)."""
    w = np.random.default_rng(seed).normal(size=(4, 3)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                           helper.make_node("Relu", ["h"], ["y"], name="relu")], "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 3])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    onnx.save(m, str(path))
    return str(path)


def _snapshot(d):
    """{relative path: bytes} of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _compile(capsys, *args):
    """equihls compile through the CLI entry; (exit code, stderr)."""
    rc = cli.main(["compile", *args])
    return rc, capsys.readouterr().err


# runs the CLI with equihls.backend.staging.<argv[1]> paused: it touches argv[2], then sleeps (to be killed)
PAUSED = """import sys, time
from equihls import cli
from equihls.backend import staging as project_dir
orig = getattr(project_dir, sys.argv[1])
def paused(*a, **k):
    open(sys.argv[2], "w").close()
    time.sleep(60)
    return orig(*a, **k)
setattr(project_dir, sys.argv[1], paused)
sys.exit(cli.main(sys.argv[3:]))
"""


def _popen(model, out, tmpdir, *extra, pause=None, flag=None):
    """`equihls compile model -o out` in a subprocess (TMPDIR=tmpdir); pause: see PAUSED."""
    env = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmpdir))
    head = [sys.executable, "-c", PAUSED, pause, flag] if pause else [sys.executable, "-m", "equihls"]
    return subprocess.Popen([*head, "compile", model, "-o", out, *FAST, *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _staging(out):
    """The DIR.partial.<pid> trees beside out."""
    return [p for kind, p in pdir._leftovers(os.path.realpath(out)) if kind == "partial"]


def _wait_for(cond, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def _consistent(d, models):
    """Assert d is a complete project whose firmware is the model its manifest names; returns that model."""
    man = json.load(open(os.path.join(d, "equihls.json")))
    named = [m for m in models if _sha(m) == man["model"]["sha256"]]
    assert len(named) == 1 and _sha(os.path.join(d, "equihls_source.onnx")) == man["model"]["sha256"]
    x = np.loadtxt(os.path.join(d, "tb_data", "tb_input_features.dat"), ndmin=2)
    y_tb = np.loadtxt(os.path.join(d, "tb_data", "tb_output_predictions.dat"), ndmin=2)
    y = project.Project(d).run(x)[0]
    assert np.allclose(y, y_tb, atol=1e-6)            # firmware and tb_data agree
    ref = {m: ort.InferenceSession(m).run(None, {"x": x.astype(np.float32)})[0] for m in models}
    errs = {m: np.abs(y - r).max() / np.abs(r).max() for m, r in ref.items()}      # relative to the output scale
    assert errs[named[0]] < 0.01 < min(e for m, e in errs.items() if m != named[0])   # ... and are that model
    return named[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return _tiny(d / "a.onnx", 0), _tiny(d / "b.onnx", 1)


@pytest.fixture(scope="module")
def base(models, tmp_path_factory):
    """A good project of model a: (dir, snapshot of its files, C-sim outputs on fixed events)."""
    d = str(tmp_path_factory.mktemp("base") / "prj")
    assert cli.main(["compile", models[0], "-o", d, *FAST]) == 0
    x = np.random.default_rng(5).uniform(-4, 4, size=(32, 4))
    return d, _snapshot(d), x, project.Project(d).run(x)[0]


def _intact(base):
    d, snap, x, y = base
    now = _snapshot(d)
    assert sorted(k for k in set(now) | set(snap) if now.get(k) != snap.get(k)) == []
    assert np.array_equal(project.Project(d).run(x)[0], y)


@pytest.mark.gxx
def test_foreign_dir_refused_and_force_keeps_its_files(models, tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("my data")
    rc, err = _compile(capsys, models[0], "-o", str(d), *FAST)
    assert rc == 2 and str(d) in err and "not an equihls project" in err and "--force" in err
    assert "Traceback" not in err and os.listdir(d) == ["notes.txt"] and (d / "notes.txt").read_text() == "my data"
    assert not _staging(str(d))
    rc, err = _compile(capsys, models[0], "-o", str(d), *FAST, "--force")
    assert rc == 0, err
    assert (d / "notes.txt").read_text() == "my data" and (d / "equihls.json").exists()
    _consistent(str(d), models)


@pytest.mark.parametrize("where", ["cwd", "parent"])
def test_output_never_the_current_directory(models, tmp_path, capsys, monkeypatch, where):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.onnx").write_bytes(open(models[0], "rb").read())
    monkeypatch.chdir(tmp_path / "sub")
    rc, err = _compile(capsys, "model.onnx", "-o", "." if where == "cwd" else "..", *FAST, "--force")
    assert rc == 2 and "current directory" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path / "sub")) == ["model.onnx"]


@pytest.mark.gxx
def test_recompile_is_byte_identical_and_swaps_in_place(models, base, capsys):
    d = base[0]
    rc, err = _compile(capsys, models[0], "-o", d, *FAST)
    assert rc == 0, err
    _intact(base)           # every file, including build.log and equihls_csim.so, is byte-identical
    cfg = open(os.path.join(d, "hls4ml_config.yml")).read()
    assert ".partial" not in cfg and "tb_data/tb_input_features.dat" in cfg
    assert not [n for n in os.listdir(os.path.dirname(d)) if n.startswith("prj.")]   # no leftovers


@pytest.mark.gxx
def test_failed_recompile_keeps_previous_project(models, base, capsys):
    d = base[0]
    rc, err = _compile(capsys, models[1], "-o", d, *FAST, "--type", "y=ap_fixed<4,1>")
    assert rc == 2 and "overflow" in err and d + ".rejected" in err
    _intact(base)
    assert not os.path.exists(os.path.join(d + ".rejected", "equihls.json"))
    assert os.path.exists(os.path.join(d + ".rejected", "overflow_trace.json")) and not _staging(d)


@pytest.mark.parametrize("point", ["hls4ml", "g++", "before-swap", "after-swap"])
@pytest.mark.gxx
def test_sigkill_keeps_previous_project(models, base, tmp_path, point):
    """SIGKILL a recompile of model b into the project of model a: up to the swap, a stays
    byte-identical and usable; after the atomic swap the project is a complete b."""
    d = base[0]
    flag = str(tmp_path.parent / f"{tmp_path.name}.reached")
    hook = {"before-swap": "_exchange", "after-swap": "_dispose"}.get(point)
    p = _popen(models[1], d, tmp_path, pause=hook, flag=flag)
    if point == "hls4ml":                    # staging dir just created, hls4ml about to write
        assert _wait_for(lambda: _staging(d), p)
    elif point == "g++":
        assert _wait_for(lambda: any(os.path.exists(os.path.join(s, "build.log")) for s in _staging(d)), p)
        time.sleep(0.3)
    else:                                    # passed, paused just before / just after the exchange
        assert _wait_for(lambda: os.path.exists(flag), p), p.communicate()
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL
    time.sleep(0.3)
    assert not [f for f in os.listdir(tmp_path) if f.startswith("equihls_csim_")]       # no leaked .so
    assert "g++" not in _stray(d)             # the g++ driver died with it; nothing will link ...
    t0 = time.time()
    while _stray(d) and time.time() - t0 < 90:  # ... and a running cc1plus finishes its unit and exits
        time.sleep(0.2)
    assert not _stray(d)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(("equihls", "cc"))]   # nor g++'s temp files
    if point == "after-swap":
        assert _consistent(d, models) == models[1]
        pdir.recover(d)                                                   # the old tree goes
        assert not pdir._leftovers(os.path.realpath(d)) and _consistent(d, models) == models[1]
        assert cli.main(["compile", models[0], "-o", d, *FAST]) == 0      # restore a for the other tests
    _intact(base)
    pdir.recover(d)                                                       # leftovers are ours and go
    assert not pdir._leftovers(os.path.realpath(d))
    _intact(base)


def _stray(d):
    """Names (comm) of processes still running in a staging dir of d."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(d + ".partial"):
                out.append(open(f"/proc/{pid}/comm").read().strip())
        except OSError:
            pass
    return out


@pytest.mark.gxx
def test_concurrent_compiles_never_mix(models, tmp_path):
    d = str(tmp_path / "shared")
    ps = [_popen(m, d, tmp_path) for m in models]
    res = [(p.communicate()[1], p.returncode)[::-1] for p in ps]
    codes = sorted(rc for rc, _ in res)
    assert codes in ([0, 0], [0, 2]), res
    for rc, err in res:
        if rc == 2:
            assert "another equihls compile (pid" in err and d in err and "Traceback" not in err
    _consistent(d, models)


def test_locked_output_is_refused_naming_the_holder(models, tmp_path, capsys):
    d = str(tmp_path / "busy")
    with pdir.scope():
        pdir.open_output(d)
        rc, err = _compile(capsys, models[0], "-o", d, *FAST)
    assert rc == 2 and f"pid {os.getpid()}" in err and d in err
    assert not os.path.exists(d)


def test_unwritable_output_paths_are_errors(models, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    for out in (str(f / "prj"), "/proc/equihls_prj", str(f)):
        rc, err = _compile(capsys, models[0], "-o", out, *FAST)
        assert rc == 2 and out in err and "Traceback" not in err, (out, err)
    assert f.read_text() == "x"
    if os.geteuid() != 0:                    # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        rc, err = _compile(capsys, models[0], "-o", str(ro / "prj"), *FAST)
        assert rc == 2 and str(ro) in err


def test_full_disk_while_writing_is_an_error(models, tmp_path, capsys, monkeypatch):
    def full(staging, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(staging, "hls4ml_config.yml"))
    monkeypatch.setattr(pdir, "fix_hls4ml_files", full)
    d = str(tmp_path / "p")
    with pytest.raises(EquihlsError, match="No space left on device") as first:
        project.compile_model(models[0], output_dir=d, n_samples=16, log=lambda *a: None)
    assert "p.partial." in str(first.value) and not os.path.exists(d)
    # `first` keeps the failed call's frame alive; its lock was released all the same
    rc, err = _compile(capsys, models[0], "-o", d, *FAST)
    assert rc == 2 and "No space left on device" in err and "hls4ml_config.yml" in err and "Traceback" not in err


def test_hls4ml_stamp_and_paths_are_deterministic(tmp_path):
    """hls4ml's random stamp (quoted by its yaml when all digits) becomes one hash of the rest."""
    results = set()
    for k, stamp in enumerate(["3f2a9c1d", "'12345678'"]):
        s = str(tmp_path / f"p.partial.{k}")
        _tree(s, {"hls4ml_config.yml": f"InputData: /tmp/x/.tb/x.npy\nOutputDir: {s}\nStamp: {stamp}\nVersion: 1\n",
                  "build_lib.sh": f"PROJECT=myproject\nLIB_STAMP={stamp.strip(chr(39))}\n"})
        pdir.fix_hls4ml_files(s, str(tmp_path / "p"))
        cfg, lib = open(os.path.join(s, "hls4ml_config.yml")).read(), open(os.path.join(s, "build_lib.sh")).read()
        new = json.loads(cfg.split("Stamp: ")[1].split("\n")[0])
        assert f"LIB_STAMP={new}\n" in lib
        assert cfg.startswith('InputData: "tb_data/tb_input_features.dat"\nOutputDir: "' + str(tmp_path / "p") + '"')
        results.add((cfg, lib))
    assert len(results) == 1


def test_hung_gxx_times_out_naming_the_log(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "g++").write_text("#!/bin/sh\nsleep 60\n")
    (fake / "g++").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setenv("EQUIHLS_GXX_TIMEOUT", "1")
    log = str(tmp_path / "build.log")
    t0 = time.time()
    with pytest.raises(EquihlsError, match="within 1 s.*build.log"):
        csim.build(str(tmp_path), "myproject", log)
    assert time.time() - t0 < 20
    monkeypatch.setenv("EQUIHLS_GXX_TIMEOUT", "soon")
    with pytest.raises(EquihlsError, match="EQUIHLS_GXX_TIMEOUT"):
        csim.build(str(tmp_path), "myproject", log)


# --- the directory logic on small fake trees (no compile) -------------------------------------

def _tree(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)


MANIFEST = json.dumps({"inputs": [], "outputs": []})


def test_dispose_removes_only_what_equihls_wrote(tmp_path):
    old, new = str(tmp_path / "p.old.1"), str(tmp_path / "p")
    _tree(old, {"equihls.json": "old", "firmware/a.h": "", "equihls_check.json": "", "notes.txt": "mine",
                "myproject_prj/solution1/x.rpt": "vitis"})
    _tree(new, {"equihls.json": "new", "firmware/b.h": ""})
    pdir._dispose(old, new, log=lambda *a: None)
    assert not os.path.exists(old)
    assert sorted(os.listdir(new)) == ["equihls.json", "firmware", "myproject_prj", "notes.txt"]
    assert os.listdir(os.path.join(new, "firmware")) == ["b.h"] and open(os.path.join(new,
                                                                                      "notes.txt")).read() == "mine"


def test_forced_foreign_tree_loses_nothing(tmp_path):
    old, new = str(tmp_path / "p.old.1"), str(tmp_path / "p")
    _tree(old, {"notes.txt": "mine", "firmware/user.txt": "also mine"})
    _tree(new, {"equihls.json": "new", "firmware/b.h": ""})
    pdir._dispose(old, new, log=lambda *a: None)
    assert open(os.path.join(new, "notes.txt")).read() == "mine"
    assert open(os.path.join(new + ".before-equihls", "firmware", "user.txt")).read() == "also mine"


def test_fallback_rename_install_and_recovery_after_a_kill(tmp_path, monkeypatch):
    d = str(tmp_path / "p")
    _tree(d, {"equihls.json": MANIFEST, "firmware/old.h": ""})
    monkeypatch.setattr(pdir, "_exchange", lambda a, b: False)        # a filesystem without RENAME_EXCHANGE
    _tree(d + ".rejected", {LAYOUT.staging_marker: "rejected"})          # an earlier failure: superseded
    with pdir.scope():
        out = pdir.open_output(d, log=lambda *a: None)
        s = out.stage()
        _tree(s, {"equihls.json": MANIFEST, "firmware/new.h": ""})
        out.install(s)
    assert os.listdir(os.path.join(d, "firmware")) == ["new.h"] and sorted(os.listdir(tmp_path)) == [".p.equihls-lock",
                                                                                                     "p"]
    # a kill between the two renames: DIR moved aside, the passed staging tree not yet renamed
    os.rename(d, d + ".old.4242")
    _tree(d + ".partial.4242", {"equihls.json": MANIFEST, "firmware/newer.h": ""})
    p = project.Project(d)                                              # recovers: the previous project
    assert p.manifest == json.loads(MANIFEST) and os.listdir(os.path.join(d, "firmware")) == ["new.h"]
    assert sorted(os.listdir(tmp_path)) == [".p.equihls-lock", "p"]


def test_leftovers_removed_only_when_marked(tmp_path):
    d = str(tmp_path / "p")
    _tree(d, {"equihls.json": MANIFEST})
    _tree(d + ".partial.7", {LAYOUT.staging_marker: "partial", "firmware/x.h": ""})    # ours: an unfinished build
    _tree(d + ".rejected", {"notes.txt": "a user's dir that happens to have this name"})
    pdir.recover(d)
    assert not os.path.exists(d + ".partial.7")
    s = str(tmp_path / "staged")
    _tree(s, {LAYOUT.staging_marker: "partial", "firmware/x.h": ""})
    where = pdir.reject(s, d, "why.json", {"passed": False})
    assert open(os.path.join(d + ".rejected", "notes.txt")).read().startswith("a user's")
    assert where.startswith(d + ".rejected.") and os.path.exists(os.path.join(where, "why.json"))
    e = str(tmp_path / "e")                   # equihls' own (marked) .rejected is replaced
    _tree(e + ".rejected", {LAYOUT.staging_marker: "rejected", "old.txt": ""})
    _tree(s, {LAYOUT.staging_marker: "partial", "new.txt": ""})
    assert pdir.reject(s, e, "why.json", {}) == e + ".rejected"
    assert sorted(os.listdir(e + ".rejected")) == [LAYOUT.staging_marker, "new.txt", "why.json"]

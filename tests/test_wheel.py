"""A real package (issue 12, point 7): the wheel built from the repository carries every
ip_blocks/*.h header (mapped to equihls/ip_blocks) and its metadata, and once installed without
`-e` into a fresh venv, its `equihls` console script compiles the demo model with the Makefile's
demo options. The fresh venv borrows the running venv's dependencies through a .pth file (no
downloads); the running venv's editable equihls must not be what it imports."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.conftest import ROOT

# the files a wheel is built from (a copy, so the build leaves nothing in the working tree)
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "equihls", "ip_blocks")


def _makefile_var(name: str) -> str:
    """The value of `NAME := value` in the repository's Makefile."""
    text = open(os.path.join(ROOT, "Makefile")).read()
    return re.search(rf"^{name}\s*:=\s*(.+?)\s*$", text, re.M).group(1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Path of the wheel built by the running venv's pip from a copy of the sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, cwd=str(tmp))
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = glob.glob(str(tmp / "dist" / "equihls-*.whl"))
    return whl


@pytest.mark.slow          # pip builds a wheel
def test_wheel_has_headers_and_metadata(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    headers = sorted(os.path.basename(h) for h in glob.glob(os.path.join(ROOT, "ip_blocks", "*.h")))
    assert headers and all(f"equihls/ip_blocks/{h}" in names for h in headers), names
    # every subpackage with an __init__.py is in (found, not listed by hand)
    inits = glob.glob(os.path.join(ROOT, "equihls", "**", "__init__.py"), recursive=True)
    pkgs = sorted(os.path.relpath(os.path.dirname(p), ROOT) for p in inits)
    assert all(f"{p}/__init__.py" in names for p in pkgs), pkgs
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    assert "License-Expression: Apache-2.0" in meta and "Author: equihls developers" in meta
    assert "Classifier: Topic :: Scientific/Engineering :: Physics" in meta and "Keywords:" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "equihls = equihls.cli:main" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()


@pytest.mark.slow
@pytest.mark.gxx
def test_installed_wheel_compiles_the_demo_model(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # dependencies from the running venv: a plain path in a .pth is appended to sys.path after the
    # new venv's site-packages; the .pth files inside it (the editable equihls) are not processed
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, env=env, check=True).stdout.strip()
    with open(os.path.join(site, "equihls_test_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "work"            # outside the repository: '' on sys.path must not find it
    work.mkdir()
    r = subprocess.run([py, "-c", "import equihls, equihls.backend.extension as e; print(equihls.__file__); "
                        "print(e.IP_DIR)"], capture_output=True, text=True, env=env, cwd=str(work))
    assert r.returncode == 0, r.stderr
    mod, ip_dir = r.stdout.split()
    assert mod.startswith(str(venv)) and ip_dir == os.path.join(site, "equihls", "ip_blocks"), r.stdout
    out = work / "prj"
    r = subprocess.run([str(venv / "bin" / "equihls"), "compile", os.path.join(ROOT, _makefile_var("DEMO_MODEL")),
                        "--target", "vu9p", "--input-type", _makefile_var("DEMO_INPUT"),
                        "--samples", os.path.join(ROOT, _makefile_var("DEMO_SAMPLES")), "-o", str(out)],
                       capture_output=True, text=True, env=env, cwd=str(work))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = json.load(open(out / "equihls.json"))
    assert m["self_check"]["passed"] and m["model"]["file"] == "deepsets_pairs.onnx"
    assert m["inputs"][0]["type"] == _makefile_var("DEMO_INPUT")
    assert set(os.listdir(ip_dir)) <= set(os.listdir(out / "firmware" / "nnet_utils"))   # headers from the wheel
    assert os.path.exists(out / "equihls_csim.so")

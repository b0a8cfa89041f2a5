"""Byte-for-byte fingerprint of every shipped model's project (firmware, manifest, tb_data).

    python benchmarks/project_fingerprint.py --write FILE     # record sha256 of every project file
    python benchmarks/project_fingerprint.py --compare FILE   # recompile; exit 1 on any difference

Each ZOO model is compiled for vu9p with its card's options into a fresh temporary directory.
Every file is hashed except the C-sim shared object (a g++ product, not part of the project),
with the project's absolute path replaced by ``<PROJECT>`` (hls4ml writes it into
``hls4ml_config.yml`` and ``build_lib.sh``; each run compiles into a new temporary directory), and
the manifest which is hashed with its ``passes`` entry (the pass log: a refactor that adds
named passes changes it, and nothing the firmware computes) listed separately.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import ZOO, compile_zoo  # noqa: E402

SKIP = {"equihls_csim.so"}
MANIFEST = "equihls.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(project: str) -> dict:
    """{relative path: sha256} of a project directory; the manifest without its pass log."""
    out = {}
    paths = sorted({os.path.abspath(project).encode(), os.path.realpath(project).encode()}, key=len, reverse=True)
    for root, dirs, files in os.walk(project):
        dirs.sort()
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(root, f), project)
            if rel in SKIP:
                continue
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            for p in paths:
                data = data.replace(p, b"<PROJECT>")
            if rel == MANIFEST:
                manifest = json.loads(data)
                out["equihls.json:passes"] = manifest.pop("passes", None)
                data = json.dumps(manifest, sort_keys=True, indent=1).encode()
            out[rel] = _sha(data)
    return out


def zoo_fingerprints(names=None) -> dict:
    result = {}
    for name in names or sorted(ZOO):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, f"{name}_vu9p")
            compile_zoo(name, out, log=lambda *a, **k: None)
            result[name] = fingerprint(out)
        print(f"{name}: {len(result[name])} files", flush=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="FILE")
    ap.add_argument("--compare", metavar="FILE")
    ap.add_argument("--models", nargs="*")
    a = ap.parse_args(argv)
    got = zoo_fingerprints(a.models)
    if a.write:
        with open(a.write, "w") as fh:
            json.dump(got, fh, indent=1, sort_keys=True)
            fh.write("\n")
    if a.compare:
        with open(a.compare) as fh:
            want = json.load(fh)
        bad = 0
        for name in got:
            for rel in sorted(set(want.get(name, {})) | set(got[name])):
                w, g = want.get(name, {}).get(rel), got[name].get(rel)
                if rel.endswith(":passes"):
                    if w != g:
                        print(f"{name}: pass log {w} -> {g} (reported, not a difference in the project)")
                    continue
                if w != g:
                    bad += 1
                    print(f"DIFFERS {name}/{rel}: {w} -> {g}")
        print(f"{sum(len(v) for v in got.values())} files compared, {bad} differ")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

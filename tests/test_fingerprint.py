"""The project of a shipped model is byte-identical to the recording in
benchmarks/fingerprints/zoo_vu9p.json (made before the issue-13 refactor; benchmarks/project_fingerprint.py
checks every model). A change that alters firmware on purpose re-records it with --write."""
import json
import os
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import project_fingerprint  # noqa: E402


@pytest.mark.gxx
def test_so3_cg_project_is_byte_identical_to_the_recording():
    with open(os.path.join(ROOT, "benchmarks", "fingerprints", "zoo_vu9p.json")) as f:
        want = json.load(f)["so3_cg"]
    got = project_fingerprint.zoo_fingerprints(["so3_cg"])["so3_cg"]
    # build.log records the g++ command, and under the tests g++ is conftest's recording wrapper
    skip = ("build.log",)
    differ = sorted(k for k in set(want) | set(got)
                    if not k.endswith(":passes") and k not in skip and want.get(k) != got.get(k))
    assert not differ, f"files that differ from the recording: {differ}"
    assert len(got) > 100      # firmware, weights, tb_data, manifest: the whole project was compared

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from models.deepsets_pairs import ONNX_PATH as MODEL, SAMPLES_PATH as SAMPLES  # noqa: E402


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The bundled model compiled for vu9p once per session: (project dir, manifest)."""
    from equihls import project

    d = str(tmp_path_factory.mktemp("demo") / "ds_vu9p")
    m = project.compile_model(MODEL, target="vu9p", output_dir=d, samples=SAMPLES, log=lambda *a: None)
    return d, m

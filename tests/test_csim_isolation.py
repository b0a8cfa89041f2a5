"""Two projects loaded in one process must not share code: each keeps its own tables/weights."""
import numpy as np
import pytest

from equihls import project
from tests.test_compile import MODEL, QUIET

pytestmark = pytest.mark.gxx


def test_two_projects_in_one_process_stay_independent(tmp_path):
    a = project.compile_model(MODEL, output_dir=str(tmp_path / "a"), n_samples=32, input_type="ap_fixed<16,12>",
                              **QUIET)
    b = project.compile_model(MODEL, output_dir=str(tmp_path / "b"), n_samples=32, input_type="ap_fixed<14,12>",
                              default_type="ap_fixed<14,6,AP_TRN>", **QUIET)
    assert a["self_check"]["passed"] and b["self_check"]["passed"]
    x = np.load(MODEL.replace("deepsets_pairs.onnx", "samples.npz"))["x"][:64].astype(np.float64)
    pa, pb = project.Project(str(tmp_path / "a")), project.Project(str(tmp_path / "b"))
    ya, yb = pa.run(x)[0], pb.run(x)[0]
    ya2 = project.Project(str(tmp_path / "a")).run(x)[0]
    assert np.array_equal(ya, ya2) and not np.array_equal(ya, yb)

"""L-GATr pieces from the `lgatr` package's public API (issue 14, point 6): EquiLinear, the
geometric bilinear, one L-GATr block with attention, a scalar readout. Each is exported with both
torch exporters, unmodified, compiled, self-checked, certified (perm + lorentz) and compared with
torch in the C simulation (tests/peer/lorentz_harness.py)."""
import pytest

pytest.importorskip("lgatr")
pytest.importorskip("torch")
pytest.importorskip("onnxscript")          # the dynamo exporter needs it

from tests.exporters import EXPORTERS  # noqa: E402
from tests.peer.lorentz_harness import assert_user_story  # noqa: E402

@EXPORTERS
@pytest.mark.gxx
def test_equilinear(tmp_path, capsys, dynamo):
    """Vector part of EquiLinear on (x_i, J): an equivariant four-vector per particle."""
    assert_user_story(tmp_path, capsys, "lgatr_equilinear", dynamo)


@EXPORTERS
@pytest.mark.gxx
def test_scalar_readout(tmp_path, capsys, dynamo):
    """EquiLinear, lgatr's inner product per channel, mean over particles, Linear."""
    assert_user_story(tmp_path, capsys, "lgatr_readout", dynamo)


@EXPORTERS
@pytest.mark.gxx
@pytest.mark.xfail(strict=False, reason="open (issue 14): dynamo: a grid table's input wider than 63 bits (fixed "
                   "since, not re-measured); torchscript: torch's exporter reads a FakeTensor's data in lgatr")
def test_geometric_bilinear(tmp_path, capsys, dynamo):
    """GeometricBilinear (geometric product + EquiLayerNorm), scalar components per particle."""
    assert_user_story(tmp_path, capsys, "lgatr_bilinear", dynamo)


@EXPORTERS
@pytest.mark.gxx
def test_lgatr_block_with_attention(request, tmp_path, capsys, dynamo):
    """EquiLinear -> LGATrBlock (geometric self-attention, geometric MLP) -> EquiLinear -> scalar mean."""
    if dynamo:      # attention: q.k^T and softmax(.).v are products of two runtime tensors
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
            "equihls: error: 2 nodes have no equihls lowering: MatMul x2 (first 'node_MatMul_395': both inputs "
            "are runtime tensors and no equihls pattern matched)")))
    else:           # torch's TorchScript exporter itself fails, in lgatr's EquiLayerNorm

        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "torch.onnx (dynamo=False): SymbolicValueError: Failed to export a node 'onnx::Gather[axis=0]' "
            "in lgatr.layers.layer_norm.EquiLayerNorm::norm1")))
    assert_user_story(tmp_path, capsys, "lgatr_block", dynamo)

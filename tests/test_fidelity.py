"""A PASS means the firmware computes the model: constants keep their relative precision, and
the self-check judges C-sim against the float model on raw inputs, so a firmware whose constants
or types destroyed the model cannot pass (issue: a 1e-4 scale rounded to 0 gave a constant
output and the old envelope check still said PASS)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls.precision import infer as precision
from equihls import project
from equihls.errors import PrecisionError, SelfCheckError
from equihls.ir.fixedpoint import FixedType, quantize_const
from models.common import auc as roc_auc
from tests.conftest import SAMPLES

torch = pytest.importorskip("torch")

N_TRAIN = 256


class PelicanScaled(torch.nn.Module):
    """A PELICAN-style tagger as a user would write it: the Gram matrix scaled by 1e-4 (GeV^2 ->
    units of 1e4 GeV^2), six Eq2to2 aggregations mixed to C channels, ReLU, the Eq2to0 sums
    normalised by a non-dyadic N_avg, and a linear layer to one logit."""

    def __init__(self, n: int = 16, c: int = 4, n_avg: float = 49.0):
        super().__init__()
        self.n, self.n_avg = n, n_avg
        self.register_buffer("eta", torch.tensor([1.0, -1.0, -1.0, -1.0]))
        self.register_buffer("eye", torch.eye(n))
        self.mix = torch.nn.Linear(6, c)
        self.out = torch.nn.Linear(2 * c, 1)

    def forward(self, x):
        d = torch.matmul(x * self.eta, x.transpose(1, 2)) * 1e-4          # [B,N,N]
        r = d.sum(dim=2, keepdim=True)                                     # [B,N,1]
        t = r.sum(dim=1, keepdim=True)                                     # [B,1,1]
        dd = (d * self.eye).sum(dim=2, keepdim=True)                       # [B,N,1]
        ones = torch.ones_like(d)
        agg = torch.stack([d, r * ones, r.transpose(1, 2) * ones, t * ones, dd * self.eye, r * self.eye], dim=-1)
        h = torch.relu(self.mix(agg))                                      # [B,N,N,C]
        s_all = h.sum(dim=(1, 2)) / (self.n_avg ** 2)
        s_dia = (h * self.eye.unsqueeze(-1)).sum(dim=(1, 2)) / self.n_avg
        return self.out(torch.cat([s_all, s_dia], dim=-1))


@pytest.fixture(scope="module")
def pelican_scaled(tmp_path_factory):
    """(onnx path, jets x, labels y, float logits): trained for a few seconds on the first
    N_TRAIN shipped Pythia jets (seeded), exported with the TorchScript exporter."""
    data = np.load(SAMPLES)
    x, y = data["x"].astype(np.float32), data["y"].astype(np.float32)
    torch.manual_seed(0)
    m = PelicanScaled()
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    xt, yt = torch.from_numpy(x[:N_TRAIN]), torch.from_numpy(y[:N_TRAIN])
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(m(xt)[:, 0], yt)
        loss.backward()
        opt.step()
    path = str(tmp_path_factory.mktemp("pelican") / "pelican_scaled.onnx")
    torch.onnx.export(m, (xt[:2],), path, input_names=["x"], output_names=["logit"],
                      dynamic_axes={"x": {0: "b"}, "logit": {0: "b"}}, dynamo=False)
    with torch.no_grad():
        logits = m(torch.from_numpy(x)).numpy()[:, 0]
    return path, x, y, logits


@pytest.mark.gxx
def test_scaled_pelican_compiles_with_defaults_and_keeps_its_auc(pelican_scaled, tmp_path):
    path, x, y, logits = pelican_scaled
    held = slice(N_TRAIN, None)
    auc_float = roc_auc(logits[held], y[held])
    assert auc_float > 0.8   # the model learned something, so the AUC comparison means something
    np.savez(tmp_path / "s.npz", x=x[:128])
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<18,12,AP_RND,AP_SAT>",
                              samples=str(tmp_path / "s.npz"), log=lambda *a: None)
    fid = m["self_check"]["fidelity"]
    assert fid["passed"] and fid["outputs"]["logit"]["rel_rms"] < 0.05
    # the 1e-4 scale kept its significant bits instead of rounding to 0
    scale = [t for t in m["options"]["rounded_constants"]]
    assert scale == []
    y_csim = project.Project(str(tmp_path / "p")).run(x[held])[0][:, 0]
    assert np.std(y_csim) > 0
    assert abs(roc_auc(y_csim, y[held]) - auc_float) < 0.005


@pytest.mark.gxx
def test_too_few_weight_bits_fail_naming_the_tensor(pelican_scaled, tmp_path):
    path, x, _, _ = pelican_scaled
    np.savez(tmp_path / "s.npz", x=x[:64])
    with pytest.raises(SelfCheckError) as e:
        project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<18,12,AP_RND,AP_SAT>",
                              samples=str(tmp_path / "s.npz"), weight_bits=2, log=lambda *a: None)
    msg = str(e.value)
    assert "does not compute the float model" in msg and "'logit'" in msg
    assert "first diverging tensor" in msg.lower() and "try" in msg
    assert not (tmp_path / "p").exists() and (tmp_path / "p.rejected").exists()


def test_old_weight_frac_rounding_the_scale_to_zero_is_an_error_naming_it(pelican_scaled, tmp_path):
    """--weight-frac 12 is what rounded the 1e-4 scale to 0: now an error naming the constant,
    its node and its value (before any g++ run)."""
    path, x, _, _ = pelican_scaled
    with pytest.raises(PrecisionError) as e:
        project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<18,12,AP_RND,AP_SAT>",
                              weight_frac=12, log=lambda *a: None)
    msg = str(e.value)
    assert "rounds to 0" in msg and "0.0001" in msg and "read by" in msg and "--weight-bits" in msg


# ------------------------------------------------------------------ constants keep their precision
@pytest.mark.parametrize("value", [1e-4, 1e-6, 3.3e-5, 0.1, 1.0 / 49, 7.5, 1234.567, 1e4])
def test_constants_keep_relative_precision(value):
    c = np.array([value, -value / 3, value / 7])
    t, raw, err = quantize_const(c, 12)
    assert err <= 2.0 ** -12 * value * (1 + 1e-12)       # 12 significant bits of the largest value
    assert t.width <= 13 or value >= 2**12               # sign + 12 bits: no wider than before
    assert precision.const_precision_problem(c, raw, t, 12) is None


def test_exact_values_stay_exact():
    for c in ([2.0 ** -20], [0.75, -0.25, 3.0], [1024.0, 0.5], [0.0, 0.0]):
        t, raw, err = quantize_const(np.array(c), 12)
        assert err == 0.0, c
    t, _, _ = quantize_const(np.array([0.75, 0.5]), 12)
    assert t.frac == 2                                   # the fewest bits that represent it


def test_precision_problems_are_named():
    c = np.array([1e-4])
    t, raw, _ = quantize_const(c, 12, weight_frac=12)
    assert "rounds to 0" in precision.const_precision_problem(c, raw, t, 12)
    c = np.array([1.5e-4])
    t, raw, _ = quantize_const(c, 12, weight_frac=12)
    assert "relative error" in precision.const_precision_problem(c, raw, t, 12)


# ------------------------------------------------------------------ the self-check can fail
def _mlp(tmp_path, layers: int, width: int, scale: float, seed: int = 0) -> str:
    """An MLP [B, width] -> ... -> [B, 1] with N(0, scale^2) weights and ReLUs."""
    rng = np.random.default_rng(seed)
    nodes, inits, cur = [], [], "x"
    for k in range(layers):
        out_w = 1 if k == layers - 1 else width
        w = rng.normal(0, scale, size=(width, out_w)).astype(np.float32)
        b = rng.normal(0, scale, size=(out_w,)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [f"g{k}"], name=f"gemm{k}"))
        cur = f"g{k}"
        if k < layers - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"], name=f"relu{k}"))
            cur = f"r{k}"
    nodes.append(helper.make_node("Identity", [cur], ["y"], name="out"))
    gr = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", width])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 1])], inits)
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = str(tmp_path / f"mlp{layers}_{scale:g}.onnx")
    onnx.save(m, path)
    return path


@pytest.mark.gxx
def test_constant_output_never_passes(tmp_path):
    """A deep MLP with ordinary N(0, 1/8) weights: the default types round its activations to
    nothing after a few layers, so the firmware output is (nearly) constant. It must not pass."""
    path = _mlp(tmp_path, 12, 8, 8 ** -0.5)
    with pytest.raises(SelfCheckError) as e:
        project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<10,2>",
                              default_type="ap_fixed<10,4,AP_RND>", log=lambda *a: None)
    assert "'y'" in str(e.value) and "first diverging tensor" in str(e.value)


@pytest.mark.gxx
def test_uncorrelated_output_fails_and_names_the_cause(tmp_path):
    """Weights ~1e-4 (kept by the per-tensor binary point) but activations rounded to a coarse
    default type: output uncorrelated with float; the message names a tensor and a remedy."""
    path = _mlp(tmp_path, 3, 8, 1e-2)
    with pytest.raises(SelfCheckError) as e:
        project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<12,4>",
                              default_type="ap_fixed<8,6,AP_RND>", log=lambda *a: None)
    msg = str(e.value)
    assert "does not compute the float model" in msg and "--type" in msg


@pytest.mark.gxx
def test_faithful_mlp_passes_with_small_weights(tmp_path):
    """The same small-weight MLP with the default types is faithful: weights ~1e-2 keep 12
    significant bits, activations the default 10 fractional bits."""
    path = _mlp(tmp_path, 3, 8, 0.3)
    m = project.compile_model(path, output_dir=str(tmp_path / "p"), input_type="ap_fixed<12,4>",
                              log=lambda *a: None)
    r = m["self_check"]["fidelity"]["outputs"]["y"]
    assert r["passed"] and r["rel_rms"] < 0.05 and r["correlation"] > 0.99
    assert 0 < r["input_rel_rms"] < 0.05     # off-grid generated samples: the input type costs a little


def test_fidelity_criterion_on_synthetic_outputs():
    """fidelity() on hand-made outputs: constant firmware, noise and a faithful copy."""
    from equihls.verify import selfcheck

    class G:
        outputs = ["y"]

    class P:
        types = {"y": FixedType(16, 8)}

    rng = np.random.default_rng(0)
    yf = rng.normal(size=(100, 3))
    good = selfcheck.fidelity(G, P, [yf + 0.01 * rng.normal(size=yf.shape)], [yf], [yf])
    assert good["passed"] and good["outputs"]["y"]["correlation"] > 0.99
    const = selfcheck.fidelity(G, P, [np.full_like(yf, 0.1)], [yf], [yf])
    assert not const["passed"] and const["outputs"]["y"]["constant_output"]
    noise = selfcheck.fidelity(G, P, [rng.normal(size=yf.shape)], [yf], [yf])
    assert not noise["passed"] and abs(noise["outputs"]["y"]["correlation"]) < 0.3


@pytest.mark.gxx
def test_fine_sigmoid_is_not_refused_for_onnxruntimes_own_error(tmp_path):
    """ONNX Runtime's float32 Sigmoid is off by ~1e-7 absolute even where the value is tiny; with
    24 fractional bits the table is finer than that, and the envelope must allow for it."""
    rng = np.random.default_rng(1)
    w = (rng.normal(size=(4, 6)) * 3).astype(np.float32)
    gr = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                            helper.make_node("Sigmoid", ["h"], ["y"], name="sig")], "sig",
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 6])],
                           [numpy_helper.from_array(w, "w")])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "sig.onnx"))
    man = project.compile_model(str(tmp_path / "sig.onnx"), output_dir=str(tmp_path / "p"),
                                input_type="ap_fixed<16,4>", default_type="ap_fixed<32,8,AP_RND>", log=lambda *a: None)
    assert man["self_check"]["passed"] and man["self_check"]["outputs"]["y"]["n_beyond_bound"] == 0

"""The bad-input corpus (issue 12, point 6): every bad file, model, option value and sample array
goes through `equihls.cli.main` and must exit 2 with one line naming the problem, never a
traceback; an internal error exits 3 and says so; a closed stdout ends quietly. All but one
fixture fail before g++ runs; the valid-but-unusual model (float16, batch fixed to 8 in the file,
repeated node names, a shape chain that needs many folding rounds, samples given as FILE.npz:key)
is compiled once and its project reused for the output-path cases."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from equihls import cli
from equihls.frontend import onnx_import as frontend
from equihls.ir.fixedpoint import FixedType
from tests.conftest import MODEL, ROOT

VI = helper.make_tensor_value_info
F = TensorProto.FLOAT


def _save(d, name, nodes, inputs, outputs, inits=(), opset=17, domains=()):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)] + [helper.make_opsetid(x,
                                                                                                   1) for x in domains])
    m.ir_version = 8
    p = os.path.join(d, f"{name}.onnx")
    onnx.save(m, p)
    return p


def _w(name="W", shape=(4, 3), value=0.5, dtype=np.float32):
    return numpy_helper.from_array(np.full(shape, value, dtype), name)


def _mm(i="x", o="y", name="mm", w="W"):
    return helper.make_node("MatMul", [i, w], [o], name=name)


X = VI("x", F, ["batch", 5, 4])
Y = VI("y", F, ["batch", 5, 3])


def _shape_chain(levels: int, src: str = "x"):
    """`levels` rounds of Reshape(t, Abs(Shape(t))): the shape is static only once the previous
    round is folded (ONNX shape inference does not propagate values through Abs)."""
    nodes, prev = [], src
    for k in range(levels):
        nodes += [helper.make_node("Shape", [prev], [f"s{k}"], name=f"shape{k}"),
                  helper.make_node("Abs", [f"s{k}"], [f"a{k}"], name=f"abs{k}"),
                  helper.make_node("Reshape", [prev, f"a{k}"], [f"r{k}"], name=f"reshape{k}")]
        prev = f"r{k}"
    return nodes, prev


def _models(d) -> dict:
    """name -> path of every bad model (and of the plain good one, 'ok')."""
    p = {"ok": _save(d, "ok", [_mm()], [X], [Y], [_w()])}
    p["opset99"] = _save(d, "opset99", [_mm()], [X], [Y], [_w()], opset=99)
    p["dynamic"] = _save(d, "dynamic", [_mm()], [VI("x", F, ["batch", "n", 4])], [VI("y", F, ["batch", "n", 3])],
                         [_w()])
    p["int_input"] = _save(d, "int_input", [helper.make_node("Cast", ["x"], ["xf"], to=F, name="c"), _mm(i="xf")],
                           [VI("x", TensorProto.INT64, ["batch", 5, 4])], [Y], [_w()])
    p["zero_size"] = _save(d, "zero_size", [_mm()], [VI("x", F, ["batch", 0, 4])], [VI("y", F, ["batch", 0, 3])],
                           [_w()])
    p["rank1"] = _save(d, "rank1", [helper.make_node("Relu", ["x"], ["y"], name="r")], [VI("x", F, ["batch"])],
                       [VI("y", F, ["batch"])])
    p["output_twice"] = _save(d, "output_twice", [_mm()], [X], [Y, VI("y", F, ["batch", 5, 3])], [_w()])
    p["only_identity"] = _save(d, "only_identity", [helper.make_node("Identity", ["x"], ["y"], name="id")], [X],
                               [VI("y", F, ["batch", 5, 4])])
    p["output_initializer"] = _save(d, "output_initializer", [_mm()], [X], [Y, VI("W", F, [4, 3])], [_w()])
    p["output_is_input"] = _save(d, "output_is_input", [_mm()], [X], [Y, VI("x", F, ["batch", 5, 4])], [_w()])
    nan_w = numpy_helper.from_array(np.array([[0.5, np.nan, 1.0]] * 4, np.float32), "W")
    p["nan_weight"] = _save(d, "nan_weight", [_mm(name="dense1")], [X], [Y], [nan_w])
    inf_w = numpy_helper.from_array(np.array([[0.5, 1.0, np.inf]] * 4, np.float32), "W")
    p["inf_weight"] = _save(d, "inf_weight", [_mm(name="dense1")], [X], [Y], [inf_w])
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"], name="inner")], "then", [], [VI("t", F, None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="inner2")], "else", [], [VI("e", F, None)])
    # the condition is computed at run time (an If on a constant is inlined: tests/test_control_flow.py)
    p["if_node"] = _save(d, "if_node", [helper.make_node("Relu", ["x"], ["r"], name="pre"),
                                        helper.make_node("ReduceMax", ["x"], ["top"], name="top", keepdims=0),
                                        helper.make_node("Greater", ["top", "zero"], ["cond"], name="positive"),
                                        helper.make_node("If", ["cond"], ["z"], then_branch=then, else_branch=other,
                                                         name="my_if"), _mm(i="z")],
                         [X], [Y], [_w(), numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"], name="body_id"),
                              helper.make_node("Relu", ["x"], ["v"], name="body_relu")], "body",
                             [VI("i", TensorProto.INT64, []), VI("c_in", TensorProto.BOOL, [])],
                             [VI("c_out", TensorProto.BOOL, []), VI("v", F, None)])
    p["loop_node"] = _save(d, "loop_node", [helper.make_node("Loop", ["n", "cond"], ["z"], body=body, name="my_loop"),
                                            helper.make_node("ReduceSum", ["z", "ax"], ["y"], name="pool", keepdims=0)],
                           [X], [Y], [numpy_helper.from_array(np.array(2, np.int64), "n"),
                                      numpy_helper.from_array(np.array(True), "cond"),
                                      numpy_helper.from_array(np.array([0], np.int64), "ax")])
    sq = [helper.make_node("Mul", [a, a], [b], name=f"sq{k}") for k, (a, b) in
          enumerate(zip(["x", "p0", "p1", "p2"], ["p0", "p1", "p2", "p3"]))]
    p["too_wide"] = _save(d, "too_wide", sq + [helper.make_node("Relu", ["p3"], ["y"], name="out")], [X],
                          [VI("y", F, ["batch", 5, 4])])
    p["last_axis_8"] = _save(d, "last_axis_8", [_mm()], [VI("x", F, ["batch", 5, 8])], [Y], [_w(shape=(8, 3))])
    shape = numpy_helper.from_array(np.array([8, 20], np.int64), "shape")
    p["batch8_reshape"] = _save(d, "batch8_reshape", [helper.make_node("Reshape", ["x", "shape"], ["f"], name="flat"),
                                                      _mm(i="f", w="W20")],
                                [VI("x", F, [8, 5, 4])], [VI("y", F, [8, 3])], [shape, _w("W20", (20, 3))])
    qonnx = "qonnx.custom_op.general"
    p["quant_weight_mode"] = _save(d, "quant_weight_mode", [
        helper.make_node("Quant", ["W", "scale", "zp", "bits"], ["Wq"], name="qw", domain=qonnx, rounding_mode="WEIRD"),
        _mm(w="Wq")], [X], [Y], [_w(), *(numpy_helper.from_array(np.array(v, np.float32), n)
                                        for n, v in (("scale", 0.125), ("zp", 0.0), ("bits", 8.0)))], domains=[qonnx])
    ok = open(p["ok"], "rb").read()
    trunc = os.path.join(d, "truncated.onnx")
    open(trunc, "wb").write(open(MODEL, "rb").read()[:2000])
    p["truncated"] = trunc
    corrupt = bytearray(open(MODEL, "rb").read())
    for k in range(100, len(corrupt), 97):
        corrupt[k] ^= 0xFF
    p["corrupt"] = os.path.join(d, "corrupt.onnx")
    open(p["corrupt"], "wb").write(bytes(corrupt))
    p["not_onnx"] = os.path.join(d, "not_onnx.onnx")
    open(p["not_onnx"], "wb").write(ok[:7] + b"\x00garbage")
    return p


def _samples(d) -> dict:
    """name -> path of bad sample files for the 'ok' model (x: [batch, 5, 4])."""
    x = np.random.default_rng(0).uniform(-2, 2, (6, 5, 4))
    out = {}

    def save(name, a, **kw):
        out[name] = os.path.join(d, name + (".npz" if isinstance(a, dict) else ".npy"))
        if isinstance(a, dict):
            np.savez(out[name], **a)
        else:
            np.save(out[name], a, **kw)

    bad = x.copy()
    bad[3, 1, 1] = np.nan
    save("nan", bad)
    bad = x.copy()
    bad[4, 0, 2] = -np.inf
    save("inf", bad)
    save("shape", x[:, :, :3])
    save("complex", x + 0.5j)
    save("object", x.astype(object), allow_pickle=True)
    save("str", np.full((6, 5, 4), "a"))
    save("empty", x[:0])
    save("keyed", {"events": x})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("bad"))
    return d, _models(d), _samples(d)


def _run(capsys, argv):
    """(exit code, stdout, stderr) of cli.main(argv)."""
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# (case id, argv with {m[name]} model paths, {s[name]} sample paths, {d} the corpus folder,
#  expected exit code, substrings the message must contain)
CASES = [
    # files
    ("missing_file", ["compile", "{d}/nope.onnx"], 2, ["nope.onnx", "no such file"]),
    ("truncated_onnx", ["compile", "{m[truncated]}"], 2, ["truncated.onnx", "not a readable ONNX model"]),
    ("corrupt_onnx", ["compile", "{m[corrupt]}"], 2, ["corrupt.onnx"]),
    ("not_onnx", ["compile", "{m[not_onnx]}"], 2, ["not_onnx.onnx"]),
    # models
    ("opset99", ["compile", "{m[opset99]}"], 2, ["opset99.onnx", "opset 99", "26"]),
    ("dynamic_dim", ["compile", "{m[dynamic]}"], 2, ["input 'x' axis 1 is dynamic ('n'"]),
    ("int_input", ["compile", "{m[int_input]}"], 2, ["input 'x' has element type INT64"]),
    ("zero_size_dim", ["compile", "{m[zero_size]}"], 2, ["input 'x' has a zero-size axis 1", "[batch, 0, 4]"]),
    ("rank1_input", ["compile", "{m[rank1]}"], 2, ["input 'x' has rank 1", "[batch]"]),
    ("output_twice", ["compile", "{m[output_twice]}"], 2, ["output 'y' is listed 2 times"]),
    ("only_identity", ["compile", "{m[only_identity]}"], 2,
     ["output 'y' is the input 'x' passed through Identity 'id'"]),
    ("output_initializer", ["compile", "{m[output_initializer]}"], 2, ["output 'W' is a constant"]),
    ("output_is_input", ["compile", "{m[output_is_input]}"], 2, ["output 'x' is the model's input itself"]),
    ("nan_weight", ["compile", "{m[nan_weight]}"], 2, ["constant 'W'", "MatMul 'dense1'", "NaN/Inf", "nan"]),
    ("inf_weight", ["compile", "{m[inf_weight]}"], 2, ["constant 'W'", "MatMul 'dense1'", "inf"]),
    ("if_subgraph", ["compile", "{m[if_node]}"], 2, ["If 'my_if'", "control flow", "condition 'cond' is computed "
                                                                                 "at run time"]),
    ("loop_subgraph", ["compile", "{m[loop_node]}"], 2, ["Loop 'my_loop'", "control flow"]),
    ("too_wide", ["compile", "{m[too_wide]}"], 2, ["Eltwise 'sq2'", "116 bits", "'p1'", "cannot narrow",
                                                   "--input-type"]),
    ("batch_fixed_reshape", ["compile", "{m[batch8_reshape]}"], 2, ["batch8_reshape.onnx", "fixes the batch axis of "
                                                                    "input 'x' to 8", "dynamic batch axis"]),
    ("quant_weight_mode", ["compile", "{m[quant_weight_mode]}"], 2, ["Quant 'qw'", "WEIRD"]),
    ("lorentz_on_8", ["compile", "{m[last_axis_8]}", "--symmetry", "lorentz"], 2,
     ["group 'lorentz' acts trivially on every input", "'x' (per-event shape [5, 8]"]),
    ("unknown_target", ["compile", "{m[ok]}", "--target", "vu99p"], 2, ["vu99p", "vu9p"]),
    # samples
    ("samples_nan", ["compile", "{m[ok]}", "--samples", "{s[nan]}"], 2, ["nan.npy", "input 'x'", "row 3"]),
    ("samples_inf", ["compile", "{m[ok]}", "--samples", "{s[inf]}"], 2, ["inf.npy", "row 4"]),
    ("samples_shape", ["compile", "{m[ok]}", "--samples", "{s[shape]}"], 2, ["shape.npy", "[6, 5, 3]",
                                                                             "[batch, 5, 4]"]),
    ("samples_complex", ["compile", "{m[ok]}", "--samples", "{s[complex]}"], 2, ["complex.npy", "complex",
                                                                                 "imaginary"]),
    ("samples_object", ["compile", "{m[ok]}", "--samples", "{s[object]}"], 2, ["object.npy", "cannot read"]),
    ("samples_str", ["compile", "{m[ok]}", "--samples", "{s[str]}"], 2, ["str.npy", "dtype <U1"]),
    ("samples_empty", ["compile", "{m[ok]}", "--samples", "{s[empty]}"], 2, ["empty.npy", "no events"]),
    ("samples_missing", ["compile", "{m[ok]}", "--samples", "{d}/none.npy"], 2, ["none.npy", "no such file"]),
    ("samples_bad_key", ["compile", "{m[ok]}", "--samples", "{s[keyed]}:nokey"], 2, ["keyed.npz", "no array 'nokey'",
                                                                                      "events"]),
    ("calibrate_nan", ["compile", "{m[ok]}", "--calibrate", "{s[nan]}"], 2, ["nan.npy", "row 3"]),
    # option values
    *[(f"clock_{v}", ["compile", "{m[ok]}", "--clock-ns", v], 2, ["--clock-ns", f"'{v}'"]) for v in ("0", "-1", "nan",
                                                                                                     "inf")],
    *[(f"tolerance_{v}", ["compile", "{m[ok]}", "--tolerance-lsb", v], 2, ["--tolerance-lsb", f"'{v}'"])
      for v in ("nan", "inf", "-1")],
    *[(f"weight_frac_{v}", ["compile", "{m[ok]}", "--weight-frac", v], 2, ["--weight-frac", f"'{v}'"])
      for v in ("-3", "97", "1.5")],
    *[(f"n_samples_{v}", ["compile", "{m[ok]}", "--n-samples", v], 2, ["--n-samples", f"'{v}'"]) for v in ("0", "-5")],
    *[(f"calib_margin_{v}", ["compile", "{m[ok]}", "--calib-margin", v], 2, ["--calib-margin", f"'{v}'"])
      for v in ("0.5", "nan")],
    ("seed_negative", ["compile", "{m[ok]}", "--seed", "-1"], 2, ["--seed", "'-1'"]),
    *[(f"check_{o}_{v}", ["check", "{d}", o, v], 2, [o, f"'{v}'"]) for o, v in
      (("--tol-lsb", "nan"), ("--tol-lsb", "-1"), ("--tol-lsb", "inf"), ("--events", "0"), ("--samples", "0"),
       ("--samples", "-2"), ("--max-rapidity", "0"), ("--max-rapidity", "nan"), ("--max-rapidity", "inf"),
       ("--tol-exact", "-1"), ("--seed", "-3"))],
    ("missing_argument", ["compile"], 2, ["model", "equihls compile --help"]),
    # user-given types
    *[(f"input_type_{k}", ["compile", "{m[ok]}", "--input-type", t], 2, ["--input-type", t, why]) for k, t, why in
      (("int_gt_width", "ap_fixed<4,8>", "8 integer bits but only 4"), ("zero", "ap_fixed<0,0>", "width must be >= 1"),
       ("too_wide", "ap_fixed<200,100>", "at most 96"), ("mode", "ap_fixed<16,6,AP_FOO>", "unknown rounding mode"),
       ("overflow_mode", "ap_fixed<16,6,AP_RND,AP_BAR>", "unknown overflow mode"), ("garbage", "float32",
                                                                                    "cannot parse"))],
    ("default_type_negative_frac", ["compile", "{m[ok]}", "--default-type", "ap_fixed<8,30>"], 2,
     ["--default-type", "ap_fixed<8,30>", "-22 fractional bits"]),
    ("default_type_too_wide", ["compile", "{m[ok]}", "--default-type", "ap_fixed<200,100>"], 2, ["--default-type",
                                                                                                 "96"]),
    ("type_override_bad", ["compile", "{m[ok]}", "--type", "y=ap_fixed<4,8>"], 2, ["--type y", "ap_fixed<4,8>"]),
    ("type_override_no_eq", ["compile", "{m[ok]}", "--type", "ap_fixed<8,4>"], 2, ["--type expects TENSOR="]),
    ("type_override_unknown", ["compile", "{m[ok]}", "--type", "nope=ap_fixed<8,4>"], 2, ["type override 'nope'"]),
    ("accum_type_bad", ["compile", "{m[ok]}", "--accum-type", "mm=ap_fixed<200,100>"], 2, ["--accum-type mm", "96"]),
    # projects
    ("not_a_project", ["report", "{d}"], 2, ["not an equihls project"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_it(corpus, capsys, case, tmp_path):
    d, m, s = corpus
    _, argv, code, needles = case
    argv = [a.format(m=m, s=s, d=d) for a in argv]
    if argv[0] == "compile":
        argv += ["-o", str(tmp_path / "proj")] + ["--n-samples", "8"] * ("--n-samples" not in argv)
    rc, out, err = _run(capsys, argv)
    assert rc == code, err
    assert "Traceback" not in err + out
    lines = [l for l in err.splitlines() if l.startswith("equihls: error: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle.format(m=m, s=s, d=d) in lines[0], (needle, lines[0])
    assert not os.path.exists(tmp_path / "proj"), "a refused compile wrote a project"


def test_user_type_parse_keeps_internal_types_loadable():
    """The strict checks are only for types the user writes: manifests store ap_fixed<1,-9>."""
    from equihls.driver import user_type

    assert FixedType.parse("ap_fixed<1,-9>").frac == 10
    with pytest.raises(ValueError, match="more|integer bits"):
        user_type("ap_fixed<4,8>", "--type")
    assert user_type("ap_fixed<8,-2>", "--type").frac == 10   # I <= 0 is a fine small-value type
    assert user_type("ap_int<8>", "--input-type").width == 8


def test_frontend_reference_model_fixes():
    """What makes the unusual-but-valid model of `unusual` runnable: unique node names, the
    batch axis freed, float16 computed in float32, and folding to a fixed point."""
    g_nodes, last = _shape_chain(12)
    m = helper.make_model(helper.make_graph(
        g_nodes + [helper.make_node("Einsum", [last, "eta", last], ["y"], equation="bid,d,bjd->bij", name="e")], "c",
        [VI("x", F, ["batch", 5, 4])], [VI("y", F, ["batch", 5, 5])],
        initializer=[numpy_helper.from_array(np.array([1, -1, -1, -1], np.float32), "eta")]),
        opset_imports=[helper.make_opsetid("", 17)])
    g = frontend.onnx_to_ir(m)      # 12 rounds of folding (the old loop stopped after 8)
    assert {n.op for n in g.nodes} == {"Reshape", "Einsum"} and g.shapes["y"] == (1, 5, 5)   # Shape/Abs folded
    dup = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["h"], name="n"), helper.make_node("Neg", ["h"], ["y"], name="n")], "d",
        [VI("x", TensorProto.FLOAT16, [8, 4])], [VI("y", TensorProto.FLOAT16, [8, 4])]),
        opset_imports=[helper.make_opsetid("", 17)])
    ref = frontend.reference_model(dup)
    assert [n.name for n in ref.graph.node] == ["n", "n_2"]
    assert ref.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert ref.graph.input[0].type.tensor_type.elem_type == F and ref.graph.output[0].type.tensor_type.elem_type == F
    assert frontend.reference_model(m) is m     # nothing to change: the same model


@pytest.fixture(scope="module")
def unusual(tmp_path_factory):
    """A valid model that used to crash: float16, batch fixed to 8 in the file, the node name
    'dup' three times, a shape chain needing 10 folding rounds before its Einsum has a static
    shape; compiled with --samples FILE.npz:key. Returns (project dir, compile's stderr)."""
    d = tmp_path_factory.mktemp("unusual")
    chain, last = _shape_chain(10)
    h16 = TensorProto.FLOAT16
    w = numpy_helper.from_array((np.arange(15).reshape(5, 3) / 8 - 0.75).astype(np.float16), "W")
    eta = numpy_helper.from_array(np.array([1, -1, -1, -1], np.float16), "eta")
    ax = numpy_helper.from_array(np.array([2], np.int64), "ax")
    nodes = chain + [helper.make_node("Einsum", [last, "eta", last], ["g"], equation="bid,d,bjd->bij", name="dup"),
                     helper.make_node("ReduceSum", ["g", "ax"], ["p"], name="dup", keepdims=0),
                     helper.make_node("MatMul", ["p", "W"], ["y"], name="dup")]
    p = _save(str(d), "unusual", nodes, [VI("x", h16, [8, 5, 4])], [VI("y", h16, [8, 3])], [w, eta, ax])
    x = np.random.default_rng(1).integers(-64, 64, (24, 5, 4)) / 32
    np.savez(d / "s.npz", events=x)
    out = str(d / "proj")
    # samples on the 2^-5 grid: an input type that holds them, so the input type costs nothing
    r = subprocess.run([sys.executable, "-m", "equihls", "compile", p, "-o", out, "--samples", f"{d / 's.npz'}:events",
                        "--input-type", "ap_fixed<16,10>"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout


@pytest.mark.gxx
def test_unusual_valid_model_compiles(unusual):
    import json

    out, log = unusual
    man = json.load(open(os.path.join(out, "equihls.json")))
    assert man["self_check"]["passed"] and man["self_check"]["n_events"] == 24
    assert man["self_check"]["samples"] == "s.npz:events"
    assert {n["name"] for n in man["nodes"]} >= {"dup", "dup_2", "dup_3"}
    assert man["inputs"][0]["shape"] == [5, 4] and "PASS" in log


@pytest.mark.gxx
def test_output_paths_are_user_errors(unusual, tmp_path, capsys):
    out, _ = unusual
    x = os.path.join(tmp_path, "x.npy")
    np.save(x, np.zeros((2, 5, 4)))
    for argv, needle in ((["report", out, "--json", "/dev/full"], "--json /dev/full: cannot write"),
                         (["report", out, "--json", f"{tmp_path}/no/dir/r.json"], f"{tmp_path}/no/dir/r.json"),
                         (["csim", out, "--input", x, "-o", f"{tmp_path}/no/dir/y.npy"], "-o "),
                         (["csim", out, "--input", x, "--trace", "--json", "/dev/full"], "--json /dev/full"),
                         (["check", out, "--group", "perm", "--events", "2", "--samples", "1", "-q", "--json",
                           f"{tmp_path}/no/r.json"], f"{tmp_path}/no/r.json")):
        rc, o, err = _run(capsys, argv)
        assert rc == 2 and needle in err and "Traceback" not in err + o, (argv, rc, err)
    open(tmp_path / "file", "w").close()
    rc, o, err = _run(capsys, ["compile", MODEL, "-o", f"{tmp_path}/file/proj", "--n-samples", "4"])
    assert rc == 2 and f"{tmp_path}/file" in err and "Traceback" not in err + o, err


@pytest.mark.gxx
def test_broken_pipe_on_stdout_is_quiet(unusual):
    """`equihls report DIR --json - | head`: the reader has gone; no traceback, exit 141."""
    out, _ = unusual
    for argv in (["report", out, "--json", "-"], ["report", out]):
        p = subprocess.Popen([sys.executable, "-m", "equihls", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
        p.stdout.close()   # before the child writes: its first write meets a closed pipe
        err = p.stderr.read().decode()
        assert p.wait() == cli.EXIT_BROKEN_PIPE, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_onnxruntime_refusal_is_a_model_error():
    from equihls.errors import ModelError
    from equihls.verify.selfcheck import run_onnxruntime

    with pytest.raises(ModelError, match="ONNX Runtime cannot load the model"):
        run_onnxruntime(b"not a model", {})


def test_internal_error_exits_3(capsys, monkeypatch, tmp_path):
    from equihls import driver

    def boom(*a, **k):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(driver, "stage_load", boom)   # a bug in one compile stage
    monkeypatch.setattr(cli.tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    rc, out, err = _run(capsys, ["compile", MODEL])
    assert rc == 3 and "Traceback" not in err
    assert "internal error" in err and "RuntimeError: forced failure" in err
    path = err.split("traceback written to ")[1].split(".txt")[0] + ".txt"
    assert path.startswith(str(tmp_path)) and "Traceback" in open(path).read()
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    rc, out, err = _run(capsys, ["compile", MODEL])
    assert rc == 3 and "Traceback" in err and "internal error" in err

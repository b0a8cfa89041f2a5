"""Equivariance certificate of a compiled project: bit-accurate C-sim under group transformations.

For each requested group, `groups.lines_for` gives certificate lines:

* exact lines (permutations, signed axis permutations, integer Lorentz words, lattice
  translations) map the input lattice onto itself. Each event is quantised to the input type,
  transformed exactly, C-simulated, and the output must be *bit-identical* to the transformed
  output of the untransformed event. Events whose transformed input leaves the input type's range
  (or whose transformed output leaves the output type) are skipped and counted. A pair where
  the float64 model on the same grid inputs is itself not symmetric (a mask `x.sum(-1) != 0`
  that the element maps a real particle onto) is a model exception: counted and not judged as
  firmware. Exceptions are allowed only on a null set: when the same group's continuous lines
  find the float64 model symmetric on unquantised inputs; else (or for a group without continuous
  lines, such as permutations) one exception fails the line: the model lacks the symmetry.
* continuous lines (Haar rotations, boosts, ...) transform the float64 event, quantise it as the
  input port does, C-simulate, and measure |C-sim(g x) - ρ_out(g) C-sim(x)| in output LSB. Beside
  it stands the float64 model's own violation (ONNX Runtime on a float64 copy of the source
  model) on the same quantised inputs: the *floor* that input quantisation alone causes. A line
  passes when (a) the float64 model on unquantised inputs respects the symmetry to within
  `tol_lsb` (else the model itself does not have the declared symmetry; at least what its float32
  constants allow, FLOAT32_CONSTANTS_REL of the output's scale, for an output type finer than
  float32), and (b) the C-sim violation's mean and p99 exceed the floor's mean and p99 by at
  most what the firmware's own arithmetic allows: the same statistic of its per-event error
  against the float64 model on the unmoved events, counted twice (g·x and x are two
  evaluations), at least half an output LSB each; `--tol-lsb` replaces it by a fixed value
  (the p99 only with >= MIN_PAIRS_FOR_P99 pairs, where it is a statistic of many events). The
  max is reported but not judged: on the single most sensitive event the difference between two
  evaluations' arithmetic errors (each bounded by the self-check envelope) dominates it. The
  per-event excess (C-sim minus floor on the same event) is reported too.

Every line, group and certificate has one of three verdicts: PASS, FAIL, or NOT CHECKED when it
compared no (event, element) pair (every transformed event left the range, or no element has
integral representation matrices; an octahedral line on an l >= 2 port draws its elements from
those that do, see comparable_elements): a line that compared nothing proves nothing, so it never
passes. A group is not checked when none of its lines compared anything, and the certificate then
does not pass (`equihls check` exits 1). A group that moves no input at all (a spatial group on
scalar inputs) is refused up front (`validate_symmetry`).

The report is a JSON-serialisable dict (schema in README.md) and a text table.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import onnx

from ..frontend.qonnx_quant import standard_ops
from ..project import LAYOUT
from ..symmetry import groups as G
from ..symmetry.induced import reorder_basis
from ..backend.csim import check_finite
from ..errors import EquihlsError, InputError
from .selfcheck import float64_model, run_onnxruntime

DEFAULT_ELEMENTS = 8
DEFAULT_TOL_LSB = 2.0       # the float64 model on unquantised inputs: its allowed violation (output LSB)
# continuous lines judge C-sim minus the float64 floor against the firmware's own arithmetic error,
# measured on the certificate's events (|C-sim(x) - float64(x)| per event, output LSB) and counted
# twice (a pair evaluates the firmware on g·x and on x); each evaluation is granted at least the
# output's own rounding (half an LSB)
ARITH_EVALUATIONS = 2
MIN_ARITH_LSB = 0.5
# the source model's constants are float32: the float64 model is symmetric only to about this share
# of its output's scale (64 float32 ulps), which an output type finer than float32 resolves
FLOAT32_CONSTANTS_REL = 2.0 ** -18
DEFAULT_MAX_RAPIDITY = 1.0
# below this many (event, element) pairs a p99 is a handful of events, dominated by arithmetic noise
MIN_PAIRS_FOR_P99 = 5000
# exact lines: a pair where the float64 model on the grid inputs is itself off the symmetry by more
# than half an output LSB is the model's exception (float64 rounding is ~1e-12 LSB), not firmware's
MODEL_EXCEPTION_LSB = 0.5
FLOAT64_REL = 1e-9          # ... or by more than this share of the output's scale (a type finer than float64)
# the three verdicts of a line, a group and a certificate: a line that compared 0 (event, element)
# pairs proved nothing, so it is NOT_CHECKED, never PASS
PASS, FAIL, NOT_CHECKED = "pass", "fail", "not checked"
SHOWN = {PASS: "PASS", FAIL: "FAIL", NOT_CHECKED: "not checked"}


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int, label: str, enabled: bool | None = None):
        self.total, self.done, self.label = max(total, 1), 0, label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.time()

    def step(self, n: int, what: str = ""):
        self.done += n
        if self.enabled:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            rate = self.done / max(time.time() - self.t0, 1e-9)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {100 * frac:5.1f}% {rate:,.0f} ev/s {what[:40]:<40}")
            sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def _merged(declared: dict, groups, input_reps, output_reps, output_perm) -> dict:
    """A declaration (lists of names; output_perm; output_bases) with the given non-empty overrides
    applied. An output's basis survives an override only where the override names the same
    representation."""
    spec = {k: list(declared.get(k) or []) for k in ("groups", "input_reps", "output_reps")}
    for k, v in (("groups", groups), ("input_reps", input_reps), ("output_reps", output_reps)):
        if v:
            spec[k] = list(v)
    spec["output_perm"] = output_perm or declared.get("output_perm")
    bases = list(declared.get("output_bases") or [])
    if bases:
        was, now = list(declared.get("output_reps") or []), spec["output_reps"]
        spec["output_bases"] = [q if k < min(len(was), len(now)) and was[k] == now[k] else None
                                for k, q in enumerate(bases)]
    return spec


def output_rep(spec: dict, k: int) -> G.Rep:
    """Output k's representation, in the basis the compile found for it (spec["output_bases"])."""
    bases = spec.get("output_bases") or []
    return G.Rep(spec["output_reps"][k], basis=bases[k] if k < len(bases) else None)


def _completed(spec: dict, inputs: list, outputs: list) -> dict:
    """Fill the default representations (4vec/3vec by size, scalar outputs, invariant under
    permutations) and validate against the ports ((name, per-event shape) pairs)."""
    spec["input_reps"] = spec["input_reps"] or [default_input_rep(s) for _, s in inputs]
    spec["output_reps"] = spec["output_reps"] or ["scalar"] * len(outputs)
    spec["output_perm"] = spec["output_perm"] or "invariant"
    validate_symmetry(spec, inputs, outputs)
    return spec


def symmetry_spec(manifest: dict, groups: list | None = None, input_reps: list | None = None,
                  output_reps: list | None = None, output_perm: str | None = None) -> dict:
    """The groups and representations to check: arguments override the manifest's 'symmetry'."""
    spec = _merged(manifest.get("symmetry") or {}, groups, input_reps, output_reps, output_perm)
    if not spec["groups"]:
        raise EquihlsError("no symmetry to check: the project declares none (compile with --symmetry, or set the "
                           "ONNX metadata 'equihls.symmetry') and no --group was given")
    spec = _completed(spec, [(i["onnx_name"], i["shape"]) for i in manifest["inputs"]],
                      [(o["onnx_name"], o["shape"]) for o in manifest["outputs"]])
    for k, o in enumerate(manifest["outputs"]):
        rep = output_rep(spec, k)
        if rep.in_coupling_basis and rep.basis is None and rep.dim is not None:
            raise EquihlsError(f"output '{o['onnx_name']}': representation '{rep.name}' is in the basis of its "
                               f"coupling, but the project recorded none for it (compile with that --output-rep, or "
                               f"name the representation in the standard basis)")
    return spec


METADATA_KEYS = {"groups": "equihls.symmetry", "input_reps": "equihls.input_reps",
                 "output_reps": "equihls.output_reps", "output_perm": "equihls.output_perm"}


def declare_symmetry(metadata: dict, inputs: list, outputs: list, groups: list | None = None,
                     input_reps: list | None = None, output_reps: list | None = None,
                     output_perm: str | None = None) -> dict | None:
    """The symmetry a model declares, for the manifest: compile flags override the ONNX
    metadata_props (METADATA_KEYS, comma-separated lists). inputs/outputs: (name, per-event
    shape) pairs. Validates group names, representation names and dimensions; None when the
    model declares nothing."""
    def listed(v):
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else list(v or [])

    declared = {k: (listed(metadata.get(key)) if k != "output_perm" else metadata.get(key))
                for k, key in METADATA_KEYS.items()}
    spec = _merged(declared, *(listed(v) for v in (groups, input_reps, output_reps)), output_perm)
    if not spec["groups"] and not spec["input_reps"] and not spec["output_reps"]:
        return None
    return _completed(spec, inputs, outputs)    # validate_symmetry refuses groups that move no input


def _flip_parities(rep: G.Rep) -> list:
    """An O(3) rep's copies with every parity flipped (the coupling of inputs whose parities
    are both the other way); Lorentz copies as they are."""
    flip = {"e": "o", "o": "e"}
    return [(k[:-1] + flip[k[-1]], d) if k[-1] in flip else (k, d) for k, d in rep.copies()]


def bind_output_bases(sym: dict | None, induced: dict, declared: bool, outputs: list) -> list:
    """Bind the outputs that recognised couplings compute to the representations they induce.

    induced: {output index: (content, basis Q or None for the standard basis, node name)};
    outputs: (name, per-event shape) pairs; declared: whether the user declared the output
    representations. Undeclared: the output takes the induced content, with '@coupling' and Q when
    the coupling writes it in its own basis. Declared 'R@coupling': R's irreps must be the
    induced ones (any order, or every parity flipped: the recogniser assumed inputs of natural
    parity), Q is re-laid in R's order; else EquihlsError naming the output, the node and both.
    Declared in the standard basis while the coupling uses another: a note (the certificate
    judges the declaration as given). Updates sym (output_reps, output_bases) in place; returns
    the lines for the compile log."""
    if not sym:
        return []
    bases = list(sym.get("output_bases") or [None] * len(outputs))
    lines = []
    for k, name in enumerate(n for n, _ in outputs):
        want = G.Rep(sym["output_reps"][k])
        if k not in induced:
            if want.in_coupling_basis:
                raise EquihlsError(f"output '{name}' is declared '{want.name}' (in the basis of its coupling), but no "
                                   f"recognised coupling computes it")
            continue
        content, q, node = induced[k]
        found = G.Rep(content)
        if found.dim is None or all(key == "0e" for key, _ in found.copies()):
            continue                     # an invariant: every basis is the standard one
        q = np.eye(found.dim) if q is None else q
        free = not np.allclose(q, np.eye(len(q)))
        if not declared:
            sym["output_reps"][k] = content + (G.COUPLING_BASIS if free else "")
            bases[k] = q if free else None
            lines.append(f"output '{name}' transforms as {sym['output_reps'][k]} (the coupling at '{node}'; "
                         f"--output-rep overrides)")
        elif want.in_coupling_basis:
            q2 = reorder_basis(found.copies(), q, want.copies())
            if q2 is None:
                q2 = reorder_basis(_flip_parities(found), q, want.copies())
            if q2 is None:
                raise EquihlsError(f"output '{name}' is declared '{want.name}', but the coupling at '{node}' that "
                                   f"computes it transforms as {content}")
            bases[k] = q2
        elif free:
            lines.append(f"note: output '{name}' is declared '{want.name}' (standard basis), but the coupling at "
                         f"'{node}' computes {content} in its own basis; declare '{want.name}{G.COUPLING_BASIS}' to "
                         f"certify it in that basis")
    if any(q is not None for q in bases):
        sym["output_bases"] = [None if q is None else [[float(v) for v in row] for row in q] for q in bases]
    return lines


def validate_symmetry(spec: dict, inputs: list, outputs: list):
    """Refuse unknown groups, unknown representations, representation/shape mismatches and groups
    that do not act on a representation, naming the port. inputs/outputs: (name, shape) pairs."""
    for gname in spec["groups"]:
        if gname not in G.GROUPS:
            raise EquihlsError(f"unknown group '{gname}' (known: {', '.join(G.GROUPS)})")
    for what, reps, ports in (("input", spec["input_reps"], inputs), ("output", spec["output_reps"], outputs)):
        if len(reps) != len(ports):
            raise EquihlsError(f"{len(reps)} {what} representation(s) {reps} for {len(ports)} {what}(s) "
                               f"{[n for n, _ in ports]}")
        for k, (r, (name, shape)) in enumerate(zip(reps, ports)):
            try:
                rep = output_rep(spec, k) if what == "output" else G.Rep(r)
            except ValueError as e:
                raise EquihlsError(f"{what} '{name}': {e}") from None
            if rep.dim is not None and (not shape or shape[-1] != rep.dim):
                raise EquihlsError(f"{what} '{name}' has per-event shape {list(shape)}; representation '{r}' needs a "
                                   f"last axis of {rep.dim}")
            for gname in spec["groups"]:
                if not rep.supports(gname):
                    raise EquihlsError(f"group '{gname}' does not act on {what} '{name}' (representation '{r}')")
    if spec["output_perm"] not in ("invariant", "equivariant"):
        raise EquihlsError(f"output permutation behaviour must be invariant or equivariant, got "
                           f"'{spec['output_perm']}'")
    for gname in spec["groups"]:
        _refuse_trivial_action(gname, spec["input_reps"], inputs)


def _refuse_trivial_action(gname: str, reps: list, inputs: list):
    """A group that moves no input (every input a scalar for a spatial group or a translation, no
    particle axis for perm) would be certified vacuously, f(x) == f(x): refuse it, naming the
    inputs and their representations. inputs: (name, per-event shape) pairs."""
    if gname in G.PERM_GROUPS:
        moved = any(_particle_axis(list(shape)) is not None for _, shape in inputs)
        why = "none has a particle axis ([batch, N, ...])"
    else:
        kinds = ("lorentz", "o3") if gname == "translation" else ("lorentz", "lorentz_irrep", "o3", "irreps")
        moved = any(G.Rep(r).kind in kinds for r in reps)
        why = "none transforms"
    if not moved:
        ports = ", ".join(f"'{n}' (per-event shape {list(s)}, representation '{r}')" for r, (n, s) in zip(reps, inputs))
        raise EquihlsError(f"group '{gname}' acts trivially on every input ({ports}; {why}), so a certificate would "
                           f"prove nothing: declare how an input transforms (--input-rep 4vec, 3vec, an irreps "
                           f"string) or drop the group")


def default_input_rep(shape: list) -> str:
    """4vec for [..., 4] inputs, 3vec for [..., 3], else scalar (untouched by spatial groups)."""
    return {4: "4vec", 3: "3vec"}.get(shape[-1] if shape else 0, "scalar")


def _particle_axis(shape: list) -> int | None:
    """Batched axis index of the particle axis: the first per-event axis when there are >= 2."""
    return 1 if len(shape) >= 2 else None


def _fits(x: np.ndarray, t) -> np.ndarray:
    """Per event: every value inside the type's range."""
    flat = x.reshape(x.shape[0], -1)
    return ((flat >= t.min) & (flat <= t.max)).all(axis=1)


class Context:
    """Everything one line check needs: the simulator, reps, types, float model and events.

    run(*xs) -> outputs [batch, *shape] is the bit-accurate model under test (the project's C-sim
    for `equihls check`, the numpy twin for the compile-time probe, equihls/symprobe.py);
    in_shapes / out_shapes are the per-event port shapes."""

    def __init__(self, spec, xs, run, in_types, out_types, in_shapes, out_shapes, float_model, progress):
        self.spec, self.xs, self.run = spec, [np.asarray(x, dtype=np.float64) for x in xs], run
        self.in_types, self.out_types = list(in_types), list(out_types)
        self.in_reps = [G.Rep(r) for r in spec["input_reps"]]
        self.out_reps = [output_rep(spec, k) for k in range(len(spec["output_reps"]))]
        self.in_axes = [_particle_axis(sh) for sh in in_shapes]
        self.out_axes = [_particle_axis(sh) if spec["output_perm"] == "equivariant" else None for sh in out_shapes]
        self.float_model = float_model
        # real particles of each event, on the input grid: perm_real elements permute only these
        self.real = G.real_particles([t.quantize(x) for x, t in zip(self.xs, self.in_types)], self.in_axes) \
            if "perm_real" in spec["groups"] else None
        self.progress = progress
        self.n_sim = 0
        self.t_sim = 0.0

    def sim(self, xs):
        t0 = time.time()
        ys = self.run(*xs)
        self.t_sim += time.time() - t0
        self.n_sim += len(xs[0])
        self.progress.step(len(xs[0]))
        return ys

    def act_in(self, xs, g, exact=False):
        """g on inputs of all the context's events (xs: ctx.xs or their quantisation)."""
        return [rep.apply(x, g, ax, shift=True, exact=exact, real=self.real)
                for x, rep, ax in zip(xs, self.in_reps, self.in_axes)]

    def act_out(self, ys, g, exact=False, idx=None):
        """g on outputs of the context's events, or of events `idx` of them."""
        real = self.real if idx is None or self.real is None else self.real[idx]
        return [rep.apply(y, g, ax, exact=exact, real=real) for y, rep, ax in zip(ys, self.out_reps, self.out_axes)]

    def integral(self, g) -> bool:
        """Whether every input and output representation matrix of g is an integer matrix."""
        try:
            for r in self.in_reps + self.out_reps:
                r.integral_matrix(g)
        except ValueError:
            return False
        return True

    def same_in_float64(self, a: list, b: list, ref: list) -> np.ndarray:
        """Per event: a == b up to float64 arithmetic (MODEL_EXCEPTION_LSB output LSB, or
        FLOAT64_REL of the output's largest |value| in `ref` when that is coarser)."""
        ok = [(np.abs(x - y).reshape(len(x), -1) <= max(MODEL_EXCEPTION_LSB * t.lsb,
                                                        FLOAT64_REL * float(np.abs(r).max(initial=0.0)))).all(axis=1)
              for x, y, r, t in zip(a, b, ref, self.out_types)]
        return np.all(np.stack(ok), axis=0)

    def lsb_diff(self, a: list, b: list) -> np.ndarray:
        """Per event: max over outputs and elements of |a - b| in each output's LSB."""
        d = [np.abs(x - y).reshape(len(x), -1).max(axis=1) / t.lsb for x, y, t in zip(a, b, self.out_types)]
        return np.max(np.stack(d), axis=0)


def comparable_elements(ctx: Context, line: G.Line, k: int, rng, moving_only: bool = False) -> G.Line:
    """An exact `line` whose elements all compare exactly on the context's ports: when some sampled
    element has a non-integral representation matrix (an l >= 2 irrep under a 90° rotation), the
    octahedral lines draw their k elements from those of all 24/48 that are integral (for l = 2 in
    the real basis: the 8 rotations of the square about y, 16 with parity), so an l >= 2 output
    is still checked bit for bit. moving_only: never the identity, which compares f(x) with itself.
    Lines whose sampled elements are all integral are kept as sampled (unless moving_only)."""
    pool = line.elements
    integral = all(ctx.integral(e) for e in pool)
    if integral and not moving_only:
        return line
    if line.group in ("so3", "o3") and not integral:
        pool = G.lines_for(line.group, None, 48, np.random.default_rng(0))[0].elements
    ok = [e for e in pool if ctx.integral(e) and not (moving_only and G.is_identity(e))]
    if len(ok) > k:
        ok = [ok[i] for i in sorted(rng.choice(len(ok), size=k, replace=False))]
    return G.Line(line.group, line.name, True, ok)


def exact_line(ctx: Context, line: G.Line, xq: list, y0: list, on_compare=None, f0: list | None = None) -> dict:
    """One exact line: every element with integral representation matrices maps the events `xq`
    (on the input grid) exactly; outputs must equal ρ(g)·y0 bit for bit. Events whose image
    leaves the input or output type are skipped and counted. With `f0` (the float64 model on
    `xq`) a pair where the float64 model itself is not symmetric (by more than MODEL_EXCEPTION_LSB)
    is a model exception: counted, not judged as firmware (e.g. a mask `x.sum(-1) != 0` that the
    element maps a real particle onto). on_compare(g, idx, same), if given, sees each element's
    checked event indices and which of them matched (right after that element's simulation)."""
    n = len(xq[0])
    pairs = identical = mismatched = skipped_in = skipped_out = skipped_nonint = model_exceptions = 0
    covered = np.zeros(n, dtype=bool)
    bad_events = np.zeros(n, dtype=bool)
    max_diff, first = 0.0, None
    for g in line.elements:
        if not ctx.integral(g):     # e.g. l >= 2 irreps under 90° rotations: no exact lattice map
            skipped_nonint += n
            ctx.progress.step(n, g.label)
            continue
        xg = ctx.act_in(xq, g, exact=True)
        ok = np.all([_fits(x, t) for x, t in zip(xg, ctx.in_types)], axis=0)
        ref = ctx.act_out(y0, g, exact=True)
        ok_out = np.all([_fits(r, t) for r, t in zip(ref, ctx.out_types)], axis=0)
        skipped_in += int((~ok).sum())
        skipped_out += int((ok & ~ok_out).sum())
        ok &= ok_out
        idx = np.flatnonzero(ok)
        ctx.progress.step(n - idx.size, g.label)
        if idx.size == 0:
            continue
        y1 = ctx.sim([x[idx] for x in xg])
        if f0 is not None and ctx.float_model is not None:
            model_ok = ctx.same_in_float64(ctx.float_model([x[idx] for x in xg]),
                                           ctx.act_out([f[idx] for f in f0], g, exact=True, idx=idx), f0)
            model_exceptions += int((~model_ok).sum())
            idx, y1 = idx[model_ok], [y[model_ok] for y in y1]
            if idx.size == 0:
                continue
        diff = ctx.lsb_diff(y1, [r[idx] for r in ref])
        same = diff == 0
        if on_compare is not None:
            on_compare(g, idx, same)
        pairs += idx.size
        identical += int(same.sum())
        mismatched += int((~same).sum())
        covered[idx] = True
        bad_events[idx[~same]] = True
        if (~same).any():
            k = int(np.argmax(diff))
            max_diff = max(max_diff, float(diff[k]))
            if first is None:
                first = {"event": int(idx[k]), "element": g.label, "diff_lsb": float(diff[k])}
    return {"group": line.group, "line": line.name, "kind": "exact", "elements": len(line.elements),
            "pairs": pairs, "events_checked": int(covered.sum()), "identical": identical,
            "mismatched": mismatched, "events_mismatched": int(bad_events.sum()),
            "skipped_input_overflow": skipped_in, "skipped_output_overflow": skipped_out,
            "skipped_nonintegral_output": skipped_nonint, "model_exceptions": model_exceptions,
            "max_diff_lsb": max_diff, "first_mismatch": first}


def _continuous_line(ctx: Context, line: G.Line, y0: list, f0: list | None, f0q: list | None) -> dict:
    fixed, floor_q, floor, skipped = [], [], [], 0
    for g in line.elements:
        xg = ctx.act_in(ctx.xs, g)
        ok = np.all([_fits(x, t) for x, t in zip(xg, ctx.in_types)], axis=0)
        skipped += int((~ok).sum())
        idx = np.flatnonzero(ok)
        ctx.progress.step(len(ok) - idx.size, g.label)
        if idx.size == 0:
            continue
        xg = [x[idx] for x in xg]
        y1 = ctx.sim(xg)
        d = ctx.lsb_diff(y1, ctx.act_out([y[idx] for y in y0], g, idx=idx))
        fixed.append(d)
        if ctx.float_model is not None:
            fq = ctx.float_model([t.quantize(x) for x, t in zip(xg, ctx.in_types)])
            floor_q.append(ctx.lsb_diff(fq, ctx.act_out([f[idx] for f in f0q], g, idx=idx)))
            fg = ctx.float_model(xg)
            floor.append(ctx.lsb_diff(fg, ctx.act_out([f[idx] for f in f0], g, idx=idx)))
    rep = {"group": line.group, "line": line.name, "kind": "continuous", "elements": len(line.elements),
           "pairs": int(sum(len(d) for d in fixed)), "skipped_input_overflow": skipped}
    if not fixed:
        return {**rep, "max_lsb": None, "p99_lsb": None, "mean_lsb": None, "floor": None, "floor_exact_inputs": None,
                "excess_max_lsb": None, "excess_p99_lsb": None}
    d = np.concatenate(fixed)
    rep.update(_stats(d, "lsb"))
    if floor_q:
        fq, fe = np.concatenate(floor_q), np.concatenate(floor)
        rep["floor"] = _stats(fq, "lsb")
        rep["floor_exact_inputs"] = _stats(fe, "lsb")
        rep["excess_max_lsb"] = float(np.max(d - fq))
        rep["excess_p99_lsb"] = float(np.percentile(d - fq, 99))
    else:
        rep["floor"] = rep["floor_exact_inputs"] = None
        rep["excess_max_lsb"] = rep["max_lsb"]
        rep["excess_p99_lsb"] = rep["p99_lsb"]
    return rep


def _stats(d: np.ndarray, unit: str) -> dict:
    return {f"max_{unit}": float(d.max()), f"p99_{unit}": float(np.percentile(d, 99)), f"mean_{unit}": float(d.mean())}


def float64_runner(model_path: str, input_names: list):
    """A function [x per input] -> [y per output] running the source model in float64 with
    ONNX Runtime (a converted copy), or in float32 when the conversion is refused; returns
    (runner, dtype name), or (None, reason) when the model cannot be run at all."""
    if not model_path or not os.path.exists(model_path):
        return None, f"source model not found ({model_path})"
    try:    # a project compiled before sources were stored self-contained may lack its .onnx.data
        m = standard_ops(onnx.load(model_path))
    except Exception as e:
        return None, f"cannot read the source model {model_path} ({(str(e).splitlines() or ['?'])[0]})"
    err = "unknown error"
    for make, name in ((float64_model, "float64"), (lambda x: x, "float32")):
        try:
            data = make(m).SerializeToString()
            run_onnxruntime(data, {n: np.zeros((1, *s)) for n, s in input_names})
        except Exception as e:   # ONNX Runtime lacks a double kernel: fall back to float32
            err = (str(e).splitlines() or ["?"])[0]
            continue
        return (lambda xs, data=data: run_onnxruntime(data, {n: x for (n, _), x in zip(input_names, xs)})), name
    return None, f"ONNX Runtime cannot run the source model ({err})"


def run(project, groups: list | None = None, xs: list | None = None, n_events: int | None = None,
        n_elements: int = DEFAULT_ELEMENTS, seed: int = 0, tol_lsb: float | None = None,
        tol_exact: int = 0, max_rapidity: float = DEFAULT_MAX_RAPIDITY, time_reversal: bool = False,
        input_reps: list | None = None, output_reps: list | None = None, output_perm: str | None = None,
        progress: bool | None = None) -> dict:
    """Certify a compiled `project` (equihls.project.Project) against `groups`.

    Args:
        xs: events per input, float64 [batch, *shape] in the input's units (e.g. GeV); default:
            the samples stored in the project at compile time.
        n_events: use the first n events; n_elements: sampled group elements per line.
        tol_lsb: a continuous line passes if the float64 model respects the symmetry to tol_lsb
            (default DEFAULT_TOL_LSB) and the mean and p99 of the C-sim violation exceed the float64
            floor's by at most the firmware's arithmetic error counted twice (arithmetic_thresholds),
            or by tol_lsb output LSB when it is given; tol_exact: allowed mismatching (event,
            element) pairs on exact lines.
    Returns: the report dict (see README.md, "Equivariance certificate").
    """
    spec = symmetry_spec(project.manifest, groups, input_reps, output_reps, output_perm)
    xs = load_events(project, xs)
    if n_events:
        xs = [x[:n_events] for x in xs]
    n = len(xs[0])
    if n == 0:
        raise InputError("no events to check")
    for x, i in zip(xs, project.inputs):
        check_finite(x, i["onnx_name"])
    rng = np.random.default_rng(seed)
    n_part = next((i["shape"][0] for i in project.inputs if len(i["shape"]) >= 2), None)
    in_lsb = min(project.input_type(k).lsb for k in range(len(project.inputs)))
    lines = []
    for gname in spec["groups"]:
        lines += G.lines_for(gname, n_part, n_elements, rng, max_rapidity, time_reversal, lsb=in_lsb)
    runner, fdtype = float64_runner(os.path.join(project.dir, LAYOUT.source_model),
                                    [(i["onnx_name"], i["shape"]) for i in project.inputs])
    ctx = Context(spec, xs, project.run, [project.input_type(k) for k in range(len(xs))],
                  [project.output_type(k) for k in range(len(project.outputs))],
                  [i["shape"] for i in project.inputs], [o["shape"] for o in project.outputs], runner, None)
    lines = [comparable_elements(ctx, line, n_elements, rng) if line.exact else line for line in lines]
    prog = ctx.progress = Progress(n * (2 + sum(len(l.elements) for l in lines)), "equihls check", progress)
    t0 = time.time()
    try:
        xq = [t.quantize(x) for x, t in zip(ctx.xs, ctx.in_types)]
        y0q = ctx.sim(xq)
        y0 = ctx.sim(ctx.xs)
        f0 = runner(ctx.xs) if runner else None
        f0q = runner(xq) if runner else None
        results = [exact_line(ctx, line, xq, y0q, f0=f0q) if line.exact else _continuous_line(ctx, line, y0, f0, f0q)
                   for line in lines]
        excess = arithmetic_thresholds(ctx.lsb_diff(y0q, f0q) if runner else None, tol_lsb)
        model_tol = DEFAULT_TOL_LSB if tol_lsb is None else float(tol_lsb)
        if runner:
            model_tol = max(model_tol, FLOAT32_CONSTANTS_REL * max(float(np.abs(f).max(initial=0.0)) / t.lsb
                                                                   for f, t in zip(f0q, ctx.out_types)))
        continuum = _model_symmetric_on_continuum(results, model_tol)
        for res in results:
            res["verdict"], res["reason"] = _verdict(res, model_tol, tol_exact, continuum.get(res["group"], False),
                                                     excess)
            res["passed"] = res["verdict"] == PASS
    finally:
        prog.close()
    wall = time.time() - t0
    out = project.outputs
    by_group, verdict = summarize(results, spec["groups"])
    return {
        "project": project.dir,
        "model": project.manifest.get("model"),
        "groups": spec["groups"],
        "representations": {"inputs": spec["input_reps"], "outputs": spec["output_reps"],
                            "output_bases": spec.get("output_bases"), "output_perm": spec["output_perm"]},
        "events": n, "elements_per_line": n_elements, "seed": seed, "max_rapidity": max_rapidity,
        "outputs": [{"name": o["onnx_name"], "type": o["type"], "lsb": t.lsb} for o, t in zip(out, ctx.out_types)],
        "thresholds": {"exact_mismatches": tol_exact, "continuous_excess_lsb": {k: excess[k] for k in ("mean", "p99")},
                       "continuous_source": excess["source"],
                       "arithmetic_error_lsb": excess.get("arithmetic_error_lsb"),
                       "fixed_lsb": DEFAULT_TOL_LSB, "float64_model_lsb": model_tol},
        "float_reference": fdtype if runner else None,
        "float_reference_note": None if runner else fdtype,
        "lines": results,
        "group_verdicts": by_group,
        "verdict": verdict,
        "passed": verdict == PASS,
        "timing": {"wall_s": wall, "csim_events": ctx.n_sim, "csim_s": ctx.t_sim,
                   "csim_events_per_s": ctx.n_sim / ctx.t_sim if ctx.t_sim > 0 else None},
    }


def _model_symmetric_on_continuum(results: list, tol_lsb: float) -> dict:
    """group -> True when it has continuous lines that compared pairs and on every one the float64
    model on unquantised inputs respects the symmetry to tol_lsb (exact-line model exceptions are
    then on a null set the grid happens to hit)."""
    out = {}
    for r in results:
        if r["kind"] == "continuous" and r["pairs"]:
            fe = r.get("floor_exact_inputs")
            out[r["group"]] = out.get(r["group"], True) and fe is not None and fe["max_lsb"] <= tol_lsb
    return out


def arithmetic_thresholds(e: np.ndarray | None, tol_lsb: float | None) -> dict:
    """The continuous lines' allowed excess over the float64 floor, per judged statistic
    {"mean": T, "p99": T} in output LSB, and where it comes from. e: per-event arithmetic error
    [events] (|C-sim - float64| on the same quantised inputs, output LSB) or None when no float
    model runs. With tol_lsb (the user's --tol-lsb) that fixed value; else ARITH_EVALUATIONS times
    the statistic of e (at least MIN_ARITH_LSB each)."""
    if tol_lsb is not None or e is None or not e.size:
        t = DEFAULT_TOL_LSB if tol_lsb is None else float(tol_lsb)
        return {"mean": t, "p99": t, "source": "--tol-lsb" if tol_lsb is not None else "fixed (no float model)"}
    stat = {"mean": float(e.mean()), "p99": float(np.percentile(e, 99)), "max": float(e.max())}
    return {"mean": ARITH_EVALUATIONS * max(stat["mean"], MIN_ARITH_LSB),
            "p99": ARITH_EVALUATIONS * max(stat["p99"], MIN_ARITH_LSB),
            "source": "arithmetic", "arithmetic_error_lsb": stat}


def _verdict(res: dict, tol_lsb: float, tol_exact: int, null_set: bool, excess: dict) -> tuple[str, str]:
    """(PASS | FAIL | NOT_CHECKED, reason) of one line (rules in the module doc). tol_lsb: the
    float64 model's allowed violation; excess: arithmetic_thresholds' {"mean", "p99"}. null_set:
    the group's continuous lines find the float64 model symmetric (exact-line model exceptions
    allowed)."""
    exc = res.get("model_exceptions", 0)
    if res["kind"] == "exact" and exc and not null_set:
        return FAIL, (f"the float64 model itself breaks the symmetry on {exc} of {res['pairs'] + exc} pairs on the "
                      f"grid, and no continuous line finds it symmetric elsewhere")
    if res["pairs"] == 0:
        return NOT_CHECKED, not_checked_reason(res)
    if res["kind"] == "exact":
        if res["mismatched"] > tol_exact:
            return FAIL, f"{res['mismatched']} (event, element) pairs not bit-identical"
        return PASS, "bit-identical"
    fl, fe = res["floor"], res["floor_exact_inputs"]
    if fe is not None and fe["max_lsb"] > tol_lsb:
        return FAIL, f"the float64 model itself breaks the symmetry by up to {fe['max_lsb']:.3g} LSB"
    fl = fl or {"mean_lsb": 0.0, "p99_lsb": 0.0}
    judged = ["mean"] + (["p99"] if res["pairs"] >= MIN_PAIRS_FOR_P99 else [])
    over = {s: res[f"{s}_lsb"] - fl[f"{s}_lsb"] for s in judged}
    bad = [s for s in judged if over[s] > excess[s]]
    if bad:
        return FAIL, "C-sim violation exceeds the float64 floor by " + " and ".join(
            f"{over[s]:.3g} LSB ({s}; allowed {excess[s]:.3g})" for s in bad)
    return PASS, "within " + " and ".join(f"{excess[s]:.3g} LSB ({s})" for s in judged) + " of the float64 floor"


def not_checked_reason(res: dict) -> str:
    """Why a line compared no (event, element) pair, from its skip counters."""
    if not res.get("elements"):
        return "no group element sampled"
    if res.get("skipped_nonintegral_output") and not (res.get("skipped_input_overflow")
                                                     or res.get("skipped_output_overflow")):
        return ("no exact comparison possible: the representation matrices of the sampled elements are not integral "
                "(use elements with integer matrices, or rely on the continuous lines)")
    return "no event could be checked (every transformed event left the input or output range)"


def summarize(lines: list, groups: list) -> tuple[dict, str]:
    """Per-group and overall verdict from line verdicts (dicts with 'group' and 'verdict').

    A group fails when one of its lines fails and is NOT_CHECKED when none of its lines compared
    anything; the certificate fails when a group fails, else it is NOT_CHECKED when a declared
    group was not checked, else it passes."""
    by_group = {}
    for gname in groups:
        vs = [r["verdict"] for r in lines if r["group"] == gname]
        by_group[gname] = FAIL if FAIL in vs else PASS if PASS in vs else NOT_CHECKED
    vs = set(by_group.values())
    return by_group, FAIL if FAIL in vs else NOT_CHECKED if NOT_CHECKED in vs else PASS


def load_events(project, xs: list | None) -> list:
    """The events to check: `xs`, else the samples stored in the project at compile time."""
    if xs is not None:
        out = [np.asarray(x, dtype=np.float64) for x in xs]
    else:
        path = os.path.join(project.dir, LAYOUT.samples)
        if not os.path.exists(path):
            raise EquihlsError(f"{project.dir}: no stored samples ({LAYOUT.samples}); pass --input X.npz")
        data = np.load(path)
        out = [data[i["onnx_name"]].astype(np.float64) for i in project.inputs]
    for x, i in zip(out, project.inputs):
        if tuple(x.shape[1:]) != tuple(i["shape"]):
            raise InputError(f"input '{i['onnx_name']}' has shape {list(x.shape)}, expected "
                             f"[batch, {', '.join(map(str, i['shape']))}]")
    return out


def format_report(rep: dict) -> str:
    """The certificate as a text table."""
    outs = ", ".join(f"{o['name']} {o['type']} (LSB {o['lsb']:.3g})" for o in rep["outputs"])
    lines = [f"equivariance certificate: {rep['project']}",
             f"  groups {', '.join(rep['groups'])}; inputs {', '.join(rep['representations']['inputs'])}; "
             f"outputs {', '.join(rep['representations']['outputs'])} ({rep['representations']['output_perm']} under "
             f"permutations); {rep['events']} events x {rep['elements_per_line']} elements per line; seed "
             f"{rep['seed']}",
             f"  output {outs}; float floor from "
             f"{rep['float_reference'] or 'nothing: ' + str(rep['float_reference_note'])}",
             "",
             "  exact subgroups (bit-identical required)     pairs  events  identical  mismatched       skipped  "
             "verdict"]
    for r in rep["lines"]:
        if r["kind"] != "exact":
            continue
        name = f"{r['group']}: {r['line']}"
        skipped = r["skipped_input_overflow"] + r["skipped_output_overflow"] + r["skipped_nonintegral_output"]
        lines.append(f"  {name:<44} {r['pairs']:>6} {r['events_checked']:>7} {r['identical']:>10} "
                     f"{r['mismatched']:>11} {skipped:>13}  {SHOWN[r['verdict']]}")
        if r["pairs"] == 0:
            lines.append(f"      {r['reason']}")
        if r["skipped_nonintegral_output"]:
            lines.append(f"      skipped: {r['skipped_input_overflow']} input overflow, "
                         f"{r['skipped_output_overflow']} output "
                         f"overflow, {r['skipped_nonintegral_output']} non-integral representation matrix")
        if r.get("model_exceptions"):
            lines.append(f"      {r['model_exceptions']} pairs where the float64 model itself is not symmetric "
                         f"(model exceptions, not judged as firmware)" + ("" if r["passed"] else f": {r['reason']}"))
        if r["first_mismatch"]:
            fm = r["first_mismatch"]
            lines.append(f"      first mismatch: event {fm['event']}, element {fm['element']}: {fm['diff_lsb']:g} LSB "
                         f"(max {r['max_diff_lsb']:g} LSB)")
    lines += ["", "  continuous elements (output LSB)            pairs    mean     p99     max"
                  " |  floor mean     p99     max | float64 model | verdict"]
    for r in rep["lines"]:
        if r["kind"] != "continuous":
            continue
        name = f"{r['group']}: {r['line']}"
        if r["max_lsb"] is None:
            lines.append(f"  {name:<43} {0:>5}  {SHOWN[r['verdict']]}: {r['reason']}")
            continue
        nan = {"mean_lsb": math.nan, "max_lsb": math.nan, "p99_lsb": math.nan}
        fl, fe = r["floor"] or nan, r["floor_exact_inputs"] or nan
        lines.append(f"  {name:<43} {r['pairs']:>5} {r['mean_lsb']:>7.2f} {r['p99_lsb']:>7.2f} {r['max_lsb']:>7.1f} | "
                     f"{fl['mean_lsb']:>11.2f} {fl['p99_lsb']:>7.2f} {fl['max_lsb']:>7.1f} | {fe['max_lsb']:>13.3g} | "
                     f"{SHOWN[r['verdict']]}")
        if not r["passed"]:
            lines.append(f"      {r['reason']}")
        if r["skipped_input_overflow"]:
            lines.append(f"      {r['skipped_input_overflow']} transformed events left the input range (skipped)")
    t = rep["thresholds"]
    tim = rep["timing"]
    ex = t["continuous_excess_lsb"]
    src = t.get("continuous_source")
    if src == "arithmetic":
        a = t["arithmetic_error_lsb"]
        why = (f"{ARITH_EVALUATIONS} x the firmware's arithmetic error on these events (|C-sim - float64| mean "
               f"{a['mean']:.3g}, p99 {a['p99']:.3g}, max {a['max']:.3g} LSB; fixed rule: {t['fixed_lsb']:g} LSB)")
    else:
        why = src or "--tol-lsb"
    lines += ["",
              f"  thresholds: exact lines <= {t['exact_mismatches']} mismatching pairs; continuous lines: float64 "
              f"model within {t['float64_model_lsb']:.3g} LSB, and C-sim mean <= the float64 floor on the same "
              f"quantised inputs + {ex['mean']:.3g} LSB, p99 + {ex['p99']:.3g} LSB: {why}",
              f"  C-sim: {tim['csim_events']} events in {tim['csim_s']:.1f} s "
              f"({(tim['csim_events_per_s'] or 0):,.0f} events/s); wall {tim['wall_s']:.1f} s",
              f"  verdict: {verdict_text(rep)}"]
    return "\n".join(lines)


def verdict_text(rep: dict) -> str:
    """'PASS', 'FAIL' or 'not checked', naming the groups no line checked (rep: a certificate or
    a probe result with 'verdict' and 'group_verdicts'; older reports have only 'passed')."""
    v = rep.get("verdict") or (PASS if rep.get("passed") else FAIL)
    unchecked = [g for g, gv in (rep.get("group_verdicts") or {}).items() if gv == NOT_CHECKED]
    if not unchecked:
        return SHOWN[v]
    what = f"no line of {', '.join(unchecked)} compared any (event, element) pair"
    return f"{SHOWN[v]} ({what})" if v == NOT_CHECKED else f"{SHOWN[v]}; not checked: {what}"

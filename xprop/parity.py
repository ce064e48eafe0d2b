"""Device parity: run one grid of models on any backend and compare with the NumPy float64
reference. Used by ``tests/test_parity.py`` and ``scripts/parity_report.py``.

For each model of the grid (hidden activation x loss x depth 1-4 x bias on/off) and each
backend/dtype, :func:`run_case` records on the host: the initial parameters, the forward output,
the loss, every gradient, a gradient-check report, and the parameters after ``steps`` full-batch
SGD steps. :func:`compare` measures each quantity against the reference as
``max|x - ref| / max|ref|`` (norm-wise relative, so entries near zero do not dominate) and
judges it with the tolerances of :mod:`xprop.tolerances`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

from xprop import network
from xprop.activations import BUILT_IN, OUTPUT_ONLY
from xprop.backend import Backend, resolve_backend, to_numpy
from xprop.gradcheck import gradcheck
from xprop.head import default_output_activation, make_head
from xprop.init import standard_normal
from xprop.losses import BUILT_IN as LOSSES_BUILT_IN
from xprop.mlp import MLP
from xprop.optimizers import SGD
from xprop.tolerances import PARITY_GRADCHECK_RTOL, parity_atol, parity_rtol
from xprop.train import train_step

__all__ = ["ModelSpec", "compare", "grid", "run_case"]

N_SAMPLES, N_INPUTS, WIDTH, N_OUTPUTS = 16, 3, 6, 3
STEPS, LR = 20, 0.05


@dataclass(frozen=True)
class ModelSpec:
    activation: str
    loss: str
    depth: int  # number of weight layers (1 = no hidden layer)
    bias: bool

    @property
    def sizes(self) -> list[int]:
        return [N_INPUTS] + [WIDTH] * (self.depth - 1) + [N_OUTPUTS]

    @property
    def name(self) -> str:
        return f"{self.activation}/{self.loss}/d{self.depth}/{'bias' if self.bias else 'nobias'}"


HIDDEN = BUILT_IN - OUTPUT_ONLY  # the hidden activations of the grid
# The grid's losses: every built-in but poisson, whose exp output overflows within the grid's
# 20 SGD steps on deep random nets (its value and gradients are checked on every backend by
# tests/test_losses.py and xprop.check_loss; its training by the estimator tests).
LOSSES = LOSSES_BUILT_IN - {"poisson"}


def grid(full: bool = True) -> list[ModelSpec]:
    """Every hidden activation x every loss x depth 1-4, bias on and off (``full``), or the
    same with bias alternating so each (activation, loss, depth) appears once (a quarter of
    the work, every option still covered)."""
    out = []
    for i, (act, loss, depth) in enumerate(itertools.product(
            sorted(HIDDEN), sorted(LOSSES), range(1, 5))):
        if depth == 1 and act != "identity" and not full:
            continue  # no hidden layer: the hidden activation plays no part
        for bias in ((True, False) if full else ((i % 2) == 0,)):
            out.append(ModelSpec(act, loss, depth, bias))
    return out


def _data(spec: ModelSpec, seed: int = 0):
    """Host inputs and targets for ``spec`` (drawn in float64 from a seeded generator)."""
    host = resolve_backend("numpy").xp
    w = standard_normal((N_SAMPLES, N_INPUTS + N_OUTPUTS), seed + 1000)
    X = w[:, :N_INPUTS]
    t = w[:, N_INPUTS:]
    kind = make_head(default_output_activation(spec.loss), spec.loss).targets
    if kind == "labels":
        y = host.argmax(t, axis=1)
    elif kind == "binary":
        y = host.astype(t > 0, host.float64)
    elif kind == "counts":
        y = host.abs(t)
    else:
        y = t
    return X, y


def run_case(spec: ModelSpec, backend: Backend | str, dtype: str, *, steps: int = STEPS,
             seed: int = 0, n_checks: int | None = 3,
             check_dtype: str | None = None) -> dict[str, Any]:
    """Host copies of everything the parity suite compares for one model on one backend."""
    b = resolve_backend(backend)
    model = MLP(spec.sizes, spec.activation, default_output_activation(spec.loss),
                spec.loss, bias=spec.bias, seed=seed, dtype=dtype, backend=b)
    X, y = _data(spec, seed)
    Xd, Yd, _ = model.prepare(X, y)
    params, arch, xp = model.params, model.arch, model.xp
    out: dict[str, Any] = {"init": [_host_copy(p) for p in params.values()]}
    output, cache = network.forward(params, Xd, arch, xp)
    grads = network.backward(params, cache, Yd, arch, xp=xp)
    out["output"] = _host_copy(output)
    out["loss"] = float(network.loss_value(cache, Yd, arch, xp))
    out["grads"] = [_host_copy(g) for g in grads.values()]
    if check_dtype is None:
        check_dtype = "float64" if "float64" in b.supported_float_dtypes() else "float32"
    report = gradcheck(model, X, y, n_checks=n_checks, seed=seed, dtype=check_dtype)
    out["gradcheck"] = report
    opt = SGD(lr=LR / N_SAMPLES if spec.loss == "half_sse" else LR)  # half_sse is a sum
    for _ in range(steps):
        train_step(model, Xd, Yd, opt)
    out["trained"] = [_host_copy(p) for p in model.params.values()]
    return out


def _host_copy(x: Any) -> Any:
    """A host copy that later in-place updates of ``x`` cannot reach."""
    return resolve_backend("numpy").xp.asarray(to_numpy(x), copy=True)


@functools.lru_cache(maxsize=1024)
def reference(spec: ModelSpec, dtype: str = "float64", steps: int = STEPS,
              check_dtype: str | None = None) -> dict[str, Any]:
    """The NumPy run of ``spec`` (float64 unless asked; the gradient check in
    ``check_dtype``), cached."""
    return run_case(spec, "numpy", dtype, steps=steps, check_dtype=check_dtype)


def _report_difference(rep: Any, ref: Any) -> float:
    """How far two gradient-check reports of the same model disagree, as a ratio that is at
    most 1 when they agree: the verdicts, per-parameter verdicts, entries checked and kinks
    must be equal (else infinite); for each parameter whose worst entry is the same in both,
    the numeric values may differ by the sum of their two tolerances (each is within its own
    error estimate of the true derivative) and the analytic values by
    ``PARITY_GRADCHECK_RTOL`` relative (of the larger of the value and its tolerance)."""
    shape = [(e.name, e.n_checked, e.n_kinks, e.verdict) for e in rep.entries]
    if rep.verdict != ref.verdict or shape != [
            (e.name, e.n_checked, e.n_kinks, e.verdict) for e in ref.entries]:
        return math.inf
    rtol = PARITY_GRADCHECK_RTOL[rep.dtype]
    worst = 0.0
    for e, r in zip(rep.entries, ref.entries):
        if e.worst_index != r.worst_index:
            continue  # ties between near-equal errors; both values are judged anyway
        both = e.tolerance + r.tolerance  # 0 when nothing was judged (all kinks)
        gap = abs(e.numeric - r.numeric)
        ratios = (gap / both if both > 0 else (0.0 if gap == 0 else math.inf),
                  abs(e.analytic - r.analytic) / (rtol * max(abs(r.analytic), r.tolerance,
                                                             1e-300)))
        for d in ratios:
            worst = max(worst, d if math.isfinite(d) else math.inf)
    return worst


def _diff(a: Any, r: Any) -> tuple[float, float]:
    """(max abs difference, norm-wise relative difference) of host arrays or floats."""
    host = resolve_backend("numpy").xp
    a = host.asarray(a, dtype=host.float64)
    r = host.asarray(r, dtype=host.float64)
    if a.shape != r.shape:
        return math.inf, math.inf
    if a.size == 0:
        return 0.0, 0.0
    d = float(host.max(host.abs(a - r)))
    if not math.isfinite(d):  # NaN or inf where the reference is finite is a mismatch
        return math.inf, math.inf
    scale = float(host.max(host.abs(r)))
    return d, (d / scale if scale > 0 else (0.0 if d == 0 else math.inf))


def compare(result: dict[str, Any], ref: dict[str, Any], dtype: str, spec: ModelSpec,
            steps: int = STEPS) -> dict[str, dict[str, Any]]:
    """Per quantity: max abs and relative difference, the tolerance, and pass/fail.

    The reduction length that sets the float32 tolerance is the largest dot product in the
    model (fan-in, or the batch for weight gradients); trained parameters get ``steps + 1``
    times the one-step tolerance (rounding differences add up step by step).
    """
    n = max(N_INPUTS, WIDTH, N_SAMPLES)
    rtol = parity_rtol(dtype, n)
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, pairs: list[tuple[Any, Any]], tol: float) -> None:
        worst_abs, worst_rel = 0.0, 0.0
        for a, r in pairs:
            d, rel = _diff(a, r)
            worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, rel)
        ok = worst_rel <= tol or worst_abs <= parity_atol(dtype)
        rows[name] = {"max_abs": worst_abs, "max_rel": worst_rel, "tol": tol, "passed": ok}

    host = resolve_backend("numpy").xp
    exact = all(bool(host.all(a == host.astype(r, a.dtype)))
                for a, r in zip(result["init"], ref["init"]))
    rows["init (bit-identical)"] = {"max_abs": 0.0 if exact else math.inf,
                                    "max_rel": 0.0 if exact else math.inf,
                                    "tol": 0.0, "passed": exact}
    add("output", [(result["output"], ref["output"])], rtol)
    add("loss", [(result["loss"], ref["loss"])], rtol)
    add("gradients", list(zip(result["grads"], ref["grads"])), rtol)
    add(f"params after {steps} SGD steps", list(zip(result["trained"], ref["trained"])),
        rtol * (steps + 1))
    # The gradient check against the NumPy check of the same model (same dtype, so the same
    # weights, checked in the same evaluation dtype): same verdict, same entries, and numeric
    # and analytic values within PARITY_GRADCHECK_RTOL.
    rep = result["gradcheck"]
    ref_rep = reference(spec, dtype, steps, rep.dtype)["gradcheck"]
    diff = _report_difference(rep, ref_rep)
    tol = 1.0  # _report_difference is already relative to the tolerances
    # "max_rel" here is the largest error / tolerance of the check: at most 1 unless it fails.
    # The verdict is NumPy's, and never FAILED (at float32 precision an array whose entries
    # the check cannot resolve makes both inconclusive, as it should)
    same = rep.verdict == ref_rep.verdict and rep.verdict != "FAILED"
    rows["gradcheck verdict"] = {"max_abs": 0.0, "max_rel": rep.max_ratio,
                                 "tol": 1.0, "passed": same}
    rows["gradcheck vs NumPy's report"] = {"max_abs": 0.0, "max_rel": diff, "tol": tol,
                                           "passed": ref_rep.verdict != "FAILED" and diff <= tol}
    return rows

"""Numerical gradient check, written once for any Array-API namespace.

For each checked entry ``theta_j`` the numeric derivative is the five-point central difference

    g_num = (-L(theta + 2h e_j) + 8 L(theta + h e_j) - 8 L(theta - h e_j) + L(theta - 2h e_j)) / 12h

(``method="central"`` uses ``(L(theta + h e_j) - L(theta - h e_j)) / 2h``), compared with the
analytic gradient by ``rel = |g_num - g_ana| / max(|g_num| + |g_ana|, tiny)``.

The check runs in float64: a float32 model is copied to float64 on its own backend and device
(the model itself is not touched). On a device without float64 pass ``dtype="float32"`` for a
loose check or move the model (``model.to("numpy")``). Entries whose perturbation moves a ReLU
or leaky-ReLU pre-activation across 0 are flagged as kinks and not judged.

``mode="fast"`` compares one seeded random direction ``d`` (directional derivative against
``sum(g_ana * d)``) and falls back to the per-entry check when that fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from array_api_compat import device

from xprop import network
from xprop.backend import BackendError, dtype_name
from xprop.init import random_directions, sample_indices
from xprop.tolerances import FLOAT_EPS, GRADCHECK, GRADCHECK_FAST_RTOL, NOISE_SAFETY

Array = Any

__all__ = ["GradcheckReport", "ParamCheck", "gradcheck"]

_STENCILS = {
    "central": ((1.0, 0.5), (-1.0, -0.5)),
    "five_point": ((2.0, -1.0 / 12), (1.0, 8.0 / 12), (-1.0, -8.0 / 12), (-2.0, 1.0 / 12)),
}


@dataclass
class ParamCheck:
    """Result for one parameter (or the input ``X``)."""

    name: str
    shape: tuple[int, ...]
    n_checked: int
    n_kinks: int
    max_rel_error: float
    max_abs_error: float
    worst_index: tuple[int, ...] | None
    numeric: float
    analytic: float
    passed: bool


@dataclass
class GradcheckReport:
    """Per-parameter results with the settings used; ``str(report)`` is a readable table."""

    entries: list[ParamCheck]
    dtype: str
    method: str
    eps: float
    rtol: float
    tiny: float
    backend: str
    mode: str = "full"
    fast: dict[str, float] | None = field(default=None)

    @property
    def passed(self) -> bool:
        if self.mode == "fast" and self.fast is not None and self.fast["passed"]:
            return True
        return all(e.passed for e in self.entries)

    @property
    def max_rel_error(self) -> float:
        if not self.entries and self.fast is not None:
            return self.fast["rel_error"]
        return max((e.max_rel_error for e in self.entries), default=0.0)

    @property
    def n_kinks(self) -> int:
        return sum(e.n_kinks for e in self.entries)

    def __bool__(self) -> bool:
        return self.passed

    def raise_if_failed(self) -> GradcheckReport:
        if not self.passed:
            raise AssertionError(f"gradient check failed\n{self}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "dtype": self.dtype, "method": self.method, "eps": self.eps,
            "rtol": self.rtol, "tiny": self.tiny, "backend": self.backend, "mode": self.mode,
            "fast": self.fast, "entries": [vars(e) for e in self.entries],
        }

    def __str__(self) -> str:
        head = (f"gradient check ({self.mode}, {self.method} differences, h={self.eps:g}, "
                f"{self.dtype}, rtol={self.rtol:g}, tiny={self.tiny:g}) on {self.backend}")
        lines = [head]
        if self.fast is not None:
            f = self.fast
            lines.append(
                f"  random direction: numeric {f['numeric']:.10g}  analytic {f['analytic']:.10g}"
                f"  rel error {f['rel_error']:.2e}  {'ok' if f['passed'] else 'FAILED'}"
            )
        if self.entries:
            lines.append(f"  {'param':<6} {'shape':<12} {'checked':>7} {'kinks':>5} "
                         f"{'max rel err':>11} {'worst':<10} {'numeric':>14} {'analytic':>14}  ")
            for e in self.entries:
                worst = "-" if e.worst_index is None else ",".join(map(str, e.worst_index))
                lines.append(
                    f"  {e.name:<6} {'x'.join(map(str, e.shape)):<12} {e.n_checked:>7d} "
                    f"{e.n_kinks:>5d} {e.max_rel_error:>11.2e} {worst:<10} {e.numeric:>14.6e} "
                    f"{e.analytic:>14.6e}  {'ok' if e.passed else 'FAILED'}"
                )
        lines.append(f"  verdict: {'PASSED' if self.passed else 'FAILED'}"
                     + (f" ({self.n_kinks} kink(s) skipped)" if self.n_kinks else ""))
        return "\n".join(lines)


def _relative_error(num: float, ana: float, tiny: float) -> float:
    """``|num - ana| / max(|num| + |ana|, tiny)``; infinite when either is NaN or inf."""
    if not (math.isfinite(num) and math.isfinite(ana)):
        return math.inf
    return abs(num - ana) / max(abs(num) + abs(ana), tiny)


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    idx = []
    for s in reversed(shape):
        idx.append(k % s)
        k //= s
    return tuple(reversed(idx))


def gradcheck(
    model: Any,
    X: Any,
    y: Any,
    *,
    eps: float | None = None,
    method: str = "five_point",
    n_checks: int | None = None,
    seed: int = 0,
    check_input: bool = False,
    mode: str = "full",
    dtype: str = "float64",
    rtol: float | None = None,
) -> GradcheckReport:
    """Compare ``model``'s analytic gradients with finite differences of its loss on
    ``(X, y)``; see the module docstring. ``n_checks`` checks a seeded random subset of that
    many entries per parameter (all when ``None``); ``check_input`` checks dL/dX too.
    Works on any backend; returns a :class:`GradcheckReport` (``report.passed``)."""
    if method not in _STENCILS:
        raise ValueError(f"method: expected one of {sorted(_STENCILS)}, got {method!r}")
    if mode not in ("full", "fast"):
        raise ValueError(f"mode: expected 'full' or 'fast', got {mode!r}")
    if dtype not in GRADCHECK:
        raise ValueError(f"dtype: expected one of {sorted(GRADCHECK)}, got {dtype!r}")
    if n_checks is not None and (isinstance(n_checks, bool) or not isinstance(n_checks, int)
                                 or n_checks < 1):
        raise ValueError(f"n_checks: expected an integer >= 1 or None, got {n_checks!r}")
    settings = GRADCHECK[dtype]
    h = float(settings["eps"] if eps is None else eps)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    rtol = float(settings["rtol"] if rtol is None else rtol)
    if not (math.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol: expected a finite number > 0, got {rtol!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    tiny = float(settings["tiny"])
    if dtype not in model.backend.supported_float_dtypes():
        raise BackendError(
            f"dtype: the gradient check evaluates in {dtype}, which "
            f"{model.backend.describe()} does not support; pass dtype='float32' for a loose "
            "check or move the model to a float64 device, e.g. model.to('numpy')"
        )
    with model.backend.context():
        return _gradcheck(model, X, y, h, method, n_checks, seed, check_input, mode, dtype,
                          rtol, tiny)


def _gradcheck(model: Any, X: Any, y: Any, h: float, method: str, n_checks: int | None,
               seed: int, check_input: bool, mode: str, dtype: str, rtol: float,
               tiny: float) -> GradcheckReport:
    m = model if dtype_name(model.dtype, model.xp) == dtype else model.astype(dtype)
    xp, arch = m.xp, m.arch
    Xd, Y, _ = m.prepare(X, y)
    params = dict(m.params)
    names = list(params)
    grads, dX = network.backward(params, network.forward(params, Xd, arch, xp)[1], Y, arch,
                                 input_grad=True, xp=xp)
    kink_layers = [i for i, a in enumerate(arch.activations) if a.kink]
    stencil = _STENCILS[method]

    def evaluate(ps: dict[str, Array], x: Array) -> tuple[float, list[Array]]:
        _, c = network.forward(ps, x, arch, xp)
        return float(network.loss_value(c, Y, arch, xp)), [c.pre[i] > 0 for i in kink_layers]

    base_loss, base_signs = evaluate(params, Xd)
    # Rounding in L alone moves a difference quotient by about noise = c u |L| / h; entries
    # smaller than noise / rtol cannot be judged relatively, so the floor of the denominator
    # grows with the loss (see xprop.tolerances).
    unit = FLOAT_EPS[dtype] / 2.0
    noise = sum(abs(w) for _, w in stencil) * unit * abs(base_loss) / h
    noise_floor = NOISE_SAFETY * noise / rtol
    tiny = max(tiny, noise_floor)
    if not math.isfinite(base_loss):
        raise ValueError(f"X, y: the loss is {base_loss} at these parameters; a gradient check "
                         "needs a finite loss")
    scale = max((float(xp.max(xp.abs(g))) for g in grads.values()), default=0.0)
    if NOISE_SAFETY * noise >= max(scale, FLOAT_EPS[dtype]):
        # the absolute tolerance rtol * tiny would exceed the largest gradient: vacuous
        raise ValueError(
            f"eps: {h:g} is too small for this loss (|L| = {abs(base_loss):.3g}): rounding in L "
            f"alone moves the difference quotient by {noise:.1e}, about as much as the largest "
            f"gradient ({scale:.1e}), so nothing could be judged; use eps around 1e-3"
        )

    def crosses_kink(signs: list[Array]) -> bool:
        return any(bool(xp.any(s != b)) for s, b in zip(signs, base_signs))

    def directional(direction: list[Array], target: list[str]) -> tuple[float, bool]:
        """Finite-difference derivative along ``direction`` (one array per target name)."""
        total, kink = 0.0, False
        for step, weight in stencil:
            ps, x = dict(params), Xd
            for slot, d in zip(target, direction):
                if slot == "X":
                    x = Xd + (step * h) * d
                else:
                    ps[slot] = params[slot] + (step * h) * d
            value, signs = evaluate(ps, x)
            kink = kink or crosses_kink(signs)
            total += weight * value
        return total / h, kink

    names = names + (["X"] if check_input else [])
    arrays = [params[k] for k in params] + ([Xd] if check_input else [])
    analytic = [grads[k] for k in params] + ([dX] if check_input else [])
    slots = names
    report = GradcheckReport([], dtype, method, h, rtol, tiny, m.backend.describe(), mode)

    if mode == "fast":
        shapes = [tuple(a.shape) for a in arrays]
        dirs = [m.backend.from_host(d, m.dtype) for d in random_directions(shapes, seed)]
        num, kink = directional(dirs, slots)
        ana = sum(float(xp.sum(g * d)) for g, d in zip(analytic, dirs))
        rel = _relative_error(num, ana, tiny)
        ok = (not kink) and rel <= GRADCHECK_FAST_RTOL[dtype]
        report.fast = {"numeric": num, "analytic": ana, "rel_error": rel,
                       "kink": float(kink), "passed": ok}
        if ok:
            return report

    for name, arr, g, slot in zip(names, arrays, analytic, slots):
        shape = tuple(arr.shape)
        size = math.prod(shape)
        flat_g = xp.reshape(g, (-1,))
        positions = xp.arange(size, device=device(arr))
        worst = (-1.0, 0.0, None, 0.0, 0.0)  # rel, abs, index, numeric, analytic
        n_kinks = 0
        checked = sample_indices(size, n_checks, seed + len(report.entries))
        for k in checked:
            basis = xp.reshape(xp.astype(positions == k, arr.dtype), shape)
            num, kink = directional([basis], [slot])
            if kink:
                n_kinks += 1
                continue
            ana = float(flat_g[k])
            err = abs(num - ana) if math.isfinite(num - ana) else math.inf
            rel = _relative_error(num, ana, tiny)
            if rel > worst[0]:
                worst = (rel, err, _unravel(k, shape), num, ana)
        rel, err, idx, num, ana = worst
        rel = max(rel, 0.0)
        report.entries.append(ParamCheck(name, shape, len(checked), n_kinks, rel, err, idx,
                                         num, ana, rel <= rtol))
    return report

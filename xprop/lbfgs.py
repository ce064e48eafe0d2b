"""L-BFGS on a flat parameter buffer, written once against the Array API (any backend, any
device: no copy to the host, only scalars cross).

Nocedal & Wright, *Numerical Optimization* (2nd ed.): the search direction is ``d = -H g``
by the two-loop recursion (Algorithm 7.4) over the last ``history`` pairs
``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k`` (pairs with ``s.y <= eps |s| |y|`` are skipped),
with ``H_0 = (s.y / y.y) I``; the first step is ``1 / ||g||_2`` along ``-g`` (as SciPy's
L-BFGS-B takes it with nothing bounded), later ones start at 1; the step length satisfies the
strong Wolfe conditions
``f(x + a d) <= f(x) + c1 a g.d`` and ``|g(x + a d).d| <= c2 |g.d|`` (c1 = 1e-4, c2 = 0.9;
Algorithms 3.5 and 3.6, zoom by safeguarded cubic interpolation).

Stopping rules are SciPy's L-BFGS-B's (what scikit-learn's ``solver="lbfgs"`` uses): the
largest gradient entry ``<= gtol``, a relative decrease ``(f_k - f_{k+1}) / max(|f_k|,
|f_{k+1}|, 1) <= ftol`` (default ``2.2e-9``, SciPy's ``factr = 1e7``), ``max_iter``
iterations or ``max_fun`` evaluations of ``f``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any

__all__ = ["LbfgsResult", "minimize_lbfgs"]

FTOL = 1e7 * 2.220446049250313e-16  # SciPy's default factr times the float64 epsilon


@dataclass
class LbfgsResult:
    """``x`` (an array of ``x0``'s namespace), its value ``fun``, iterations ``n_iter``,
    evaluations ``n_fev``, whether a convergence test (``gtol``/``ftol``) stopped it, and why
    it stopped, in words."""

    x: Array
    fun: float
    n_iter: int
    n_fev: int
    converged: bool
    message: str


class _Budget(Exception):
    """Raised inside the line search when ``max_fun`` evaluations are spent."""


def minimize_lbfgs(fg: Callable[[Array], tuple[float, Array]], x0: Array, *, xp: Any,
                   max_iter: int = 200, max_fun: int = 15000, gtol: float = 1e-5,
                   ftol: float = FTOL, history: int = 10) -> LbfgsResult:
    """Minimize ``f`` from ``x0`` (a 1-D array); ``fg(x)`` returns ``(f(x), grad f(x))``,
    ``f`` a Python float and the gradient an array like ``x``. See the module docstring."""
    n_fev = 0

    def evaluate(x: Array) -> tuple[float, Array]:
        nonlocal n_fev
        if n_fev >= max_fun:
            raise _Budget
        n_fev += 1
        f, g = fg(x)
        return float(f), g

    def dot(a: Array, b: Array) -> float:
        return float(xp.sum(a * b))

    x = x0
    f, g = evaluate(x)
    pairs: deque[tuple[Array, Array, float]] = deque(maxlen=history)  # (s, y, 1 / s.y)
    message, converged, k = "", False, 0
    while True:
        if float(xp.max(xp.abs(g))) <= gtol:
            message, converged = "the largest gradient entry is <= gtol", True
            break
        if k >= max_iter:
            message = f"STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT ({max_iter})"
            break
        d = _direction(g, pairs, xp, dot)
        slope = dot(g, d)
        if not slope < 0:  # not a descent direction (rounding): restart from -g
            pairs.clear()
            d, slope = -g, -dot(g, g)
        # the first step: 1 / ||g||_2 along -g, as L-BFGS-B takes it with nothing bounded
        first = 1.0 if pairs else 1.0 / max(math.sqrt(dot(g, g)), 1e-300)
        try:
            step, f_new, g_new = _wolfe(evaluate, x, f, slope, d, first, dot)
        except _Budget:
            message = f"STOP: TOTAL NO. OF f AND g EVALUATIONS EXCEEDS LIMIT ({max_fun})"
            break
        if step == 0.0:
            message = "ABNORMAL: the line search found no step that decreases f"
            break
        s = step * d
        x_new = x + s
        y = g_new - g
        sy = dot(s, y)
        if sy > 2.220446049250313e-16 * math.sqrt(dot(s, s) * dot(y, y)):
            pairs.append((s, y, 1.0 / sy))
        k += 1
        decrease = (f - f_new) / max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if decrease <= ftol:
            message, converged = "the relative decrease of f is <= ftol", True
            break
    return LbfgsResult(x, f, k, n_fev, converged, message)


def _direction(g: Array, pairs: deque, xp: Any, dot: Callable) -> Array:
    """``-H g`` by the two-loop recursion."""
    q = g
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * dot(s, q)
        alphas.append(a)
        q = q - a * y
    if pairs:
        s, y, rho = pairs[-1]
        q = q * ((1.0 / rho) / dot(y, y))
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        b = rho * dot(y, q)
        q = q + (a - b) * s
    return -q


def _wolfe(evaluate: Callable, x: Array, f0: float, slope0: float, d: Array, step: float,
           dot: Callable, c1: float = 1e-4, c2: float = 0.9,
           max_steps: int = 40) -> tuple[float, float, Array]:
    """A step satisfying the strong Wolfe conditions along ``d`` (Algorithm 3.5), or the best
    decreasing step found; ``(0, f0, None)`` when none decreases ``f``."""
    prev_step, prev_f, prev_slope = 0.0, f0, slope0
    best = (0.0, f0, None)
    for i in range(max_steps):
        f, g = evaluate(x + step * d)
        slope = dot(g, d)
        if math.isfinite(f) and f < best[1]:
            best = (step, f, g)
        if not math.isfinite(f) or f > f0 + c1 * step * slope0 or (i > 0 and f >= prev_f):
            return _zoom(evaluate, x, f0, slope0, d, prev_step, prev_f, prev_slope, step, f,
                         slope, dot, c1, c2, best)
        if abs(slope) <= -c2 * slope0:
            return step, f, g
        if slope >= 0:
            return _zoom(evaluate, x, f0, slope0, d, step, f, slope, prev_step, prev_f,
                         prev_slope, dot, c1, c2, best)
        prev_step, prev_f, prev_slope = step, f, slope
        step *= 2.0
    return best


def _zoom(evaluate: Callable, x: Array, f0: float, slope0: float, d: Array, lo: float,
          f_lo: float, slope_lo: float, hi: float, f_hi: float, slope_hi: float,
          dot: Callable, c1: float, c2: float, best: tuple,
          max_steps: int = 30) -> tuple[float, float, Array]:
    """Algorithm 3.6: shrink ``[lo, hi]`` (``lo`` the best step so far satisfying the
    sufficient decrease) by cubic interpolation, bisection when it falls outside."""
    for _ in range(max_steps):
        step = _cubic(lo, f_lo, slope_lo, hi, f_hi, slope_hi)
        width = abs(hi - lo)
        if not (min(lo, hi) + 0.1 * width <= step <= max(lo, hi) - 0.1 * width):
            step = 0.5 * (lo + hi)
        f, g = evaluate(x + step * d)
        slope = dot(g, d)
        if math.isfinite(f) and f < best[1]:
            best = (step, f, g)
        if not math.isfinite(f) or f > f0 + c1 * step * slope0 or f >= f_lo:
            hi, f_hi, slope_hi = step, f, slope
        else:
            if abs(slope) <= -c2 * slope0:
                return step, f, g
            if slope * (hi - lo) >= 0:
                hi, f_hi, slope_hi = lo, f_lo, slope_lo
            lo, f_lo, slope_lo = step, f, slope
        if abs(hi - lo) <= 1e-12 * max(1.0, abs(lo)):
            break
    return best


def _cubic(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float:
    """The minimizer of the cubic through ``(a, fa, da)`` and ``(b, fb, db)`` (Nocedal & Wright
    eq. 3.59), NaN when it has none."""
    if not all(map(math.isfinite, (fa, da, fb, db))) or a == b:
        return math.nan
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return math.nan
    return b - (b - a) * (db + d2 - d1) / denom

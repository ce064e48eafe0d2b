"""L-BFGS on a flat parameter buffer, written once against the Array API (any backend, any
device: no copy to the host, only scalars cross), on the path SciPy's L-BFGS-B takes when
nothing is bounded (what scikit-learn's ``solver="lbfgs"`` runs).

Nocedal & Wright, *Numerical Optimization* (2nd ed.): the search direction is ``d = -H g``
by the two-loop recursion (Algorithm 7.4) over the last ``history`` pairs
``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k``, with ``H_0 = (s.y / y.y) I`` (L-BFGS-B's compact
form gives the same direction); a pair with ``s.y <= eps (-g_k.s)`` is skipped, as L-BFGS-B
skips it. The first step is ``1 / ||g||_2`` along ``-g``, later ones start at 1; the step
length comes from the Moré–Thuente line search (:mod:`xprop.linesearch`, L-BFGS-B's
``ftol=1e-3, gtol=0.9, xtol=0.1``) with at most ``max_ls`` evaluations. A search that fails
(no descent direction, or ``max_ls`` evaluations spent) drops the pairs and starts again
along ``-g``; when it fails along ``-g`` the run ends (SciPy's "ABNORMAL").

After each iteration, in SciPy's order: ``max_iter`` iterations, more than ``max_fun``
evaluations of ``f`` (a line search in progress is finished first; as SciPy counts them, a
point evaluated twice in a row counts once), the largest gradient entry
``<= gtol``, a relative decrease ``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol``
(default ``2.2e-9``, SciPy's ``factr = 1e7``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xprop.linesearch import MoreThuente
from xprop.validation import check_int

Array = Any

__all__ = ["LbfgsResult", "minimize_lbfgs"]

EPS = 2.220446049250313e-16
FTOL = 1e7 * EPS  # SciPy's default factr times the float64 epsilon
STEP_MAX = 1e10  # L-BFGS-B's largest step when nothing is bounded


@dataclass
class LbfgsResult:
    """``x`` (an array of ``x0``'s namespace), its value ``fun``, iterations ``n_iter``,
    evaluations ``n_fev``, ``status`` as SciPy's (0: a convergence test stopped it, 1: a limit,
    2: the line search failed), whether it ``converged`` (status 0) and why it stopped."""

    x: Array
    fun: float
    n_iter: int
    n_fev: int
    status: int
    message: str

    @property
    def converged(self) -> bool:
        """Whether a convergence test (``gtol`` or ``ftol``) stopped it."""
        return self.status == 0


def minimize_lbfgs(fg: Callable[[Array], tuple[float, Array]], x0: Array, *, xp: Any,
                   max_iter: int = 200, max_fun: int = 15000, gtol: float = 1e-5,
                   ftol: float = FTOL, history: int = 10, max_ls: int = 20) -> LbfgsResult:
    """Minimize ``f`` from ``x0`` (a 1-D array); ``fg(x)`` returns ``(f(x), grad f(x))``,
    ``f`` a Python float and the gradient an array like ``x``. See the module docstring."""
    history = check_int(history, "history")  # SciPy's maxcor: at least 1 (it refuses 0)
    n_fev, last = 0, None

    def evaluate(x: Array) -> tuple[float, Array]:
        """``fg(x)``, counted; the point just evaluated again is not (as SciPy's cache)."""
        nonlocal n_fev, last
        if last is not None and bool(xp.all(x == last[0])):
            return last[1], last[2]
        n_fev += 1
        f, g = fg(x)
        last = (x, float(f), g)
        return last[1], g

    def dot(a: Array, b: Array) -> float:
        return float(xp.sum(a * b))

    def largest(g: Array) -> float:
        return float(xp.max(xp.abs(g)))

    x = x0
    f, g = evaluate(x)
    if largest(g) <= gtol:
        return LbfgsResult(x, f, 0, n_fev, 0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
    pairs: deque[tuple[Array, Array, float]] = deque(maxlen=history)  # (s, y, 1 / s.y)
    k = 0
    while True:
        d = _direction(g, pairs, xp, dot)
        first = 1.0 / math.sqrt(dot(d, d)) if k == 0 else 1.0
        found = _line_search(evaluate, x, f, dot(g, d), d, min(first, STEP_MAX), max_ls, dot)
        if found is None:
            if not pairs:
                return LbfgsResult(x, f, k, n_fev, 2, "ABNORMAL: the line search failed")
            pairs.clear()  # L-BFGS-B refreshes its memory and starts again along -g
            continue
        step, x_new, f_new, g_new = found
        k += 1
        status, message = _stopped(k, n_fev, f, f_new, largest(g_new), max_iter, max_fun,
                                   gtol, ftol)
        if status is not None:
            return LbfgsResult(x_new, f_new, k, n_fev, status, message)
        # s.y and g_k.s from the directional derivatives, as L-BFGS-B forms them
        sy = (dot(g_new, d) - dot(g, d)) * step
        if sy > EPS * (-dot(g, d) * step):
            pairs.append((step * d, g_new - g, 1.0 / sy))
        x, f, g = x_new, f_new, g_new


def _stopped(k: int, n_fev: int, f: float, f_new: float, largest_g: float, max_iter: int,
             max_fun: int, gtol: float, ftol: float) -> tuple[int | None, str]:
    """SciPy's tests after iteration ``k``, in its order: ``(status, message)``, or
    ``(None, "")`` to go on."""
    if k >= max_iter:
        return 1, f"STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT ({max_iter})"
    if n_fev > max_fun:
        return 1, f"STOP: TOTAL NO. OF f AND g EVALUATIONS EXCEEDS LIMIT ({max_fun})"
    if largest_g <= gtol:
        return 0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
    if f - f_new <= ftol * max(abs(f), abs(f_new), 1.0):
        return 0, "CONVERGENCE: REL_REDUCTION_OF_F <= FACTR*EPSMCH"
    return None, ""


def _line_search(evaluate: Callable, x: Array, f0: float, slope0: float, d: Array,
                 step: float, max_ls: int, dot: Callable) -> tuple | None:
    """``(step, x + step d, f, g)`` where the Moré–Thuente search stops, within ``max_ls``
    evaluations; ``None`` when ``d`` is not a descent direction or the evaluations run out."""
    if not slope0 < 0:
        return None
    search = MoreThuente(f0, slope0, step, stpmax=STEP_MAX)
    for _ in range(max_ls):
        x_new = x + search.step * d
        f, g = evaluate(x_new)
        if search.update(f, dot(g, d)) is not None:
            return search.step, x_new, f, g
    return None


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

"""The Moré–Thuente line search, as MINPACK-2's ``dcsrch`` runs it inside SciPy's L-BFGS-B.

J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient decrease",
ACM Trans. Math. Software 20 (1994) 286-307. Along a descent direction, with
``phi(a) = f(x + a d)``, it looks for a step ``a`` with

- sufficient decrease: ``phi(a) <= phi(0) + ftol a phi'(0)``, and
- curvature: ``|phi'(a)| <= gtol |phi'(0)|``,

keeping an interval ``[stx, sty]`` that brackets such a step and choosing each trial by
safeguarded cubic, quadratic or secant interpolation (:func:`_trial_step`). Until the
sufficient decrease holds with ``phi'(a) >= 0`` it works on the shifted function
``psi(a) = phi(a) - phi(0) - ftol a phi'(0)`` (the paper's first stage).

The search is a state machine driven by its caller (MINPACK's reverse communication): it
proposes a step, the caller evaluates ``phi`` and ``phi'`` there and hands them back, so the
caller owns the evaluations, their count and their budget. Only Python floats pass through
it: it is the same on every backend.
"""

from __future__ import annotations

import math

__all__ = ["MoreThuente"]

_XTRAPL, _XTRAPU = 1.1, 4.0  # how far an unbracketed trial may extrapolate past the last one
_BISECT_IF = 0.66  # bisect when the interval shrank less than this in two trials


class MoreThuente:
    """One search from ``phi(0) = f0``, ``phi'(0) = g0 < 0``, first trial ``step``.

    ``update(f, g)`` takes ``phi`` and ``phi'`` at :attr:`step` and returns ``None`` when
    :attr:`step` should be evaluated next, or the reason it stopped: ``"CONVERGENCE"`` (both
    conditions hold at :attr:`step`) or a ``"WARNING: ..."`` (no step satisfies both; :attr:`step`
    is then the last trial). ``ftol=1e-3, gtol=0.9, xtol=0.1`` are L-BFGS-B's values.
    """

    def __init__(self, f0: float, g0: float, step: float, *, ftol: float = 1e-3,
                 gtol: float = 0.9, xtol: float = 0.1, stpmin: float = 0.0,
                 stpmax: float = 1e10) -> None:
        if not g0 < 0:
            raise ValueError(f"g0: expected a descent direction (phi'(0) < 0), got {g0!r}")
        if not stpmin <= step <= stpmax:
            raise ValueError(f"step: expected a value in [{stpmin}, {stpmax}], got {step!r}")
        self.step = step
        self.ftol, self.gtol, self.xtol = ftol, gtol, xtol
        self.stpmin, self.stpmax = stpmin, stpmax
        self.f0, self.g0 = f0, g0
        self.gtest = ftol * g0  # the slope of the sufficient-decrease line
        self.bracketed, self.first_stage = False, True
        self.width = stpmax - stpmin
        self.width1 = 2.0 * self.width
        self.stx, self.fx, self.gx = 0.0, f0, g0  # the best step so far
        self.sty, self.fy, self.gy = 0.0, f0, g0  # the other end of the interval
        self.stmin, self.stmax = 0.0, step + _XTRAPU * step

    def update(self, f: float, g: float) -> str | None:
        """Take ``phi(step) = f``, ``phi'(step) = g``; see the class docstring."""
        stp = self.step
        ftest = self.f0 + stp * self.gtest
        if self.first_stage and f <= ftest and g >= 0:
            self.first_stage = False
        stop = self._stop(stp, f, g, ftest)
        if stop is not None:
            return stop
        best, other = (self.stx, self.fx, self.gx), (self.sty, self.fy, self.gy)
        if self.first_stage and f <= self.fx and f > ftest:
            # psi instead of phi: values shift by ``a gtest``, derivatives by ``gtest``
            gt = self.gtest
            (stx, fx, gx), (sty, fy, gy), stp, self.bracketed = _trial_step(
                _shifted(best, gt), _shifted(other, gt), _shifted((stp, f, g), gt),
                self.bracketed, self.stmin, self.stmax)
            best, other = (stx, fx + stx * gt, gx + gt), (sty, fy + sty * gt, gy + gt)
        else:
            best, other, stp, self.bracketed = _trial_step(best, other, (stp, f, g),
                                                           self.bracketed, self.stmin,
                                                           self.stmax)
        (self.stx, self.fx, self.gx), (self.sty, self.fy, self.gy) = best, other
        self.step = self._safeguard(stp)
        return None

    def _stop(self, stp: float, f: float, g: float, ftest: float) -> str | None:
        """Why the search ends at ``stp``, or ``None`` (MINPACK's order: the last test that
        holds wins)."""
        reason = None
        if self.bracketed and (stp <= self.stmin or stp >= self.stmax):
            reason = "WARNING: ROUNDING ERRORS PREVENT PROGRESS"
        if self.bracketed and self.stmax - self.stmin <= self.xtol * self.stmax:
            reason = "WARNING: XTOL TEST SATISFIED"
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            reason = "WARNING: STP = STPMAX"
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            reason = "WARNING: STP = STPMIN"
        if f <= ftest and abs(g) <= self.gtol * -self.g0:
            reason = "CONVERGENCE"
        return reason

    def _safeguard(self, stp: float) -> float:
        """Bisect when the bracket shrinks too slowly; keep ``stp`` within the allowed range;
        fall back to the best step when no progress is possible."""
        if self.bracketed:
            if abs(self.sty - self.stx) >= _BISECT_IF * self.width1:
                stp = self.stx + 0.5 * (self.sty - self.stx)
            self.width1, self.width = self.width, abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp + _XTRAPL * (stp - self.stx)
            self.stmax = stp + _XTRAPU * (stp - self.stx)
        stp = _fmin(_fmax(stp, self.stpmin), self.stpmax)
        if self.bracketed and (stp <= self.stmin or stp >= self.stmax
                               or self.stmax - self.stmin <= self.xtol * self.stmax):
            stp = self.stx
        return stp


def _shifted(point: tuple[float, float, float], gtest: float) -> tuple[float, float, float]:
    """``(a, phi(a), phi'(a))`` as ``(a, psi(a) + const, psi'(a))``: the first stage's
    function, up to the constant ``phi(0)`` (MINPACK's ``fm, gm``)."""
    a, f, g = point
    return a, f - a * gtest, g - gtest


def _fmax(a: float, b: float) -> float:
    """C's ``fmax``: a NaN argument gives the other one."""
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def _fmin(a: float, b: float) -> float:
    """C's ``fmin``: a NaN argument gives the other one."""
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


def _div(a: float, b: float) -> float:
    """``a / b`` as IEEE arithmetic gives it (Python raises on ``b == 0``)."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _cubic_gamma(theta: float, da: float, db: float, *, clamp: bool = False) -> float:
    """``sqrt(theta^2 - da db)``, scaled against overflow (negative under the root: NaN,
    or 0 with ``clamp``)."""
    s = max(abs(theta), abs(da), abs(db))
    if s == 0:
        return 0.0
    disc = (theta / s) ** 2 - (da / s) * (db / s)
    if clamp:
        disc = max(0.0, disc)
    return s * math.sqrt(disc) if disc >= 0 else math.nan


def _trial_step(best: tuple[float, float, float], other: tuple[float, float, float],
                trial: tuple[float, float, float], bracketed: bool, stpmin: float,
                stpmax: float) -> tuple[tuple, tuple, float, bool]:
    """MINPACK-2's ``dcstep``: a new trial step from the interval's ends ``best = (stx, fx,
    dx)`` (the lowest value so far: ``dx (stp - stx) < 0``) and ``other = (sty, fy, dy)`` and
    the trial ``(stp, fp, dp)``, and the updated interval. The paper's four cases, in order: a
    higher value (bracketed: the cubic step, or halfway to the quadratic one); derivatives of
    opposite signs (bracketed: the cubic or the secant step, whichever is farther); a
    derivative that shrinks in magnitude (cubic or secant, extrapolating at most to the
    bound); one that does not (the cubic through ``sty`` when bracketed, else a bound).

    Returns ``(best, other, next_step, bracketed)``.
    """
    (stx, fx, dx), (sty, fy, dy), (stp, fp, dp) = best, other, trial
    opposite = dp * (dx / abs(dx)) < 0 if dx != 0 else False
    if fp > fx:
        theta = _div(3.0 * (fx - fp), stp - stx) + dx + dp
        gamma = _cubic_gamma(theta, dx, dp)
        if stp < stx:
            gamma = -gamma
        r = _div((gamma - dx) + theta, ((gamma - dx) + gamma) + dp)
        cubic = stx + r * (stp - stx)
        quadratic = stx + (_div(dx, _div(fx - fp, stp - stx) + dx) / 2.0) * (stp - stx)
        if abs(cubic - stx) < abs(quadratic - stx):
            new = cubic
        else:
            new = cubic + (quadratic - cubic) / 2.0
        bracketed = True
    elif opposite:
        theta = _div(3.0 * (fx - fp), stp - stx) + dx + dp
        gamma = _cubic_gamma(theta, dx, dp)
        if stp > stx:
            gamma = -gamma
        r = _div((gamma - dp) + theta, ((gamma - dp) + gamma) + dx)
        cubic = stp + r * (stx - stp)
        secant = stp + _div(dp, dp - dx) * (stx - stp)
        new = cubic if abs(cubic - stp) > abs(secant - stp) else secant
        bracketed = True
    elif abs(dp) < abs(dx):
        theta = _div(3.0 * (fx - fp), stp - stx) + dx + dp
        gamma = _cubic_gamma(theta, dx, dp, clamp=True)
        if stp > stx:
            gamma = -gamma
        r = _div((gamma - dp) + theta, (gamma + (dx - dp)) + gamma)
        if r < 0 and gamma != 0:
            cubic = stp + r * (stx - stp)
        else:
            cubic = stpmax if stp > stx else stpmin
        secant = stp + _div(dp, dp - dx) * (stx - stp)
        if bracketed:
            new = cubic if abs(cubic - stp) < abs(secant - stp) else secant
            limit = stp + _BISECT_IF * (sty - stp)
            new = _fmin(limit, new) if stp > stx else _fmax(limit, new)
        else:
            new = cubic if abs(cubic - stp) > abs(secant - stp) else secant
            new = _fmax(stpmin, _fmin(stpmax, new))
    elif bracketed:
        theta = _div(3.0 * (fp - fy), sty - stp) + dy + dp
        gamma = _cubic_gamma(theta, dy, dp)
        if stp > sty:
            gamma = -gamma
        r = _div((gamma - dp) + theta, ((gamma - dp) + gamma) + dy)
        new = stp + r * (sty - stp)
    else:
        new = stpmax if stp > stx else stpmin
    if fp > fx:
        return best, trial, new, bracketed
    return trial, best if opposite else other, new, bracketed

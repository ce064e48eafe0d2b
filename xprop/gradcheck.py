"""Numerical gradient check with its own error model, written once for any Array-API namespace.

The check knows nothing of models (as Chainer's ``numerical_grad``): :func:`check_gradients`
takes a function ``f(*arrays) -> scalar``, the arrays and the gradients claimed for them;
:func:`gradcheck` is a thin wrapper that checks a model's loss on ``(X, y)``.

**Differences.** For entry ``theta_j``, step ``h`` and ``L(s) = f(theta + s h e_j)``::

    five-point   D(h)  = (-L(2) + 8 L(1) - 8 L(-1) + L(-2)) / 12h        error ~ h^4
    central      D(h)  = (L(1) - L(-1)) / 2h                              error ~ h^2
    one-sided    D±(h) = ±(-3 L(0) + 4 L(±1) - L(±2)) / 2h                error ~ h^2

Each is also taken with step ``2h`` (points ±2, ±4): six evaluations per entry serve all.

**Error model.** The difference ``D = D(h)`` carries an error estimated as ``E = T + R``:

- truncation ``T = |D(h) - D(2h)| / (2^p - 1)`` (Richardson; ``p = 4`` five-point, else 2);
- rounding ``R = S * dL / h``: ``S`` is the sum of the stencil's ``|weights|`` (1.5, 1, 4) and
  ``dL`` the rounding error of one evaluation of ``f``, measured at the start by a noise probe,
  ``dL = C_PROBE * max_k |f(theta + d_k) + f(theta - d_k) - 2 f(theta)| / 2`` over ``K_PROBE``
  random directions ``d_k`` of relative size ``PROBE_SIZE`` (their second-order term is far
  below rounding; grown, a little, where every such second difference is 0, as when ``f``
  rounds an intermediate far larger than itself), and at least ``u |f(theta)|`` (``u`` the unit
  roundoff of the evaluation) and the dtype's tiniest number (a subnormal ``f``).
  A model's loss is also at least ``u M``, ``M`` the magnitude of what it adds up (the
  logits, outputs and targets, per sample): ``f`` is a difference of such terms, so a
  confident classifier's tiny loss rounds like its logits (``s - log(sum(exp(s)))`` at
  ``s = 40`` is exactly 0), which the probe, on a function flat at its scale, cannot see.

An entry with claimed gradient ``g`` is judged against ``tol = SAFETY * E + floor``, where
``floor = FLOOR * u * max|g|`` is tied to the size of the whole gradient: it **fails** when
``|D - g| > tol``; it is **resolved** when ``tol <= RESOLVE * max(|D|, |g|)`` (the check would
have seen a relative error of ``RESOLVE`` there). The constants live in
:mod:`xprop.tolerances`: ``GRADCHECK_SAFETY``, ``GRADCHECK_FLOOR``, ``GRADCHECK_RESOLVE`` and
``GRADCHECK_PROBE`` (``K_PROBE``, ``PROBE_SIZE`` and ``C_PROBE`` are its ``k``, ``size`` and
``factor``).

**Steps.** The error model holds only where ``h`` is small for ``f`` (the differences then
shrink as their order says), so each entry is judged at the best step it can take:

- it passes at once where rounding dominates its estimate, or where its tolerance is at most
  ``GRADCHECK_REFINE`` of its size; a pass with a coarser, truncation-dominated tolerance is
  judged again at ``h/2``, ``h/4``, ... and the best of them stands (a step too large for
  ``f``, such as ``h = 1e-3`` for ``sin(1000 x)``, resolves only gross errors: a 1% error
  must not pass there);
- a non-finite claimed entry fails against a finite difference (NaN differences, ``f``
  leaving its domain, are taken again at half the step), and is not judged where the
  differences overflow the same way (a slope beyond the dtype's range);
- one that fails, is unresolved while truncation dominates, sits on a kink, or meets a NaN
  or inf of ``f`` at a perturbed point (``log`` near 0) is judged again at half the step,
  and again (six evaluations per step, at most ``GRADCHECK_HALVINGS`` of them);
- a failure stands only where rounding dominates its estimate, at a step no larger than
  the dtype's default ``h``, and when it fails again at half the step with a difference
  within that tolerance (a real error: a smooth ``f`` confirms it in one extra step); a
  failure that never settles is inconclusive, "no step resolves it (too rough at this
  scale)". So a step too large for ``f`` (a user's ``h``, unstandardised inputs) never gives
  FAILED, and an entry that passes finely at ``h`` costs its six evaluations as before. (No
  finite-difference check sees a period that its steps sample exactly: ``sin(2 pi x / p)``
  with ``p = h / 2`` takes one value at every point, at ``h`` and ``h / 2`` alike.)

The rounding part of an estimate also counts the rounding of the points themselves:
``theta_j + s h`` is rounded by up to ``u |theta_j|``, which moves ``L`` by up to
``u |theta_j| max(|D|, |g|)`` (``exp`` at ``theta = 400``).

**Kinks.** With ``kinks`` (a function giving the activation pattern, e.g. which ReLU inputs
are ``> 0``), an entry whose pattern changes on one side of ``theta_j`` is judged by the
one-sided difference of the other side: that is the derivative xprop's activations use at a
kink (the slope from below, ``relu'(0) = 0``). If the pattern changes on both sides at every
step down to ``h / 2**GRADCHECK_HALVINGS``, the entry is a kink and not judged.

**Verdicts.** ``FAILED`` when any judged entry fails; otherwise ``inconclusive`` when an array
(a parameter, or the input) has no resolved entry (vanishing gradients, saturation, a loss too
flat or too rough, or every entry on a kink), naming it, with the reason in one line;
otherwise ``passed``: every array had judged entries and all of them passed. ``passed`` is true
only for passed. ``mode="fast"`` first checks one seeded random direction of each array
(the directional derivative against ``sum(g * d)``, same error model and steps) and falls
back to the entry table unless every array's passes.

The model wrapper evaluates in float64 (a float32 model is copied to float64 on its own backend
and device); ``dtype="float32"`` checks on devices without float64, with the same error model
at float32 precision.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from array_api_compat import array_namespace, device

from xprop import network
from xprop import validation as V
from xprop.backend import BackendError, DeviceMismatchError, dtype_name, is_array, to_numpy
from xprop.init import random_directions, sample_indices
from xprop.tolerances import (
    FLOAT_EPS,
    FLOAT_TINY,
    GRADCHECK,
    GRADCHECK_FLOOR,
    GRADCHECK_HALVINGS,
    GRADCHECK_PROBE,
    GRADCHECK_REFINE,
    GRADCHECK_RESOLVE,
    GRADCHECK_SAFETY,
)

Array = Any

__all__ = ["GradcheckReport", "ParamCheck", "check_activation", "check_gradients", "check_loss",
           "gradcheck"]

PASSED, FAILED, INCONCLUSIVE = "passed", "FAILED", "inconclusive"

# method -> (order p, steps and weights of D(h) in units of h, divided by h)
_STENCILS = {
    "five_point": (4, ((2, -1.0 / 12), (1, 8.0 / 12), (-1, -8.0 / 12), (-2, 1.0 / 12))),
    "central": (2, ((1, 0.5), (-1, -0.5))),
}
_ONE_SIDED = (2, ((0, -1.5), (1, 2.0), (2, -0.5)))  # D+(h); D-(h) mirrors the steps
_POINTS = (-4, -2, -1, 1, 2, 4)


@dataclass
class ParamCheck:
    """The result of the check for one array: one row of the report's table.

    Parameters
    ----------
    name : str
        The array's name (``W0``, ``b0``, ..., ``X``).
    shape : tuple of int
        Its shape.
    n_checked : int
        How many entries were checked (all, or ``n_checks``).
    n_kinks : int
        Entries whose activation pattern changed on both sides at every step: not judged.
    n_one_sided : int
        Entries judged by a one-sided difference (a kink on the other side).
    n_unresolved : int
        Judged entries the difference could not resolve (their tolerance is above
        ``RESOLVE`` times their size): "too small to resolve".
    max_error : float
        ``|numeric - analytic|`` of the worst entry (largest ``error / tol``).
    tolerance : float
        The tolerance ``SAFETY * estimate + floor`` that entry was judged against.
    estimate : float
        The error estimate ``E`` of its finite difference.
    worst_index : tuple of int or None
        Where the worst entry is (None when none was judged).
    numeric : float
        Its finite difference.
    analytic : float
        Its claimed (analytic) gradient.
    verdict : {"passed", "FAILED", "inconclusive"}
        The array's verdict.
    reason : str, default=""
        Why, when not passed.

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    >>> report = xprop.gradcheck(model, X, y)
    >>> w0 = report.entries[0]
    >>> w0.name, w0.shape, w0.n_checked, w0.verdict
    ('W0', (2, 3), 6, 'passed')
    >>> w0.max_error <= w0.tolerance
    True
    """

    name: str
    shape: tuple[int, ...]
    n_checked: int
    n_kinks: int  # pattern changed on both sides: not judged
    n_one_sided: int  # judged by a one-sided difference
    n_unresolved: int  # judged, but the difference could not resolve the entry
    max_error: float  # |numeric - analytic| of the worst entry
    tolerance: float  # the tolerance (SAFETY * estimate + floor) it was judged against
    estimate: float  # the error estimate E of its difference
    worst_index: tuple[int, ...] | None
    numeric: float
    analytic: float
    verdict: str
    reason: str = ""

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``passed``."""
        return self.verdict == PASSED

    @property
    def max_rel_error(self) -> float:
        """The worst entry's relative error.

        ``|numeric - analytic| / max(|numeric|, |analytic|)`` (0 when both are 0).
        """
        scale = max(abs(self.numeric), abs(self.analytic))
        if not math.isfinite(self.max_error):
            return math.inf
        return self.max_error / scale if scale > 0 else 0.0


@dataclass
class GradcheckReport:
    """The result of a gradient check: per-array results, the verdict and the settings.

    ``str(report)`` is a readable table (one row per array: ``max error`` of the worst
    entry, the ``tol`` it was judged against, where it is (``worst``), its ``numeric`` and
    ``analytic`` values and the array's verdict); :meth:`to_dict` gives the same for
    programs; ``bool(report)`` is :attr:`passed`.

    Parameters
    ----------
    entries : list of ParamCheck
        One result per checked array (empty when the fast mode's direction passed).
    verdict : {"passed", "FAILED", "inconclusive"}
        The overall verdict (see the module docstring).
    reason : str
        The verdict's reason, in one line.
    dtype : str
        The evaluation dtype (``float64``, or ``float32``).
    method : {"five_point", "central"}
        The finite-difference formula.
    h : float
        The step.
    noise : float
        The measured rounding error of one evaluation of ``f``.
    backend : str
        Where it ran.
    mode : {"full", "fast"}, default="full"
        Every entry (or ``n_checks`` per array), or one random direction per array first.
    fast : dict or None, default=None
        The fast mode's random directions: the worst one's ``array``, ``numeric``,
        ``analytic``, ``error``, ``tolerance``, ``rel_error``; the overall ``verdict`` and
        ``passed``; and ``directions``, one such dict (with its ``verdict``) per array.

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    >>> report = xprop.gradcheck(model, X, y)
    >>> report.passed, report.verdict
    (True, 'passed')
    >>> print(report)
    gradient check (full, five_point differences, h=0.001, float64, rounding of f ...) on ...
      param  shape      checked kinks max error      tol worst   numeric  analytic  verdict
      W0     2x3              6     0 ... passed
      b0     3                3     0 ... passed
      W1     3x1              3     0 ... passed
      b1     1                1     0 ... passed
      verdict: PASSED: every judged entry agrees within its error estimate
    """

    entries: list[ParamCheck]
    verdict: str
    reason: str
    dtype: str
    method: str
    h: float
    noise: float  # the measured rounding error of one evaluation of f
    backend: str
    mode: str = "full"
    fast: dict[str, Any] | None = field(default=None)

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``passed`` (FAILED and inconclusive are not)."""
        return self.verdict == PASSED

    @property
    def eps(self) -> float:
        """The step ``h`` (its former name)."""
        return self.h

    @property
    def max_rel_error(self) -> float:
        """The largest relative error of any array's worst entry (or of the direction)."""
        if not self.entries and self.fast is not None:
            return self.fast["rel_error"]
        return max((e.max_rel_error for e in self.entries), default=0.0)

    @property
    def n_kinks(self) -> int:
        """How many checked entries sat on a kink (not judged)."""
        return sum(e.n_kinks for e in self.entries)

    @property
    def max_ratio(self) -> float:
        """The largest ``error / tolerance`` of any checked entry (above 1 is a failure).

        The random direction of the fast mode counts too.
        """
        ratios = [e.max_error / e.tolerance if e.tolerance > 0 else math.inf
                  for e in self.entries if e.max_error > 0]
        if self.fast is not None and math.isfinite(self.fast["tolerance"]):
            ratios.append(self.fast["error"] / self.fast["tolerance"])
        return max(ratios, default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def raise_if_failed(self) -> GradcheckReport:
        """Return the report when it passed, else raise with the table.

        Returns
        -------
        GradcheckReport
            The report itself, for chaining.

        Raises
        ------
        AssertionError
            When the verdict is FAILED or inconclusive (the message holds the table).

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
        >>> report = xprop.gradcheck(model, X, y)
        >>> report.raise_if_failed() is report
        True
        """
        if not self.passed:
            raise AssertionError(f"gradient check {self.verdict}: {self.reason}\n{self}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (for programs and JSON).

        Returns
        -------
        dict
            The settings, ``verdict``, ``reason``, ``passed``, ``fast`` and ``entries``: one
            dict per array with the :class:`ParamCheck` fields and ``passed``.

        Examples
        --------
        >>> X, y = xprop.datasets.xor()
        >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
        >>> report = xprop.gradcheck(model, X, y)
        >>> d = report.to_dict()
        >>> d["verdict"], d["h"], [e["name"] for e in d["entries"]]
        ('passed', 0.001, ['W0', 'b0', 'W1', 'b1'])
        """
        out = {k: v for k, v in asdict(self).items() if k != "entries"}
        out["passed"] = self.passed
        out["entries"] = [{**asdict(e), "passed": e.passed} for e in self.entries]
        return out

    _COLUMNS = ("param", "shape", "checked", "kinks", "max error", "tol", "worst", "numeric",
                "analytic", "verdict")

    def _title(self) -> str:
        return (f"gradient check ({self.mode}, {self.method} differences, h={self.h:g}, "
                f"{self.dtype}, rounding of f {self.noise:.1e}) on {self.backend}")

    def _rows(self) -> list[tuple[str, ...]]:
        """One row of :attr:`_COLUMNS` per checked array."""
        return [(e.name, "x".join(map(str, e.shape)), f"{e.n_checked:d}", f"{e.n_kinks:d}",
                 f"{e.max_error:.1e}", f"{e.tolerance:.1e}",
                 "-" if e.worst_index is None else ",".join(map(str, e.worst_index)),
                 f"{e.numeric:.6e}", f"{e.analytic:.6e}", e.verdict) for e in self.entries]

    def _direction(self) -> str | None:
        f = self.fast
        if f is None:
            return None
        where = f" of {f['array']}" if "array" in f else ""  # the worst array's direction
        return (f"random direction{where}: numeric {f['numeric']:.10g}  analytic "
                f"{f['analytic']:.10g}"
                f"  error {f['error']:.1e} (tol {f['tolerance']:.1e})  {f['verdict']}")

    def __str__(self) -> str:
        lines = [self._title()]
        if self.fast is not None:
            lines.append(f"  {self._direction()}")
        if self.entries:
            cells = [self._COLUMNS, *self._rows()]
            widths = [int(math.copysign(max(abs(w), *(len(r[i]) for r in cells)), w))
                      for i, w in enumerate((-6, -10, 7, 5, 9, 8, -8, 14, 14))]
            for row in cells:  # negative widths: left-aligned; a long name widens its column
                lines.append("  " + " ".join(
                    f"{v:<{-w}}" if w < 0 else f"{v:>{w}}"
                    for v, w in zip(row[:-1], widths, strict=True)) + f"  {row[-1]}")
        lines.append(f"  verdict: {self.verdict.upper()}: {self.reason}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"GradcheckReport({self.verdict}: {self.reason}; {len(self.entries)} arrays, "
                f"max rel error {self.max_rel_error:.1e}, {self.dtype}, {self.backend})")

    def _repr_html_(self) -> str:
        """The table as HTML (Jupyter shows it for a report)."""
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in self._COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                       for row in self._rows())
        direction = self._direction()
        extra = f"<p>{escape(direction)}</p>" if direction else ""
        return (f"<div><p>{escape(self._title())}</p>{extra}<table><thead><tr>{head}</tr>"
                f"</thead><tbody>{body}</tbody></table><p><b>verdict: "
                f"{escape(self.verdict.upper())}</b>: {escape(self.reason)}</p></div>")


# ----------------------------------------------------------------------------- the engine


@dataclass
class _Judge:
    """Differences of one entry (or direction) from the six evaluations, and their verdict."""

    method: str
    h: float
    noise: float
    floor: float

    def difference(self, values: dict[int, float], base: float, side: int,
                   h: float) -> tuple[float, float]:
        """``(D(h), E)`` from ``values[s] = L(s)`` at step ``h``; ``side`` 0 central, +1/-1
        one-sided."""
        p, stencil = _STENCILS[self.method] if side == 0 else _ONE_SIDED
        values = {**values, 0: base}

        def at(scale: int) -> float:
            return sum(w * values[side * s * scale if side else s * scale]
                       for s, w in stencil) * (side or 1) / (scale * h)

        d1, d2 = at(1), at(2)
        estimate = abs(d1 - d2) / (2**p - 1) + self.rounding(side, h)
        return d1, estimate

    def rounding(self, side: int, h: float, noise: float | None = None) -> float:
        """The rounding part of a difference's error at step ``h``: ``S dL / h`` (``dL`` the
        measured noise of one evaluation, unless given)."""
        stencil = _STENCILS[self.method][1] if side == 0 else _ONE_SIDED[1]
        return sum(abs(w) for _, w in stencil) * (self.noise if noise is None else noise) / h

    def judge(self, numeric: float, estimate: float, claimed: float, side: int = 0,
              step: float = 0.0, moved: float = 0.0) -> tuple[float, float, str]:
        """``(error, tol, status)``: status ``ok``, ``unresolved`` or ``fail``. ``moved``: the
        unit roundoff times the size of the coordinates the steps move (``u |theta_j|``): the
        points ``theta + s h d`` are rounded, each by up to that, which moves ``L`` by up to
        ``moved * max(|D|, |g|)`` (``S`` times that over ``h`` in the difference)."""
        if moved and step and math.isfinite(numeric) and math.isfinite(claimed):
            estimate += self.rounding(side, step, moved * max(abs(numeric), abs(claimed)))
        tol = GRADCHECK_SAFETY * estimate + self.floor
        err = abs(numeric - claimed)
        if not (math.isfinite(numeric) and math.isfinite(claimed) and math.isfinite(err)):
            return math.inf, tol, "fail"
        if err > tol:
            return err, tol, "fail"
        resolved = tol <= GRADCHECK_RESOLVE * max(abs(numeric), abs(claimed))
        return err, tol, "ok" if resolved else "unresolved"


def check_gradients(
    f: Callable[..., Any],
    inputs: Sequence[Array],
    grads: Sequence[Array],
    *,
    names: Sequence[str] | None = None,
    kinks: Callable[..., Sequence[Array]] | None = None,
    h: float | None = None,
    method: str = "five_point",
    n_checks: int | None = None,
    seed: int = 0,
    mode: str = "full",
    backend: str | None = None,
) -> GradcheckReport:
    """Check gradients claimed for any function by finite differences.

    Each checked entry's difference is judged against its own error estimate (the module
    docstring's error model), never a fixed tolerance. Works on any backend, in the inputs'
    dtype.

    Parameters
    ----------
    f : callable
        ``f(*inputs)`` returns a scalar (a 0-d array, an array of one element, or a
        float).
    inputs : list of array
        The point: one or more arrays of one namespace and floating dtype (float32 or
        float64).
    grads : list of array
        The claimed gradient of ``f`` for each input, of its shape.
    names : sequence of str or None, default=None
        The arrays' names in the report (``x0``, ``x1``, ... when None).
    kinks : callable or None, default=None
        ``kinks(*inputs)`` returns the arrays whose change marks a kink (e.g. ``[z > 0]``
        for a ReLU input ``z``).
    h : float or None, default=None
        The step (None: 1e-3 in float64, 1e-2 in float32).
    method : {"five_point", "central"}, default="five_point"
        The finite-difference formula.
    n_checks : int or None, default=None
        Check a seeded random subset of that many entries per array (all when None).
    seed : int, default=0
        Seed of the subset, the noise probe and the fast mode's direction.
    mode : {"full", "fast"}, default="full"
        ``fast`` checks one random direction of each array first and checks entries only
        when one of them does not pass.
    backend : str or None, default=None
        Where it runs, for the report (the namespace's name when None).

    Returns
    -------
    GradcheckReport
        The verdict (``passed``, ``FAILED`` or ``inconclusive``) with its table.

    Raises
    ------
    TypeError
        When ``f`` is not callable, ``inputs``/``grads`` are not lists of arrays, or an
        array's dtype is not ``inputs[0]``'s.
    ValueError
        Mismatched counts or shapes, a non-floating dtype, a bad option, or a non-finite
        value of ``f`` at ``inputs``.
    DeviceMismatchError
        When an array is not on ``inputs[0]``'s device.

    Examples
    --------
    >>> b = xprop.resolve_backend()
    >>> x = b.from_host([1.0, 2.0])
    >>> def f(x):
    ...     return b.xp.sum(x * x * x)
    >>> print(xprop.check_gradients(f, [x], [3.0 * x * x]).verdict)
    passed
    >>> wrong = xprop.check_gradients(f, [x], [3.0 * x * x + 1e-3])  # off by 1e-3
    >>> print(wrong.verdict)
    FAILED
    >>> print(wrong.reason)
    x0: x0[0] numeric 3 vs analytic 3.001, error 1.0e-03 > tolerance ...
    """
    if not callable(f):
        raise TypeError(f"f: expected a function of the inputs, got {type(f).__name__}")
    if kinks is not None and not callable(kinks):
        raise TypeError(f"kinks: expected a function of the inputs giving the arrays whose "
                        f"change marks a kink, or None, got {type(kinks).__name__}")
    for what, arrays in (("inputs", inputs), ("grads", grads)):
        if not isinstance(arrays, (list, tuple)):
            raise TypeError(f"{what}: expected a list of arrays, got {type(arrays).__name__}")
        for i, a in enumerate(arrays):
            if not is_array(a):
                raise TypeError(f"{what}[{i}]: expected an array (NumPy, CuPy, torch, JAX, "
                                f"...), got {type(a).__name__}")
    inputs, grads = list(inputs), list(grads)
    if len(inputs) != len(grads) or not inputs:
        raise ValueError(f"grads: expected one gradient per input ({len(inputs)}), "
                         f"got {len(grads)}")
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if tuple(x.shape) != tuple(g.shape):
            raise ValueError(f"grads[{i}]: expected shape {tuple(x.shape)} (that of "
                             f"inputs[{i}]), got {tuple(g.shape)}")
        if not math.prod(x.shape):
            raise ValueError(f"inputs[{i}]: expected at least one entry to check, got shape "
                             f"{tuple(x.shape)}")
    names = [f"x{i}" for i in range(len(inputs))] if names is None else list(names)
    if len(names) != len(inputs):
        raise ValueError(f"names: expected {len(inputs)} names, got {len(names)}")
    try:
        xp = array_namespace(*inputs, *grads)
    except TypeError:
        kinds = sorted({type(a).__module__.split(".")[0] for a in (*inputs, *grads)})
        raise TypeError(f"grads: expected arrays of the inputs' library, got a mix of "
                        f"{' and '.join(kinds)} arrays") from None
    try:
        dtype = dtype_name(inputs[0].dtype, xp)
    except BackendError:
        raise TypeError(f"inputs[0]: expected a float32 or float64 array, got dtype "
                        f"{inputs[0].dtype}") from None
    where = device(inputs[0])
    for what, arrays in (("inputs", inputs), ("grads", grads)):
        for i, a in enumerate(arrays):  # one dtype and one device: what the check evaluates in
            if a.dtype != inputs[0].dtype:
                raise TypeError(f"{what}[{i}]: expected {dtype} (the dtype of inputs[0]), got "
                                f"{a.dtype}")
            if device(a) != where:
                raise DeviceMismatchError(f"{what}[{i}]: expected an array on {where} (the "
                                          f"device of inputs[0]), got one on {device(a)}")

    def evaluate(arrays: list[Array]) -> tuple[float, list[Array]]:
        return _scalar(f(*arrays)), (_pattern(kinks(*arrays)) if kinks is not None else [])

    return _check(evaluate, inputs, grads, names, xp, dtype,
                  _Options(h, method, n_checks, seed, mode),
                  backend or xp.__name__.removeprefix("array_api_compat."), "inputs: f")


def _pattern(arrays: Any) -> list[Array]:
    """What ``kinks`` returned, checked: arrays (one array, or any iterable of them)."""
    if is_array(arrays):
        return [arrays]
    try:
        found = list(arrays)
    except TypeError:
        raise TypeError(f"kinks: expected it to return arrays (such as [z > 0]), got "
                        f"{type(arrays).__name__}") from None
    for i, a in enumerate(found):
        if not is_array(a):
            raise TypeError(f"kinks: expected it to return arrays (such as [z > 0]), got "
                            f"{type(a).__name__} at position {i}")
    return found


def _scalar(value: Any) -> float:
    """``f``'s value as a float: a number, or an array of one element."""
    if is_array(value) or hasattr(value, "dtype"):  # NumPy scalars too
        if math.prod(getattr(value, "shape", ())) != 1:
            raise ValueError(f"f: expected a scalar (a number or an array of one element), "
                             f"got an array of shape {tuple(value.shape)}")
        host = to_numpy(value).reshape(())
        if host.dtype.kind not in "iuf":  # complex, bool: no real value to differentiate
            raise TypeError(f"f: expected a real number, got dtype {host.dtype}")
        return float(host)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"f: expected a number or a 0-d array, got {type(value).__name__}")
    return float(value)


def _validate(h: float | None, method: str, n_checks: int | None, seed: int, mode: str,
              dtype: str, h_name: str = "h") -> float:
    V.check_choice(method, "method", list(_STENCILS))
    V.check_choice(mode, "mode", ("full", "fast"))
    if n_checks is not None:
        V.check_int(n_checks, "n_checks")
    V.check_seed(seed)
    return float(GRADCHECK[dtype]["h"]) if h is None else V.check_positive(h, h_name)


@dataclass
class _Probe:
    """Differences of ``f`` (``evaluate(arrays) -> (value, pattern)``) around ``inputs``
    along directions, judged by ``judge`` at step ``h`` or the smaller steps the module
    docstring's "Steps" describe."""

    evaluate: Callable
    inputs: list[Array]
    base: float
    base_pattern: list[Array]
    judge: _Judge
    h: float
    xp: Any
    default_h: float  # the dtype's default step: failures at larger steps are never final
    u: float  # the unit roundoff of the evaluation dtype

    def changed(self, pattern: list[Array]) -> bool:
        xp = self.xp
        return any(bool(xp.any(p != b)) for p, b in zip(pattern, self.base_pattern))

    def along(self, direction: list[Array | None], step: float
              ) -> tuple[float, float, int] | None:
        """``(D, E, side)`` along ``direction`` (one array per input, None for none) at
        ``step``: central (side 0), or one-sided (+1/-1) when the pattern changes on the
        other side; None when it changes on both."""
        values, moved = {}, {1: False, -1: False}
        for s in _POINTS:
            arrays = [x + (s * step) * d if d is not None else x
                      for x, d in zip(self.inputs, direction)]
            values[s], pattern = self.evaluate(arrays)
            if pattern and self.changed(pattern):
                moved[1 if s > 0 else -1] = True
        if moved[1] and moved[-1]:
            return None
        side = 0 if not (moved[1] or moved[-1]) else (-1 if moved[1] else 1)
        return (*self.judge.difference(values, self.base, side, step), side)

    def judged(self, direction: list[Array | None], claimed: float, moved: float = 0.0
               ) -> tuple[float, float, float, float, str, int]:
        """``(D, E, error, tol, status, side)`` of the difference along ``direction`` against
        ``claimed``, judged at the best step ``f`` can take (the module docstring's "Steps";
        ``moved``: see :meth:`_Judge.judge`)."""
        judge, h = self.judge, self.h
        step, first = h, self.along(direction, h)
        while first is None:  # the pattern changes on both sides: try a smaller step
            step /= 2
            if step < h / 2**GRADCHECK_HALVINGS:
                return math.nan, math.nan, math.nan, math.nan, "kink", 0
            first = self.along(direction, step)
        num, est, side = first
        err, tol, status = judge.judge(num, est, claimed, side, step, moved)
        best = None  # the passing result with the smallest estimate met on the way
        suspect = None  # (D, tol) of a failure waiting for its confirmation at half the step
        for _ in range(GRADCHECK_HALVINGS):
            result = (num, est, err, tol, status, side)
            if not math.isfinite(claimed):  # a non-finite claim where f is finite: wrong,
                if math.isinf(num) and num == claimed:  # unless the difference overflows the
                    return num, est, math.inf, tol, "unresolved", side  # same way (a slope
                if not (math.isinf(claimed) and math.isnan(num)):  # beyond the dtype's range)
                    return result
                # (an infinite claim, a NaN difference: f left its domain; half the step)
            floor = est <= 2 * judge.rounding(side, step)  # rounding dominates the estimate
            scale = max(abs(num), abs(claimed)) if math.isfinite(num) else math.inf
            if status == "ok" and (floor or tol <= GRADCHECK_REFINE * scale):
                return result  # resolved at its best, or finely enough
            if status == "ok" and (best is None or est < best[1]):
                best = result  # coarse and truncation-dominated: a finer step may see more
            rounding = judge.rounding(side, step)
            if status == "fail" and suspect is not None and (
                    abs(num - suspect[0]) <= min(suspect[1], GRADCHECK_RESOLVE * max(
                        abs(num), abs(suspect[0])))
                    or (abs(num) <= 2 * rounding and abs(suspect[0]) <= 2 * suspect[2])):
                return result  # failed twice with the same difference, the failure stands:
                # the same within its tolerance and 10% of itself, or both within rounding
                # of 0 (f flat there); a difference that doubles as the step halves, above
                # rounding, is a jump of f, not its slope
            if status == "unresolved" and floor:
                return best or result
            # a failure counts only where rounding dominates, at a step no larger than the
            # default (a user's larger step can be flat or rough for f), and once confirmed
            suspect = (num, tol, rounding) if status == "fail" and floor and \
                step <= self.default_h and math.isfinite(num) else None
            finer = self.along(direction, step / 2)
            if finer is None:  # a kink on both sides at the smaller step: not judged
                return best or (num, est, err, tol, "kink", side)
            num, est, side = finer
            step /= 2
            err, tol, status = judge.judge(num, est, claimed, side, step, moved)
        if status == "ok":
            return num, est, err, tol, status, side
        if best is not None and status != "fail":
            return best
        if status == "fail":  # no step settled it before the halvings ran out
            return num, est, err, tol, "rough", side
        return num, est, err, tol, status, side


@dataclass(frozen=True)
class _Options:
    """How a check differentiates: the options of :func:`check_gradients` and
    :func:`gradcheck` (``h`` None: the default step for the dtype)."""

    h: float | None
    method: str
    n_checks: int | None
    seed: int
    mode: str


def _check(evaluate: Callable, inputs: list[Array], grads: list[Array], names: list[str],
           xp: Any, dtype: str, options: _Options, backend: str,
           what: str, magnitude: float = 0.0) -> GradcheckReport:
    """The check of ``grads`` against differences of ``evaluate`` around ``inputs``;
    ``magnitude``: what ``f`` adds up, in size (its rounding is at least ``u`` times it)."""
    method, n_checks, seed, mode = options.method, options.n_checks, options.seed, options.mode
    h = _validate(options.h, method, n_checks, seed, mode, dtype)
    u = FLOAT_EPS[dtype] / 2.0
    base, base_pattern = evaluate(inputs)
    if not math.isfinite(base):
        raise ValueError(f"{what} is {base} at this point; a gradient check needs a finite "
                         "value")
    probe = _Probe(evaluate, inputs, base, base_pattern, None, h, xp,
                   float(GRADCHECK[dtype]["h"]), u)
    noise = max(_probe_noise(evaluate, inputs, base, seed, xp, dtype,
                             lambda p: bool(p) and probe.changed(p)), u * abs(base),
                u * magnitude, FLOAT_TINY[dtype])  # (values near 0 are spaced by the tiniest)
    scale = max((float(xp.max(xp.abs(g))) for g in grads if math.prod(g.shape)), default=0.0)
    probe.judge = _Judge(method, h, noise, GRADCHECK_FLOOR * u * scale if math.isfinite(scale)
                         else 0.0)
    report = GradcheckReport([], PASSED, "", dtype, method, h, noise, backend, mode)
    if mode == "fast":
        report.fast = _fast(probe, inputs, grads, names, seed, xp)
        if report.fast["passed"]:
            report.reason = ("the directional derivative along a random direction of each "
                             "array agrees within its error estimate (worst "
                             f"{report.fast['error']:.1e} <= {report.fast['tolerance']:.1e})")
            return report

    for i, (name, x, g) in enumerate(zip(names, inputs, grads)):
        report.entries.append(_check_array(name, i, x, g, probe, n_checks, seed + i, xp))
    report.verdict, report.reason = _overall(report, scale, noise, h)
    return report


def _fast(probe: _Probe, inputs: list[Array], grads: list[Array], names: list[str],
          seed: int, xp: Any) -> dict[str, Any]:
    """``mode="fast"``: for each array, the directional derivative along one seeded random
    direction of that array alone against ``sum(g * d)``; passed only when every array's
    passes (a verdict for each array, as the entry table gives). The worst one's numbers."""
    worst: dict[str, Any] = {}
    verdicts, directions = [], []
    for i, (name, x, g) in enumerate(zip(names, inputs, grads)):
        d = xp.asarray(random_directions([tuple(x.shape)], seed + i)[0], dtype=x.dtype,
                       device=device(x))
        claimed = float(xp.sum(g * d))
        size = float(xp.sum(xp.abs(g * x * d)))  # how far rounding of theta + s h d moves L
        moved = probe.u * size / abs(claimed) if claimed else 0.0
        direction = [d if j == i else None for j in range(len(inputs))]
        num, _, err, tol, status, _ = probe.judged(direction, claimed, moved)
        if status == "ok" and not tol <= GRADCHECK_REFINE * max(abs(num), abs(claimed)):
            status = "unresolved"  # too coarse to vouch for the entries (a sum of them that
            # cancels resolves them worse than the table would): the table judges them
        verdict = FAILED if status == "fail" else PASSED if status == "ok" else INCONCLUSIVE
        verdicts.append(verdict)
        ratio = err / tol if tol > 0 else (0.0 if err == 0 else math.inf)
        scale = max(abs(num), abs(claimed)) if math.isfinite(num) else 0.0
        directions.append({"array": name, "numeric": num, "analytic": claimed, "error": err,
                           "tolerance": tol, "rel_error": err / scale if scale else 0.0,
                           "verdict": verdict})
        if not worst or not (ratio <= worst["ratio"]):  # NaN and inf count as worse
            worst = {**directions[-1], "ratio": ratio}
    verdict = FAILED if FAILED in verdicts else PASSED if all(
        v == PASSED for v in verdicts) else INCONCLUSIVE
    worst.pop("ratio")
    return {**worst, "verdict": verdict, "passed": verdict == PASSED,
            "directions": directions}


def _check_array(name: str, slot: int, x: Array, g: Array, probe: _Probe,
                 n_checks: int | None, seed: int, xp: Any) -> ParamCheck:
    shape = tuple(x.shape)
    size = math.prod(shape)
    flat_g = xp.reshape(g, (-1,))
    positions = xp.arange(size, device=device(x))
    checked = sample_indices(size, n_checks, seed)
    counts = {"kink": 0, "one_sided": 0, "unresolved": 0, "ok": 0, "fail": 0, "rough": 0}
    worst = (-1.0, math.nan, 0.0, 0.0, None, 0.0, 0.0)  # ratio, err, tol, est, idx, num, ana
    flat_x = xp.reshape(x, (-1,))
    for k in checked:
        basis = xp.reshape(xp.astype(positions == k, x.dtype), shape)
        direction = [basis if j == slot else None for j in range(len(probe.inputs))]
        ana = float(flat_g[k])
        moved = probe.u * abs(float(flat_x[k]))  # theta_j + s h is rounded by up to this
        num, est, err, tol, status, side = probe.judged(direction, ana, moved)
        counts[status] += 1
        counts["one_sided"] += status != "kink" and side != 0
        if status in ("kink", "rough"):
            continue
        ratio = math.inf if not math.isfinite(err) else err / tol if tol > 0 else (
            math.inf if err > 0 else 0.0)
        if ratio > worst[0]:
            worst = (ratio, err, tol, est, _unravel(k, shape), num, ana)
    _, err, tol, est, idx, num, ana = worst
    if counts["fail"]:
        one = counts["fail"] == 1
        verdict, reason = FAILED, (f"{counts['fail']} entr{'y differs' if one else 'ies differ'} "
                                   f"by more than {'its' if one else 'their'} error estimate")
    elif counts["ok"]:
        verdict, reason = PASSED, ""
    else:
        verdict = INCONCLUSIVE
        reason = ("every checked entry is on a kink" if counts["kink"] == len(checked)
                  else "no step resolves it (too rough at this scale)" if counts["rough"]
                  else "no entry could be resolved")
    counts["unresolved"] += counts["rough"]
    return ParamCheck(name, shape, len(checked), counts["kink"], counts["one_sided"],
                      counts["unresolved"], 0.0 if math.isnan(err) else err,
                      tol, est, idx, num, ana, verdict, reason)


def _overall(report: GradcheckReport, scale: float, noise: float, h: float) -> tuple[str, str]:
    entries = report.entries
    failed = [e for e in entries if e.verdict == FAILED]
    if failed:
        e = failed[0]
        where = "" if e.worst_index is None else f"[{','.join(map(str, e.worst_index))}]"
        return FAILED, (f"{', '.join(x.name for x in failed)}: {e.name}{where} numeric "
                        f"{e.numeric:.8g} vs analytic {e.analytic:.8g}, error {e.max_error:.1e} "
                        f"> tolerance {e.tolerance:.1e} ({e.name}: {e.reason})")
    unjudged = [e for e in entries if e.verdict != PASSED]
    if unjudged and len(unjudged) < len(entries):  # an array never judged: not "passed"
        return INCONCLUSIVE, (
            f"{', '.join(e.name for e in unjudged)}: no entry could be judged ("
            + "; ".join(f"{e.name}: {e.reason}" for e in unjudged)
            + "); the other arrays agree within their error estimates")
    if entries and not unjudged:
        skipped = sum(e.n_kinks for e in entries)
        unresolved = sum(e.n_unresolved for e in entries)
        notes = [f"{skipped} on kinks, not judged" if skipped else "",
                 f"{unresolved} too small to resolve" if unresolved else ""]
        notes = "; ".join(n for n in notes if n)
        return PASSED, ("every judged entry agrees within its error estimate"
                        + (f" ({notes})" if notes else ""))
    if entries and all(e.n_kinks == e.n_checked for e in entries):
        return INCONCLUSIVE, "every checked entry sits on a kink of the activations"
    return INCONCLUSIVE, (
        f"the differences cannot resolve the gradient: its largest entry is {scale:.1e}, "
        f"rounding in f alone moves a difference by {1.5 * noise / h:.1e} "
        "(vanishing gradients, saturation, or a loss too flat or too rough for h)")


def _probe_noise(evaluate: Callable, inputs: list[Array], base: float, seed: int, xp: Any,
                 dtype: str, changed: Callable[[list[Array]], bool]) -> float:
    """The rounding error of one evaluation of f: second differences along tiny random
    directions, ``|f(t + d) + f(t - d) - 2 f(t)| / 2`` with ``|d_i| ~ size (1 + |t_i|)``
    (their curvature term is far below rounding for most f; one strongly curved where
    entries are small, such as a log of probabilities near 0, makes it measure curvature
    instead: a larger estimate, a check that resolves less), the largest of ``k``, times
    ``factor``; the size grows where all ``k`` are 0 (:data:`~xprop.tolerances.GRADCHECK_PROBE`)."""
    probe = GRADCHECK_PROBE
    k, size = probe["k"], probe["size"][dtype]
    shapes = [tuple(x.shape) for x in inputs]
    root = math.sqrt(sum(math.prod(s) for s in shapes))  # unit norm -> entries ~ 1
    worst = 0.0
    while worst == 0.0 and size <= probe["max_size"][dtype]:  # (grown where no second
        for j in range(k):  # difference moved, up to where the kinks' pattern changes)
            dirs = random_directions(shapes, seed + 7919 * (j + 1))
            steps = []
            for x, d in zip(inputs, dirs):
                d = xp.asarray(d, dtype=x.dtype, device=device(x))
                steps.append(d * (size * root * (1.0 + xp.abs(x))))
            (plus, across), (minus, below) = (evaluate([x + d for x, d in zip(inputs, steps)]),
                                              evaluate([x - d for x, d in zip(inputs, steps)]))
            if size > probe["size"][dtype] and (changed(across) or changed(below)):
                return probe["factor"] * worst  # (a kink's jump is no rounding)
            worst = max(worst, abs(plus + minus - 2.0 * base) / 2.0)
        size *= probe["grow"]
    return probe["factor"] * worst


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    idx = []
    for s in reversed(shape):
        idx.append(k % s)
        k //= s
    return tuple(reversed(idx))


# ----------------------------------------------------------------------------- models


def gradcheck(
    model: Any,
    X: Any,
    y: Any,
    *,
    h: float | None = None,
    eps: float | None = None,
    method: str = "five_point",
    n_checks: int | None = None,
    seed: int = 0,
    check_input: bool = False,
    mode: str = "full",
    dtype: str = "float64",
) -> GradcheckReport:
    """Check a model's backprop gradients against finite differences of its loss.

    The analytic gradients (:func:`xprop.network.backward`) on ``(X, y)`` are checked with
    :func:`check_gradients`; ReLU and leaky-ReLU inputs mark the kinks. The check evaluates
    in float64 (a float32 model is copied to float64 on its own backend and device).

    Parameters
    ----------
    model : MLP
        The model (its standardizer applies to ``X``, as in ``predict``).
    X : array_like
        Features, host data or arrays of the model's backend.
    y : array_like
        Targets, as ``fit`` takes them.
    h : float or None, default=None
        The step (None: 1e-3 in float64, 1e-2 in float32).
    eps : float or None, default=None
        The old name of ``h``.
    method : {"five_point", "central"}, default="five_point"
        The finite-difference formula.
    n_checks : int or None, default=None
        Check a seeded random subset of that many entries per parameter (all when None).
    seed : int, default=0
        Seed of the subset, the noise probe and the fast mode's direction.
    check_input : bool, default=False
        Check ``dL/dX`` too: of the network's input, the standardised ``X`` when the model
        has a standardizer (divide by its ``std`` for ``dL/dX`` of the ``X`` given).
    mode : {"full", "fast"}, default="full"
        ``fast`` checks one random direction of each array first and the entries only when
        one of them does not pass.
    dtype : {"float64", "float32"}, default="float64"
        The evaluation dtype: float32 checks on devices without float64, at float32
        precision.

    Returns
    -------
    GradcheckReport
        ``report.passed``, ``report.verdict`` and a printable table.

    Raises
    ------
    TypeError
        When ``model`` is not an xprop model.
    ValueError
        For a bad option (both ``h`` and ``eps``), bad data, or a non-finite loss.
    BackendError
        When the device cannot evaluate in ``dtype`` (pass ``dtype="float32"``).

    Examples
    --------
    >>> X, y = xprop.datasets.xor()
    >>> model = xprop.MLP([2, 3, 1], "tanh", "sigmoid", "bce", seed=0)
    >>> report = xprop.gradcheck(model, X, y)
    >>> print(report.verdict)
    passed
    >>> print(xprop.gradcheck(model, X, y, mode="fast").reason)
    the directional derivative along a random direction of each array agrees within its ...
    """
    h_name = "h"
    if eps is not None:
        if h is not None:
            raise ValueError("h, eps: give the step once (eps is the old name of h)")
        h, h_name = eps, "eps"
    V.check_choice(dtype, "dtype", list(GRADCHECK))
    V.check_model(model)
    h = _validate(h, method, n_checks, seed, mode, dtype, h_name)
    V.check_bool(check_input, "check_input")
    if dtype not in model.backend.supported_float_dtypes():
        raise BackendError(
            f"dtype: the gradient check evaluates in {dtype}, which "
            f"{model.backend.describe()} does not support; pass dtype='float32' for a check at "
            "float32 precision or move the model to a float64 device, e.g. model.to('numpy')")
    with model.backend.context():
        m = model if dtype_name(model.dtype, model.xp) == dtype else model.astype(dtype)
        xp, arch = m.xp, m.arch
        Xd, Y, _ = m.prepare(X, y)
        names = list(m.params)
        _, cache = network.forward(m.params, Xd, arch, xp)
        grads, dX = network.backward(m.params, cache, Y, arch, input_grad=True, xp=xp)
        kinked = [i for i, a in enumerate(arch.activations) if a.kink]

        def evaluate(arrays: list[Array]) -> tuple[float, list[Array]]:
            params = dict(zip(names, arrays))
            x = arrays[len(names)] if check_input else Xd
            _, c = network.forward(params, x, arch, xp)
            value = float(network.loss_value(c, Y, arch, xp))
            return value, [c.pre[i] > 0 for i in kinked]

        inputs = [m.params[k] for k in names] + ([Xd] if check_input else [])
        claimed = [grads[k] for k in names] + ([dX] if check_input else [])
        terms = xp.maximum(xp.abs(cache.pre[-1]), xp.abs(cache.output)) + xp.abs(Y)  # what
        magnitude = float(xp.sum(xp.max(terms, axis=-1))) / arch.head.divisor(  # L adds
            Xd.shape[0])  # up, per sample the largest
        return _check(evaluate, inputs, claimed, names + (["X"] if check_input else []), xp,
                      dtype, _Options(h, method, n_checks, seed, mode), m.backend.describe(),
                      "X, y: the loss", magnitude)


# ----------------------------------------------------------------------------- building blocks


#: the output activation whose values suit a loss's targets (a user's loss has no fused one)
OUTPUTS_FOR_TARGETS = {"labels": "softmax", "binary": "sigmoid", "counts": "exp"}


def _check_draw(shape: Any, seed: Any) -> tuple[tuple[int, int], int]:
    """``check_activation``/``check_loss``'s ``shape`` (two sizes >= 1: a batch of samples
    and their outputs) and ``seed``, checked."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape: expected (samples, outputs), two integers >= 1, got "
                         f"{V.show(shape)}")
    return ((V.check_int(shape[0], "shape[0]"), V.check_int(shape[1], "shape[1]")),
            V.check_seed(seed))


def check_activation(activation: Any, *, shape: tuple[int, int] = (6, 4), seed: int = 0,
                     backend: Any = None, dtype: str = "float64", **options: Any
                     ) -> GradcheckReport:
    """Check an activation's ``backward`` against finite differences of its ``forward``.

    On seeded random pre-activations ``z``: ``f(z) = sum(w * act(z))`` with fixed random
    weights ``w``, claimed gradient ``act.backward(w, z, act(z))``. Kinks at ``z == 0`` are
    watched when the activation declares one.

    Parameters
    ----------
    activation : str or Activation
        A name or an :class:`~xprop.activations.Activation`.
    shape : tuple of int, default=(6, 4)
        The shape of ``z``.
    seed : int, default=0
        Seed of ``z`` and ``w``.
    backend : str or Backend or None, default=None
        Where to check (the default backend when None).
    dtype : {"float64", "float32"}, default="float64"
        The dtype of the check.
    **options
        More options of :func:`check_gradients` (``h``, ``method``, ``n_checks``,
        ``mode``).

    Returns
    -------
    GradcheckReport
        The verdict with its table.

    Examples
    --------
    >>> print(xprop.check_activation("gelu").verdict)
    passed
    >>> wrong = xprop.make_activation("bad_tanh", lambda z, xp: xp.tanh(z),
    ...                               lambda z, a, xp: 1.0 - a)  # should be 1 - a^2
    >>> print(xprop.check_activation(wrong).verdict)
    FAILED
    """
    from xprop.activations import get_activation
    from xprop.backend import resolve_backend
    from xprop.init import standard_normal

    act = get_activation(activation)
    shape, seed = _check_draw(shape, seed)
    b = resolve_backend(backend)
    xp = b.xp
    z = b.from_host(2.0 * standard_normal(shape, seed), dtype)
    w = b.from_host(standard_normal(shape, seed + 1), dtype)

    def f(x: Array) -> Array:
        return xp.sum(w * act.forward(x, xp))

    claimed = act.backward(w, z, act.forward(z, xp), xp)
    return check_gradients(f, [z], [claimed], names=[f"z ({act.name})"],
                           kinks=(lambda x: [x > 0]) if act.kink else None, seed=seed,
                           backend=b.describe(), **options)


def check_loss(loss: Any, *, shape: tuple[int, int] = (6, 3), seed: int = 0,
               logits: bool = False, backend: Any = None, dtype: str = "float64",
               **options: Any) -> GradcheckReport:
    """Check a loss's gradient against finite differences of its value.

    At seeded random outputs and targets that suit its ``targets`` (probability rows and
    one-hot rows for labels, values in (0, 1) for binary, reals otherwise): ``loss.grad``
    against ``loss.value``, or with ``logits=True`` a fused loss's ``fused_grad`` against
    ``value_from_logits``.

    Parameters
    ----------
    loss : str or Loss
        A name or a :class:`~xprop.losses.Loss`.
    shape : tuple of int, default=(6, 3)
        The shape of the outputs and targets.
    seed : int, default=0
        Seed of the outputs and targets.
    logits : bool, default=False
        Check the fused gradient through its output activation instead.
    backend : str or Backend or None, default=None
        Where to check (the default backend when None).
    dtype : {"float64", "float32"}, default="float64"
        The dtype of the check.
    **options
        More options of :func:`check_gradients` (``h``, ``method``, ``n_checks``,
        ``mode``).

    Returns
    -------
    GradcheckReport
        The verdict with its table.

    Raises
    ------
    ValueError
        With ``logits=True`` for a loss without a fused output activation.

    Examples
    --------
    >>> print(xprop.check_loss("bce").verdict)
    passed
    >>> print(xprop.check_loss("cross_entropy", logits=True).verdict)
    passed
    """
    from xprop.activations import get_activation
    from xprop.backend import resolve_backend
    from xprop.init import standard_normal
    from xprop.losses import get_loss

    lossf = get_loss(loss)
    shape, seed = _check_draw(shape, seed)
    logits = V.check_bool(logits, "logits")
    if logits and lossf.logit_terms is None:
        raise ValueError(f"logits: {lossf.name} has no fused output activation")
    b = resolve_backend(backend)
    xp = b.xp
    z = b.from_host(standard_normal(shape, seed), dtype)
    raw = standard_normal(shape, seed + 1)
    if lossf.targets == "labels":
        eye = [[float(i == j) for j in range(shape[1])] for i in range(shape[1])]
        y = b.from_host([eye[int(i)] for i in (abs(raw[:, 0]) * 7).astype(int) % shape[1]],
                        dtype)
    elif lossf.targets == "binary":
        y = b.from_host(1.0 / (1.0 + 2.718281828 ** -raw), dtype)
    elif lossf.targets == "counts":
        y = b.from_host(abs(raw), dtype)
    else:
        y = b.from_host(raw, dtype)
    if logits:
        act = get_activation(lossf.fused_activation)

        def f(x: Array) -> Array:
            return lossf.value_from_logits(x, y, xp)

        point, claimed = z, lossf.fused_grad(act.forward(z, xp), y, xp)
    else:
        # outputs that suit its targets: its fused activation's, else probability rows for
        # labels, probabilities for 0/1 targets, positive means for counts
        output = lossf.fused_activation or OUTPUTS_FOR_TARGETS.get(lossf.targets)
        if output is not None:
            z = get_activation(output).forward(z, xp)

        def f(x: Array) -> Array:
            return lossf.value(x, y, xp)

        point, claimed = z, lossf.grad(z, y, xp)
    return check_gradients(f, [point], [claimed], names=[f"{'z' if logits else 'a'} "
                                                         f"({lossf.name})"],
                           seed=seed, backend=b.describe(), **options)

"""Every numerical tolerance xprop uses, in one place, keyed by dtype.

Gradient check: no fixed tolerance. Each entry is judged against the error estimate of its
own finite difference (Richardson truncation estimate + measured rounding), see
:mod:`xprop.gradcheck`; the constants of that model are below.

Cross-backend parity (results of any backend against the NumPy float64 reference):
    float64: identical algorithms differ only by the order of floating-point sums inside BLAS
    and reductions, a few ulps per operation -> 1e-12 relative (a margin of ~1e3 over u for the
    short chains of an MLP). float32: the reference is float64, so the float32 result carries
    its own rounding: about sqrt(n) u per dot product of length n (random-walk rounding),
    amplified through depth and 20 training steps -> rtol = 50 * eps32 * sqrt(n) bounded below
    by 1e-5, ``n`` the longest dot product behind the quantity (:func:`parity_rtol`'s
    ``reduction_length``: the parity report takes the largest fan-in or batch, the training
    tests fan-in + batch). Two ways of running one fit (compiled or captured epochs against the
    eager loop, tests/test_fast_paths.py) are held to the same tolerances. ONNX export
    (tests/test_onnx.py) holds ONNX Runtime's outputs to the same tolerances against xprop's
    NumPy outputs of the same dtype (worst seen over the parity grid: 2.3e-7 in float32,
    5.2e-16 in float64).
"""

from __future__ import annotations

import math
from typing import Any

from xprop.backend.base import dtype_name

FLOAT_EPS = {"float32": 2.0**-23, "float64": 2.0**-52}
"""Machine epsilon by dtype (the unit roundoff ``u`` is half of it)."""

FLOAT_TINY = {"float32": 2.0**-149, "float64": 2.0**-1074}
"""The smallest positive (subnormal) number by dtype: the spacing of values near 0, below
which no rounding error of a value can fall."""

GRADCHECK = {"float64": {"h": 1e-3}, "float32": {"h": 1e-2}}
"""Gradient check (see :mod:`xprop.gradcheck` for the error model): the default step ``h``
per evaluation dtype. Five-point differences balance truncation (~h^4) and rounding (~u/h)
near h = u^(1/5): 7e-4 in float64, 4e-2 in float32."""
GRADCHECK_SAFETY = 10.0
"""An entry fails when ``|numeric - claimed| > SAFETY * (truncation + rounding estimate) +
floor``."""
GRADCHECK_FLOOR = 10.0
"""The failure test's ``floor = FLOOR * u * max|gradient|`` (``u`` the unit roundoff of the
evaluation dtype)."""
GRADCHECK_RESOLVE = 0.1
"""An entry is resolved when its tolerance is at most ``RESOLVE * max(|numeric|, |claimed|)``:
the check would have seen an error of that relative size there. A check passes only with at
least one resolved entry and no failure."""
GRADCHECK_REFINE = 1e-3
"""An entry that passes with a tolerance above ``REFINE * max(|numeric|, |claimed|)`` while
truncation dominates its error estimate is judged again at smaller steps, at the best of
them: a step too large for f (``sin(1000 x)`` at h = 1e-3) resolves only gross errors, and a
1% error must not pass there."""
GRADCHECK_HALVINGS = 24
"""How many times the step of an entry that fails (or is unresolved) while truncation
dominates its error estimate may be halved, looking for a step f can take: 6 evaluations
each."""
GRADCHECK_PROBE = {"k": 4, "size": {"float64": 1e-11, "float32": 1e-6}, "factor": 4.0,
                   "grow": 16.0, "max_size": {"float64": 1e-6, "float32": 1e-4}}
"""The noise probe: ``k`` second differences along random directions with entries of
relative size ``size``, the largest times ``factor`` (rounding of one evaluation of f).
Where every second difference is 0 (``f`` rounds more coarsely than such steps move it:
an intermediate far larger than ``f``, lower precision inside; or ``f`` is linear there),
the size grows by ``grow`` until one is not, a kink's pattern changes, or it reaches
``max_size`` (a kink's jump within it adds at most ``max_size`` of the slope's size to the
noise: a wrong gradient of a locally flat ``f`` still fails)."""

PARITY_GRADCHECK_RTOL = {"float64": 1e-6, "float32": 5e-2}
"""Gradient-check reports of one model on two backends (same weights, same evaluation dtype):
the numeric values may differ by the sum of the two entries' tolerances (each is within its
own error estimate, see :mod:`xprop.gradcheck`); the analytic ones differ like gradients,
within this relative tolerance (compared to the larger of the value and its tolerance)."""

REPEAT_RTOL = {"float32": 0.0, "float64": 0.0}
"""Same computation, same backend, run twice: bit-identical unless the backend says
otherwise."""


def parity_rtol(dtype: Any, reduction_length: int = 1) -> float:
    """Relative tolerance for a ``dtype`` result (``"float32"``, ``"float64"`` or such a dtype
    object; anything else raises :class:`~xprop.BackendError`) against the NumPy float64
    reference, for quantities built from dot products of length up to ``reduction_length``."""
    if dtype_name(dtype) == "float64":
        return 1e-12
    return max(1e-5, 50.0 * FLOAT_EPS["float32"] * math.sqrt(max(1, reduction_length)))


def parity_atol(dtype: Any, scale: float = 1.0) -> float:
    """Absolute floor for entries near zero (relative error is meaningless there); ``dtype``
    as in :func:`parity_rtol`."""
    if dtype_name(dtype) == "float64":
        return parity_rtol(dtype) * 1e-3 * scale
    return 1e-6 * scale

"""Every numerical tolerance xprop uses, in one place, keyed by dtype.

Gradient check (central five-point differences, step ``h``):
    truncation error ~ h^4 |f^(5)| / 30 and rounding error ~ 1.5 u |L| / h, with ``u`` the unit
    roundoff (1.1e-16 in float64, 6.0e-8 in float32). With h = 1e-3 in float64 both stay near
    1e-13 for losses of order 1, so relative errors below 1e-7 are a real test; entries whose
    size is below ``tiny`` are judged by absolute error ``rtol * tiny`` instead (the
    denominator of the relative error is ``max(|num| + |ana|, tiny)``; ``tiny`` grows with
    the loss, see NOISE_SAFETY). float32 evaluation
    (for devices without float64) can only promise about 1e-2.

Cross-backend parity (results of any backend against the NumPy float64 reference):
    float64: identical algorithms differ only by the order of floating-point sums inside BLAS
    and reductions, a few ulps per operation -> 1e-12 relative (a margin of ~1e3 over u for the
    short chains of an MLP). float32: the reference is float64, so the float32 result carries
    its own rounding: about sqrt(n) u per dot product of length n (random-walk rounding),
    amplified through depth and 20 training steps -> rtol = 50 * eps32 * sqrt(max fan-in + batch)
    bounded below by 1e-5; see :func:`parity_rtol`.
"""

from __future__ import annotations

import math

FLOAT_EPS = {"float32": 2.0**-23, "float64": 2.0**-52}

# gradient check: dtype -> (rtol, tiny, default step h)
GRADCHECK = {
    "float64": {"rtol": 1e-7, "tiny": 1e-6, "eps": 1e-3},
    "float32": {"rtol": 1e-2, "tiny": 1e-3, "eps": 1e-2},
}

# The denominator floor ``tiny`` is raised to NOISE_SAFETY * noise / rtol, where
# noise = sum|stencil weights| * u * |L| / h is the size of a difference quotient made of
# rounding alone (u = eps / 2): for a loss of 1 in float64 with h = 1e-3 that is 1.7e-5, so
# smaller gradient entries are judged by absolute error 1.7e-12.
NOISE_SAFETY = 10.0

# fast (directional) gradient check
GRADCHECK_FAST_RTOL = {"float64": 1e-7, "float32": 1e-2}

# Gradient-check reports of one model on two backends (same weights, same evaluation dtype):
# the analytic values differ like gradients (parity_rtol); the numeric ones carry the rounding
# noise of the loss divided by h (see NOISE_SAFETY), about 1e-10 relative in float64 and 1e-3
# in float32 for gradients of order 0.01-1, compared relative to max(|value|, tiny).
PARITY_GRADCHECK_RTOL = {"float64": 1e-6, "float32": 5e-2}

# same computation, same backend, run twice: bit-identical unless the backend says otherwise
REPEAT_RTOL = {"float32": 0.0, "float64": 0.0}


def parity_rtol(dtype: str, reduction_length: int = 1) -> float:
    """Relative tolerance for a ``dtype`` result against the NumPy float64 reference, for
    quantities built from dot products of length up to ``reduction_length``."""
    if dtype == "float64":
        return 1e-12
    return max(1e-5, 50.0 * FLOAT_EPS["float32"] * math.sqrt(max(1, reduction_length)))


def parity_atol(dtype: str, scale: float = 1.0) -> float:
    """Absolute floor for entries near zero (relative error is meaningless there)."""
    return parity_rtol(dtype) * 1e-3 * scale if dtype == "float64" else 1e-6 * scale

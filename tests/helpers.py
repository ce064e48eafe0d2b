"""Small helpers shared by the tests."""

from __future__ import annotations

import numpy as np

from xprop import to_numpy


def host(x) -> np.ndarray:
    """A NumPy copy of any backend's array."""
    return np.asarray(to_numpy(x))


def assert_backend_array(x, backend) -> None:
    """``x`` is an array of ``backend``'s namespace on its device (no silent NumPy)."""
    assert backend.owns(x), f"expected an array on {backend.describe()}, got {type(x)}"


def make_data(loss: str, n: int, n_in: int, n_out: int, seed: int):
    """Host inputs ``(n, n_in)`` and targets of the right kind for ``loss``: class labels for
    cross_entropy, 0/1 arrays for the binary losses, real values otherwise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, n)
    elif loss in ("bce", "bce_with_logits", "binary_log_loss"):
        y = (rng.random((n, n_out)) > 0.5).astype(np.float64)
    elif loss == "poisson":
        y = np.abs(rng.standard_normal((n, n_out)))
    else:
        y = rng.standard_normal((n, n_out))
    return X, y


def fit_options(**options: object) -> dict:
    """``options`` as ``xprop.fit`` takes them: its keyword options as they are, every other
    one in a ``FitConfig`` (so a test's table of options exercises both ways in)."""
    import inspect

    import xprop

    keywords = set(inspect.signature(xprop.fit).parameters) - {"model", "X", "y", "config"}
    out = {k: v for k, v in options.items() if k in keywords}
    rest = {k: v for k, v in options.items() if k not in keywords}
    if rest:
        out["config"] = xprop.FitConfig(**rest)
    return out

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

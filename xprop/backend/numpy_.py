"""NumPy (through ``array_api_compat.numpy``): the host, always available, one device ``cpu``."""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import Adapter, BackendError


class NumpyAdapter(Adapter):
    name = "numpy"
    package = "numpy"

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_numpy_namespace(xp)

    def load_namespace(self) -> Any:
        return importlib.import_module("array_api_compat.numpy")

    def parse_device(self, xp: Any, spec: Any) -> Any:
        if spec not in (None, "cpu"):
            raise BackendError(f"device: numpy runs on 'cpu' only, got {spec!r}")
        return "cpu"

    def devices(self, xp: Any) -> list[Any]:
        return ["cpu"]

    def owns_device(self, device: Any) -> bool:
        return False  # NumPy's device is the string "cpu", which needs no translation

    def to_host(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def kernel(self, name: str) -> tuple[Any, Any] | None:
        if name == "relu":  # g * [z > 0] written into g (backprop's own temporary dA)
            return None, _relu_backward_in_place
        return None

    def matmul_into(self, a: Any, b: Any, out: Any, xp: Any) -> None:
        np.matmul(a, b, out=out)

    def sum_rows_into(self, x: Any, out: Any, xp: Any) -> None:
        np.add.reduce(x, axis=0, out=out)


def _relu_backward_in_place(g: Any, z: Any, a: Any, xp: Any) -> Any:
    """``g * [z > 0]`` with one pass and no float temporary: ``g`` is overwritten (network.
    backward hands activations the fresh ``dA`` it owns)."""
    return np.multiply(g, z > 0, out=g)

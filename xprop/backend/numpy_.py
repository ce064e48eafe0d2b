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
        if name == "relu":  # max(z, 0) against zeros; g * [z > 0] written into g
            return _relu_against_zeros, _relu_backward_in_place
        return None

    def sub_scaled(self, p: Any, alpha: Any, g: Any, xp: Any) -> Any:
        """``p -= alpha * g`` with the product in a cache-sized temporary, slice by slice,
        for a long flat buffer: after a step's GEMMs ``p`` and ``g`` come from memory, and
        a whole-buffer temporary doubles the traffic (1.9M float32: 1.0 ms against 0.83)."""
        if p.size <= UPDATE_BLOCK or not (  # small buffers first: one test (XOR counts it)
                p.ndim == 1 and g.shape == p.shape and g.dtype == p.dtype
                and getattr(alpha, "dtype", p.dtype) == p.dtype and getattr(alpha, "ndim", 0) == 0
                and (g is p or not np.may_share_memory(p, g))):
            p -= alpha * g
            return p
        tmp = np.empty(UPDATE_BLOCK, p.dtype)
        for i in range(0, p.size, UPDATE_BLOCK):
            part = p[i:i + UPDATE_BLOCK]
            scaled = np.multiply(g[i:i + UPDATE_BLOCK], alpha, out=tmp[:part.size])
            part -= scaled
        return p

    def matmul_into(self, a: Any, b: Any, out: Any, xp: Any) -> None:
        np.matmul(a, b, out=out)

    def sum_rows_into(self, x: Any, out: Any, xp: Any) -> None:
        np.add.reduce(x, axis=0, out=out)


def _relu_backward_in_place(g: Any, z: Any, a: Any, xp: Any) -> Any:
    """``g * [z > 0]`` with one pass and no float temporary: ``g`` is overwritten (network.
    backward hands activations the fresh ``dA`` it owns)."""
    return np.multiply(g, z > 0, out=g)


#: elements of a zeros block (256 KiB of float32, cache-resident) for the ReLU forward
BLOCK = 1 << 16
#: below this many elements the scalar call is faster (no setup): 4x4 0.6 us against 1.8 us
SMALL = 1 << 12
_zeros: dict[Any, np.ndarray] = {}
#: elements per slice of ``sub_scaled``'s temporary (512 KiB of float32: L2-resident)
UPDATE_BLOCK = 1 << 17


def _relu_against_zeros(z: Any, xp: Any) -> Any:
    """``max(z, 0)``, the values and signs of ``np.maximum(z, 0.0)`` (NaN stays NaN), taken
    block by block against an array of zeros: NumPy's maximum has no SIMD loop for a scalar
    operand (512x1024 float32: 196 us against 83 us; 64x128: 3.8 us against 2.9 us)."""
    if (z.size < SMALL or type(z) is not np.ndarray or z.dtype.kind != "f"
            or not z.flags.c_contiguous):  # subclasses (np.matrix, memmap) as NumPy has them
        return np.maximum(z, 0.0)
    zeros = _zeros.get(z.dtype)
    if zeros is None:
        zeros = _zeros[z.dtype] = np.zeros(BLOCK, z.dtype)
    out = np.empty_like(z)
    flat, into = z.reshape(-1), out.reshape(-1)
    for i in range(0, flat.size, BLOCK):
        part = flat[i:i + BLOCK]
        np.maximum(part, zeros[:part.size], out=into[i:i + BLOCK])
    return out

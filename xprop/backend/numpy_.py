"""NumPy (through ``array_api_compat.numpy``): the host, always available, one device ``cpu``."""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

from xprop.activations import sigmoid
from xprop.backend.base import Adapter, BackendError
from xprop.validation import show


class NumpyAdapter(Adapter):
    name = "numpy"
    package = "numpy"

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_numpy_namespace(xp)

    def load_namespace(self) -> Any:
        return importlib.import_module("array_api_compat.numpy")

    def parse_device(self, xp: Any, spec: Any) -> Any:
        if spec not in (None, "cpu"):
            raise BackendError(f"device: numpy runs on 'cpu' only, got {show(spec)}")
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
        if name == "sigmoid":  # the portable formula in fewer passes
            return _sigmoid_fewer_passes, None
        if name == "tanh":  # g * (1 - a a) written into g
            return None, _tanh_backward_in_place
        return None

    def cache_elements(self, device: Any) -> int | None:
        return CACHE_ELEMENTS

    def max_rows(self, x: Any, xp: Any) -> Any:
        """``np.max(x, axis=-1, keepdims=True)``; many short rows of floats (the records of
        an epoch's outputs) column by column with ``np.maximum``, the same values (a
        maximum is exact, NaN propagates; of a tie of 0.0 and -0.0 either zero may come, as
        the order of NumPy's own SIMD loop decides it): NumPy reduces a short last axis one
        row at a time (1797x10 float32: 82 us against 19; 64x10: 3 us against 6)."""
        k = x.shape[-1] if x.ndim else 0
        if (type(x) is not np.ndarray or x.dtype.kind != "f" or not 1 < k <= SHORT_ROW
                or x.size < MANY_ROWS * k):
            return np.max(x, axis=-1, keepdims=True)
        top = x[..., :1].copy()
        for j in range(1, k):
            np.maximum(top, x[..., j:j + 1], out=top)
        return top

    def sub_scaled(self, p: Any, alpha: Any, g: Any, xp: Any) -> Any:
        """``p -= alpha * g``; on a long flat buffer by NumPy's own BLAS ``?axpy``
        (:func:`blas_axpy`: one fused multiply-add per entry, on the BLAS threads that the
        step's GEMMs leave awake; 1.9M float32 after a GEMM: 0.36 ms against 0.86), else
        with the product in a cache-sized temporary, slice by slice (a whole-buffer temporary
        doubles the memory traffic: 0.86 against 1.0 ms)."""
        if p.size <= UPDATE_BLOCK or not (  # small buffers first: one test (XOR counts it)
                p.ndim == 1 and g.shape == p.shape and g.dtype == p.dtype
                and getattr(alpha, "dtype", p.dtype) == p.dtype and getattr(alpha, "ndim", 0) == 0
                and (g is p or not np.may_share_memory(p, g))):
            p -= alpha * g
            return p
        axpy = blas_axpy().get(p.dtype.name)
        if (axpy is not None and type(p) is np.ndarray and type(g) is np.ndarray  # no memmaps:
                and p.dtype.isnative and p.flags.c_contiguous  # two maps of one file alias
                and p.flags.writeable and g.flags.c_contiguous):  # unseen by may_share_memory
            a = p.dtype.type(alpha)  # the rate BLAS gets: as the product rounds it (NEP 50)
            if a != 0 and np.isfinite(a):  # BLAS skips a == 0 (0 * inf is NaN in NumPy)
                axpy(p.size, -float(a), g.ctypes.data, p.ctypes.data)
                return p
        tmp = np.empty(UPDATE_BLOCK, p.dtype)
        for i in range(0, p.size, UPDATE_BLOCK):
            part = p[i:i + UPDATE_BLOCK]
            scaled = np.multiply(g[i:i + UPDATE_BLOCK], alpha, out=tmp[:part.size])
            part -= scaled
        return p

    def matmul(self, a: Any, b: Any, xp: Any, out: Any = None) -> Any:
        """``a @ b``, written into ``out`` without a temporary when given. Two matrices that
        BLAS reads as they are (C- or Fortran-ordered) go through ``np.dot``: the same call as
        ``np.matmul``, bit for bit, with less set-up (4x2 @ 2x4: 0.8 us against 1.2); so does
        an ``out`` that ``np.dot`` takes (C-ordered, of the result's dtype). Anything else
        (strided views, whose ``np.dot`` copy would sum in another order than
        ``np.matmul``'s own loop, and stacks) goes through ``np.matmul``."""
        if a.ndim == 2 == b.ndim and a.flags.forc and b.flags.forc:
            try:
                return np.dot(a, b, out=out)
            except ValueError:  # an out that np.dot refuses (order, dtype)
                pass
        return np.matmul(a, b, out=out)

    def sum_rows(self, x: Any, xp: Any, out: Any = None) -> Any:
        return np.add.reduce(x, axis=0, out=out)


def _tanh_backward_in_place(g: Any, z: Any, a: Any, xp: Any) -> Any:
    """``g * (1 - a * a)``, the portable formula's passes in its order, with one temporary
    instead of three: ``g`` is overwritten (network.backward hands activations the fresh
    ``dA`` it owns)."""
    t = np.multiply(a, a)
    np.subtract(_one(t.dtype), t, out=t)
    return np.multiply(g, t, out=g)


#: elements of a stack that one pass of elementwise work takes at a time (``cache_elements``:
#: 256 KiB of float32 and its temporaries stay in L2; the records of 39 digits-sized epochs,
#: 1797x10 each: 0.23 ms an epoch in blocks of 3 epochs against 0.46 all at once)
CACHE_ELEMENTS = 1 << 16
#: rows of at most this many entries, at least :data:`MANY_ROWS` of them, have their maximum
#: taken column by column (``max_rows``: one call per column against one per row)
SHORT_ROW, MANY_ROWS = 16, 256


def _relu_backward_in_place(g: Any, z: Any, a: Any, xp: Any) -> Any:
    """``g * [z > 0]`` with one pass and no float temporary: ``g`` is overwritten (network.
    backward hands activations the fresh ``dA`` it owns)."""
    return np.multiply(g, z > 0, out=g)


def _sigmoid_fewer_passes(z: Any, xp: Any) -> Any:
    """The portable ``sigmoid`` bit for bit (``e = exp(-|z|)``, ``r = 1 / (1 + e)``, then
    ``e r`` where ``z < 0``) in one pass fewer and half the temporaries: the product is
    written into ``r`` where the sign bit of ``z`` is set (``-0.0`` too, where ``e r`` is
    ``r``) instead of a ``where`` over a third array, and the constants are 0-d arrays of
    ``z``'s dtype, which NumPy takes faster than Python floats (4x1 float64: 3.1 us against
    3.7; 512x1024 float32: 3.2 ms against 7.6)."""
    if type(z) is not np.ndarray or z.dtype.kind != "f" or not z.ndim:  # subclasses, ints,
        return sigmoid(z, xp)  # 0-d (NumPy gives scalars for them): the portable one
    one = _one(z.dtype)
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    r = np.add(e, one)
    np.divide(one, r, out=r)
    np.multiply(e, r, out=r, where=np.signbit(z))
    return r


_ONES: dict[Any, np.ndarray] = {}


def _one(dtype: Any) -> np.ndarray:
    """``1`` as a 0-d array of ``dtype`` (an operand NumPy takes faster than the float
    ``1.0``, with the same result: NumPy computes in ``dtype`` either way)."""
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = np.ones((), dtype)
        one.flags.writeable = False
    return one


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


#: ``cblas_?axpy`` of the ILP64 OpenBLAS builds that NumPy's wheels bundle (symbol prefix
#: and suffix as threadpoolctl knows them: NumPy 2 ``scipy_``/``64_``, NumPy 1.26 ``64_``)
AXPY_SYMBOLS = ("scipy_cblas_{}axpy64_", "cblas_{}axpy64_")
AXPY_ENV = "XPROP_NUMPY_BLAS_AXPY"  # "0": the parameter update stays NumPy's own


@functools.cache
def blas_axpy() -> dict[str, Callable[[int, float, int, int], None]]:
    """``{"float32": saxpy, "float64": daxpy}``, each ``f(n, alpha, x_ptr, y_ptr)`` doing
    ``y += alpha * x`` over ``n`` contiguous entries, from the OpenBLAS library in NumPy's own
    wheel directory (the copy NumPy already loaded, with its thread pool). Empty for other
    builds (MKL, Accelerate, a system BLAS), on Windows, when ``XPROP_NUMPY_BLAS_AXPY=0``
    (read once, at the first long update), or when a self-check on known values fails:
    NumPy's update is then used."""
    if os.environ.get(AXPY_ENV, "1").strip() == "0" or not hasattr(os, "RTLD_NOLOAD"):
        return {}  # (Windows has no RTLD_NOLOAD: its NumPy keeps its own update)
    root = Path(np.__file__).parent
    libs = sorted(p for d in (root.parent / "numpy.libs", root / ".dylibs", root / ".libs")
                  if d.is_dir() for p in d.iterdir() if "openblas" in p.name.lower())
    found: dict[str, Callable[[int, float, int, int], None]] = {}
    for path in libs:
        try:  # only a library the process has loaded already (NumPy's): never a second copy
            lib = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        for t, name, ctype in (("s", "float32", ctypes.c_float), ("d", "float64", ctypes.c_double)):
            for pattern in AXPY_SYMBOLS:
                fn = getattr(lib, pattern.format(t), None)
                if fn is not None and name not in found:
                    fn.restype = None
                    fn.argtypes = [ctypes.c_int64, ctype, ctypes.c_void_p, ctypes.c_int64,
                                   ctypes.c_void_p, ctypes.c_int64]
                    found[name] = functools.partial(_call_axpy, fn)
    return {k: f for k, f in found.items() if _axpy_works(f, k)}


def _call_axpy(fn: Any, n: int, alpha: float, x: int, y: int) -> None:
    fn(n, alpha, x, 1, y, 1)


def _axpy_works(f: Callable[[int, float, int, int], None], dtype: str) -> bool:
    """``f`` gives ``y + alpha x`` (within one rounding) on values where a wrong argument
    order, stride or count would show (the symbols looked up are the ILP64 ones only: a
    32-bit count would pass this check)."""
    x = np.arange(1, 40, dtype=dtype)
    y = np.full(39, 0.5, dtype=dtype)
    f(37, -0.25, x.ctypes.data, y.ctypes.data)
    want = np.full(39, 0.5, dtype=dtype)
    want[:37] -= np.asarray(0.25, dtype) * x[:37]
    return bool(np.allclose(y, want, rtol=1e-6, atol=0))

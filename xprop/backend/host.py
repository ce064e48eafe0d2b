"""Moving arrays between the host and backends, and the NumPy hot-path namespace."""

from __future__ import annotations

import functools
import types
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.core import Backend, adapter_for, resolve_backend


def is_array(x: Any) -> bool:
    return array_api_compat.is_array_api_obj(x)


def is_host_data(x: Any) -> bool:
    """NumPy arrays and plain Python data (lists, scalars): what entry points copy to a
    device, as opposed to arrays that already live on a backend and decide it."""
    return isinstance(x, np.ndarray) or not is_array(x)


def to_numpy(x: Any, copy: bool = False) -> np.ndarray:
    """A NumPy array with the values of ``x`` (copied from a device when needed; with
    ``copy=True`` always a fresh array that shares no memory with ``x``)."""
    if copy:
        return np.array(to_numpy(x), copy=True)
    if isinstance(x, np.ndarray):
        return x
    if is_array(x):
        return adapter_for(array_api_compat.array_namespace(x), like=x).to_host(x)
    return np.asarray(x)


def to_backend(x: Any, backend: str | Backend, device: Any = None, dtype: Any = None) -> Any:
    """Copy ``x`` (any array or host data) to ``backend``/``device``, through the host.

    Values are unchanged; with ``dtype`` they are cast on the host first.
    """
    b = resolve_backend(backend, device)
    return b.from_host(to_numpy(x), dtype)


@functools.lru_cache(maxsize=8)
def fast_namespace(xp: Any) -> Any:
    """``xp`` itself, except for NumPy: a copy of ``array_api_compat.numpy`` whose ``sum`` and
    ``max`` call the ufunc reductions directly (``np.add.reduce``, ``np.maximum.reduce``).

    Same dtypes and values as ``np.sum``/``np.max`` on ndarrays (they call the same reductions)
    without their Python wrappers, which cost about 2 us a call: a third of a small network's
    backward pass. Models compute with this namespace; ``Backend.xp`` stays the canonical one.
    """
    if not array_api_compat.is_numpy_namespace(xp):
        return xp
    ns = types.ModuleType(xp.__name__)  # a module: hashable, as array-api-compat's caches need
    ns.__dict__.update({k: getattr(xp, k) for k in dir(xp) if not k.startswith("__")})
    ns.__array_namespace_info__ = xp.__array_namespace_info__
    add, maximum = np.add.reduce, np.maximum.reduce

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return add(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return maximum(x, axis=axis, keepdims=keepdims)

    ns.sum, ns.max = sum, max
    return ns

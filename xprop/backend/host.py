"""Moving arrays between the host and backends, and the NumPy hot-path namespace."""

from __future__ import annotations

import functools
import types
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import dtype_name, scan_host
from xprop.backend.core import Backend, adapter_for, backend_of, device_str, resolve_backend


def is_array(x: Any) -> bool:
    return array_api_compat.is_array_api_obj(x)


def is_host_data(x: Any) -> bool:
    """NumPy arrays and plain Python data (lists, scalars): what entry points copy to a
    device, as opposed to arrays that already live on a backend and decide it."""
    return isinstance(x, np.ndarray) or not is_array(x)


def to_numpy(x: Any, copy: bool = False) -> np.ndarray:
    """Bring any array (or host data) to the host as a NumPy array.

    Parameters
    ----------
    x : array_like
        An array of any backend, or host data.
    copy : bool, default=False
        Always return a fresh array that shares no memory with ``x`` (otherwise a NumPy
        array comes back as is, and a device array may be a read-only view).

    Returns
    -------
    ndarray
        The values of ``x`` (copied from a device when needed).

    Examples
    --------
    >>> b = xprop.resolve_backend("array_api_strict")
    >>> xprop.to_numpy(b.from_host([1.0, 2.0]))
    array([1., 2.])
    >>> a = np.zeros(2)
    >>> xprop.to_numpy(a) is a, xprop.to_numpy(a, copy=True) is a
    (True, False)
    """
    if copy:
        return np.array(to_numpy(x), copy=True)
    if isinstance(x, np.ndarray):
        return x
    if is_array(x):
        return adapter_for(array_api_compat.array_namespace(x), like=x).to_host(x)
    return np.asarray(x)


def to_backend(x: Any, backend: str | Backend, device: Any = None, dtype: Any = None) -> Any:
    """Copy any array (or host data) to a backend and device, through the host.

    Values are unchanged; with ``dtype`` they are cast on the host first (a finite value
    beyond that dtype's range is an error, never an inf).

    Parameters
    ----------
    x : array_like
        An array of any backend, or host data.
    backend : str or Backend
        The target (as :func:`resolve_backend` takes it).
    device : object, default=None
        The device on that backend.
    dtype : str or dtype or None, default=None
        Cast to it on the host first.

    Returns
    -------
    array
        An array of the target backend.

    Raises
    ------
    BackendError
        For an unknown backend or device, or a dtype the device cannot hold.
    BackendUnavailableError
        When the backend cannot run here.
    ValueError
        When a finite value overflows ``dtype``.

    Examples
    --------
    >>> x = xprop.to_backend(np.arange(3), "array_api_strict", "device1", dtype="float32")
    >>> xprop.backend_of(x=x).describe(), xprop.to_numpy(x)
    ('array_api_strict (device device1)', array([0., 1., 2.], dtype=float32))
    """
    b = resolve_backend(backend, device)
    host = to_numpy(x)
    if dtype is not None and host.dtype.kind == "f":
        target = dtype_name(dtype, b.xp)
        with np.errstate(over="ignore"):
            cast = host.astype(target)
        overflow = np.isinf(cast) & np.isfinite(host)
        if np.any(overflow):
            raise ValueError(f"x: values up to {float(np.max(np.abs(host[overflow]))):.3g} "
                             f"overflow {target} (largest {float(np.finfo(target).max):.3g})")
        host = cast
    return b.from_host(host, dtype)


class HostArray:
    """A picklable host copy of a backend array that knows where it came from: the backend's
    name, device and dtype (what pickling and deep copies of models and optimizers store;
    :meth:`restore` copies it back there)."""

    def __init__(self, x: Any) -> None:
        be = backend_of(x=x)
        self.values = to_numpy(x, copy=True)
        self.backend, self.device = be.name, device_str(be.device)

    def target(self) -> Backend:
        """The backend and device the array came from."""
        return resolve_backend(self.backend, self.device)

    def restore(self) -> Any:
        """The array again, on its backend and device, with its values and dtype."""
        return self.target().from_host(self.values, self.values.dtype.name)


@functools.lru_cache(maxsize=8)
def fast_namespace(xp: Any) -> Any:
    """``xp`` itself, except for NumPy: a copy of ``array_api_compat.numpy`` whose ``sum`` and
    ``max`` call the ufunc reductions directly (``np.add.reduce``, ``np.maximum.reduce``) and
    whose ``take`` calls the array's method.

    Same dtypes and values as ``np.sum``/``np.max``/``np.take`` on ndarrays (they call the same
    reductions and method) without their Python wrappers, which cost about 2 us a call: a third
    of a small network's backward pass, and three gathers per minibatch. Models compute with
    this namespace; ``Backend.xp`` stays the canonical one.
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

    def take(x: Any, indices: Any, /, *, axis: Any = None) -> Any:
        if type(x) is np.ndarray:
            return x.take(indices, axis=axis)  # what np.take calls on an ndarray
        return xp.take(x, indices, axis=axis)

    ns.sum, ns.max, ns.take = sum, max, take
    return ns


# --------------------------------------------------------------------------- host-side data
def frozen(value: Any) -> Any:
    """A snapshot of ``value`` that compares (``==``, never an array's ambiguous truth) and
    hashes by content: arrays as ``(dtype, shape, bytes)`` of a host copy, lists and tuples
    as tuples and dicts as sorted items, both of snapshots; other values as they are."""
    if is_array(value):
        h = np.ascontiguousarray(to_numpy(value))
        return ("array", h.dtype.str, h.shape, h.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(k), frozen(v)) for k, v in value.items())))
    return value


def padded(rows: Any, length: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A host array of ``length`` entries of ``shape`` whose first ``len(rows)`` entries are
    ``rows`` and the rest zeros: fixed-shape inputs for a compiled function."""
    out = np.zeros((length, *shape), dtype)
    if len(rows):
        out[:len(rows)] = np.reshape(np.asarray(rows, dtype), (len(rows), -1, *shape[1:]))
    return out


def host_floats(values: Any) -> np.ndarray:
    """A float64 host copy of ``values`` (one read of a device array)."""
    return np.asarray(to_numpy(values), dtype=np.float64)


def in_dtype(dtype: str, *values: float) -> tuple[np.generic, ...]:
    """``values`` as NumPy scalars of ``dtype``: host arithmetic that rounds as the model's
    dtype does (a value beyond its range is inf, as there)."""
    with np.errstate(over="ignore"):
        return tuple(np.asarray(v, dtype)[()] for v in values)


def at_most_finite(value: float, dtype: str) -> float:
    """``value``, or ``dtype``'s largest finite number where it is larger: a finite option
    (early stopping's ``min_delta``) that must stay finite in the model's dtype."""
    return min(value, float(np.finfo(dtype).max))


def epoch_records(values: Any, k: int, hits_at: int | None, per: int, n: int
                  ) -> tuple[list[float], list[float], bool]:
    """``(mean losses, accuracies, finite)`` of ``k`` epochs, as Python floats, from one read
    of ``values`` = ``[summed losses (k), ..., hits (k, from hits_at), ..., finite check]``:
    the losses divided by ``per`` and the hits by ``n`` in float64 (what ``loss / per`` gives
    per number, in one pass); no hits: accuracies of 0. ``finite``: whether every loss and
    the last value (NaN when a parameter is not finite) are finite."""
    v = host_floats(values)
    finite = bool(np.isfinite(v[:k]).all() and np.isfinite(v[-1]))
    hits = (v[hits_at:hits_at + k] / n).tolist() if hits_at is not None else [0.0] * k
    return (v[:k] / per).tolist(), hits, finite


def is_memmap(x: Any) -> bool:
    """A NumPy memory-mapped array (``np.memmap``, ``np.load(path, mmap_mode=...)``)."""
    return isinstance(x, np.memmap)


def host_rows(X: Any, idx: Any) -> np.ndarray:
    """Rows ``idx`` (host indices, or a slice) of the host array ``X`` (or SciPy sparse
    matrix), read into memory as a dense array."""
    if not isinstance(X, np.ndarray):  # a sparse matrix: the rows, densified
        return X[idx].toarray()
    return X[idx] if isinstance(idx, slice) else np.take(X, idx, axis=0)


def host_matrix_problems(X: Any, target: str, transform: Any = None) -> str | None:
    """What is wrong with the values of the host matrix ``X`` (of ``transform(X)``, rows to
    float64 rows, when given: a standardisation) for a model of dtype ``target`` (NaN or
    inf, values that overflow the cast), read a block at a time
    (:func:`~xprop.backend.base.scan_host`); None when nothing is. Integer data is always
    fine untransformed."""
    if X.dtype.kind != "f" and transform is None:
        return None
    limit = float(np.finfo(target).max)
    source = np.float64 if transform is not None else X.dtype
    big, bad = scan_host(X, float(np.finfo(source).max) > limit, transform)  # narrowing
    if big > limit:
        return (f"values up to {big:.3g} overflow {target} (largest {limit:.3g}); use "
                "dtype='float64' or rescale the data")
    if bad:
        return f"expected finite values, found NaN or inf in {bad} of {X.size} entries"
    return None

"""The adapter interface: what xprop needs to know about one array library.

An :class:`Adapter` answers, for one library, the questions the rest of xprop must never ask by
name: is this namespace yours, how do I import you, what does a device spec mean, how do I wait
for queued work, how do I copy to the host, which float dtypes does a device have. Each library
is a subclass that overrides only what differs (the style of thinc's ``NumpyOps``/``CupyOps``).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, ClassVar

import array_api_compat
import numpy as np

from xprop.validation import show

FLOAT_DTYPES = ("float32", "float64")
HOST_BLOCK_BYTES = 1 << 24  # host data is checked this many bytes (of rows) at a time
GRAPHS_ENV = "XPROP_CUDA_GRAPHS"  # "0": never capture training steps in CUDA graphs


class BackendError(ValueError):
    """An unknown backend name, a bad device, or an unsupported dtype for a device.

    A ``ValueError``: the caller asked for something that does not exist.

    Examples
    --------
    >>> try:
    ...     xprop.resolve_backend("tensorflow")
    ... except xprop.BackendError as e:
    ...     print(e)
    backend: expected one of numpy, cupy, torch, array_api_strict, jax, auto, got 'tensorflow'
    """


class BackendUnavailableError(RuntimeError):
    """A backend that was asked for by name cannot run here (missing package or device).

    A ``RuntimeError``; its message says what is missing and how to install it.

    Examples
    --------
    >>> try:
    ...     reason = xprop.resolve_backend("cupy").describe()
    ... except xprop.BackendUnavailableError as e:  # no CuPy, or no working GPU, here
    ...     reason = str(e)
    >>> reason.startswith(("backend 'cupy' is unusable", "cupy"))
    True
    """


class DeviceMismatchError(ValueError):
    """Arrays from different namespaces or devices met in one call.

    A ``ValueError``: xprop never moves device data behind the caller's back; move it with
    :func:`xprop.to_backend` or the model with :meth:`xprop.MLP.to`.

    Examples
    --------
    >>> b = xprop.resolve_backend("array_api_strict")
    >>> try:
    ...     xprop.backend_of(X=b.from_host([1.0]), y=np.ones(1))
    ... except xprop.DeviceMismatchError as e:
    ...     print(e)
    y: arrays from two namespaces in one call: X is array_api_strict, y is numpy; move one ...
    """


_DTYPE_CACHE: dict[tuple, tuple] = {}


class Adapter:
    """One array library behind one interface. Subclasses set the class attributes and override
    the methods whose generic version (written against the Array API) does not fit."""

    name: ClassVar[str] = "?"
    #: the importable module whose ``__version__`` is reported
    package: ClassVar[str] = ""
    #: arrays can be updated in place, and slices and reshapes are views
    mutable: ClassVar[bool] = True
    #: root module names of this library's device objects (see :meth:`owns_device`)
    device_modules: ClassVar[tuple[str, ...]] = ()
    #: arrays record operations (an ONNX graph) instead of computing them: xprop exports
    #: models with this library (xprop.export); no model trains or predicts there
    records: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # ----------------------------------------------------------------- namespace
    def is_namespace(self, xp: Any) -> bool:
        """True when ``xp`` is this library's namespace (decided by array-api-compat)."""
        raise NotImplementedError

    def load_namespace(self) -> Any:
        """Import the namespace lazily; :class:`BackendUnavailableError` (with an install hint)
        when the library is missing or cannot run here."""
        raise NotImplementedError

    def version(self) -> str | None:
        """The library's version, or None when it does not import."""
        try:
            return getattr(importlib.import_module(self.package), "__version__", "?")
        except Exception:
            return None

    # ----------------------------------------------------------------- devices
    def parse_device(self, xp: Any, spec: Any) -> Any:
        """The device object for a user's spec (None for the default, an int, a string or a
        device object); :class:`BackendError` for a device that cannot exist."""
        return spec

    def devices(self, xp: Any) -> list[Any]:
        """Every device of this library that is usable here."""
        return list(xp.__array_namespace_info__().devices())

    def computes_on(self, device: Any) -> bool:
        """True when xprop computes on this device of the library (e.g. not torch's
        ``meta`` tensors, which hold no values)."""
        return True

    def traced(self, x: Any) -> bool:
        """True for a stand-in of an array inside a tracing transformation (JAX's ``jit``,
        ``grad``, ``vmap``): it has no values to check."""
        return False

    def owns_device(self, device: Any) -> bool:
        """True when ``device`` is one of this library's device objects."""
        return type(device).__module__.split(".")[0] in self.device_modules

    def device_str(self, device: Any) -> str:
        """A short readable name such as ``cpu``, ``cuda:0`` or ``device1``."""
        return str(device)

    def same_device(self, a: Any, b: Any) -> bool:
        return a == b or self.device_str(a) == self.device_str(b)

    def context(self, device: Any) -> Any:
        """A ``with`` block that makes ``device`` current (a no-op where nothing is current)."""
        return contextlib.nullcontext()

    def synchronize(self, device: Any, x: Any = None) -> None:
        """Wait for queued work on ``device`` (or for ``x`` to be computed); a no-op on host
        libraries."""

    # ----------------------------------------------------------------- kernels
    # Named operations that write into an existing array (a view into a gradient buffer) on
    # mutable libraries. The portable versions compute and assign; a library whose functions
    # take ``out=`` overrides them to skip the temporary. Tests check both agree.
    def matmul(self, a: Any, b: Any, xp: Any, out: Any = None) -> Any:
        """``a @ b``: a new array, or written into ``out`` (and returned)."""
        if out is None:
            return a @ b
        out[...] = a @ b
        return out

    def sum_rows(self, x: Any, xp: Any, out: Any = None) -> Any:
        """``sum(x, axis=0)``: a new array, or written into ``out`` (and returned)."""
        if out is None:
            return xp.sum(x, axis=0)
        out[...] = xp.sum(x, axis=0)
        return out

    # ----------------------------------------------------------------- compiled loops
    #: the library compiles whole functions (jit) with loops inside (see xprop.compiled)
    compiles: ClassVar[bool] = False

    def jit(self, fn: Any, *, small: bool = False) -> Any:
        """``fn`` compiled for this library's arrays (libraries that compile); ``small``:
        its arithmetic is tiny, so compile it to run on one thread. The compiled function
        also takes host (NumPy) arrays, which go to the device with the call (the per-call
        inputs of :mod:`xprop.compiled`: one batched transfer instead of one each)."""
        raise NotImplementedError(f"{self.name} does not compile functions")

    def fori_loop(self, lower: Any, upper: Any, body: Any, init: Any) -> Any:
        """``init`` through ``body(i, carry)`` for ``i`` in ``range(lower, upper)``, inside
        a compiled function; the bounds may be traced values."""
        carry = init
        for i in range(lower, upper):
            carry = body(i, carry)
        return carry

    def scan(self, body: Any, init: Any, xs: Any) -> Any:
        """``carry`` through ``body(carry, x)`` for each ``x`` along the first axis of the
        arrays in ``xs`` (a tuple): the final carry."""
        carry = init
        for i in range(xs[0].shape[0]):
            carry = body(carry, tuple(x[i, ...] for x in xs))
        return carry

    def can_capture(self, device: Any) -> bool:
        """Whether :meth:`capture` works on ``device`` (see xprop.captured)."""
        return False

    def capture(self, fn: Any, device: Any) -> Any:
        """Run ``fn()`` (work on fixed arrays, no host syncs) once for real, record the work
        it queues and return a function replaying the record with one launch (None when
        the recording failed: ``fn`` did run once)."""
        raise NotImplementedError(f"{self.name} cannot capture work")

    def set_at(self, x: Any, index: Any, value: Any) -> Any:
        """``x`` with ``x[index] = value``: in place where arrays are mutable, else a copy."""
        x[index] = value
        return x

    def affine(self, A: Any, W: Any, b: Any | None, xp: Any) -> Any:
        """``A @ W + b`` (``b`` None: no bias), a new array (the product by :meth:`matmul`)."""
        Z = self.matmul(A, W, xp)
        if b is not None:
            Z += b  # Z is our own temporary: in place where arrays allow, else rebound
        return Z

    def sub_scaled(self, p: Any, alpha: Any, g: Any, xp: Any) -> Any:
        """``p - alpha * g``: ``p`` itself, updated in place, where arrays are mutable; a new
        array elsewhere (xprop never writes into arrays it treats as immutable, so it keeps
        references to them as snapshots)."""
        if not self.mutable:
            return p - alpha * g
        p -= alpha * g
        return p

    def kernel(self, name: str) -> tuple[Any, Any] | None:
        """This library's own ``(forward(z, xp), backward(g, z, a, xp))`` for the named
        activation ``name`` (either may be None: the portable one), or None. A backward
        kernel may overwrite ``g``: backprop passes it the ``dA`` it just made."""
        return None

    def activation_functions(self, activations: tuple) -> tuple[tuple[Any, Any], ...]:
        """``(forward, backward)`` per activation: the library's kernels where it has them
        (see :meth:`kernel`), else the portable functions; resolved once per tuple of
        activations (an architecture's), so a pass pays one lookup."""
        try:
            resolved = self._resolved
        except AttributeError:
            resolved = self._resolved = {}
        hit = resolved.get(id(activations))
        if hit is None or hit[0] is not activations:
            if len(resolved) >= 64:  # many architectures (a search): start again
                resolved.clear()
            fns = []
            for act in activations:
                name = getattr(act, "named_operation", None)
                own = (self.kernel(name) if name else None) or (None, None)
                fns.append((own[0] or act.forward, own[1] or act.backward))
            hit = resolved[id(activations)] = (activations, tuple(fns))
        return hit[1]

    def plain(self, x: Any, name: str) -> Any:
        """``x`` (the argument ``name``) without library bookkeeping that training must not
        carry along (a torch tensor's autograd graph), or a ``TypeError`` for a layout the
        math does not take (a sparse tensor); ``x`` itself elsewhere."""
        return x

    # ----------------------------------------------------------------- collectives
    def device_allreduce(self, comm: Any, device: Any) -> Any:
        """A function summing an array in place over the ranks of the mpi4py communicator
        ``comm`` without leaving ``device`` (NCCL for CuPy), or None: then
        :mod:`xprop.distributed` reduces a host copy with MPI."""
        return None

    # ----------------------------------------------------------------- data
    def to_host(self, x: Any) -> np.ndarray:
        """The values of array ``x`` as a NumPy array (a view where the library allows)."""
        try:
            return np.asarray(x)
        except Exception:
            return np.from_dlpack(x)

    def from_host(self, xp: Any, host: np.ndarray, device: Any, dtype: Any = None) -> Any:
        """A copy of the NumPy array ``host`` on ``device`` (in ``dtype`` when given)."""
        kw = {} if dtype is None else {"dtype": dtype}
        return xp.asarray(host, device=device, copy=True, **kw)

    def supported_float_dtypes(self, xp: Any, device: Any) -> tuple[str, ...]:
        """The names in :data:`FLOAT_DTYPES` that ``device`` supports (asked once per device
        through the Array API inspection API; both when a library lacks it)."""
        key = (id(xp), self.device_str(device))
        cached = _DTYPE_CACHE.get(key)
        if cached is None:
            try:
                kinds = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
                cached = tuple(n for n in FLOAT_DTYPES if n in kinds)
            except Exception:  # libraries without the inspection API: assume both
                cached = FLOAT_DTYPES
            _DTYPE_CACHE[key] = cached
        return cached

    def argmax(self, x: Any, xp: Any) -> Any:
        """``argmax(x, axis=-1)``, in the namespace's index dtype."""
        return xp.argmax(x, axis=-1)

    def cache_elements(self, device: Any) -> int | None:
        """How many elements of a large stack one pass of elementwise work takes at a time
        to stay in the CPU's caches (the records of a chunk of epochs in :mod:`xprop.train`),
        or None: the whole stack at once (accelerators,
        where each operation's launch costs more than its memory traffic)."""
        return None

    def max_rows(self, x: Any, xp: Any) -> Any:
        """``max(x, axis=-1, keepdims=True)``: each row's maximum (softmax and its loss
        subtract it)."""
        return xp.max(x, axis=-1, keepdims=True)

    def wide_integers(self, xp: Any, device: Any) -> bool:
        """Whether ``device`` holds 64-bit integers (the inspection API's integral dtypes;
        array-api-strict's ``no_x64`` device does not; assumed when a library lacks it)."""
        key = (id(xp), self.device_str(device), "int64")
        cached = _DTYPE_CACHE.get(key)
        if cached is None:
            try:
                cached = ("int64" in xp.__array_namespace_info__().dtypes(device=device,
                                                                          kind="integral"),)
            except Exception:  # libraries without the inspection API
                cached = (True,)
            _DTYPE_CACHE[key] = cached
        return cached[0]

    def default_float_dtype(self, xp: Any, device: Any) -> str:
        """The name of the namespace's default real floating dtype on ``device`` (the Array
        API inspection API: float64 on NumPy and CuPy, ``torch.get_default_dtype()`` on
        torch, float32 on JAX without x64), or the first the device supports."""
        supported = self.supported_float_dtypes(xp, device)
        try:
            found = xp.__array_namespace_info__().default_dtypes(device=device)
            name = dtype_name(found["real floating"], xp)
        except Exception:  # libraries without the inspection API
            name = "float64"
        return name if name in supported else supported[0]

    def dtype_advice(self, dtype: str) -> str | None:
        """What to tell a user who asked for unsupported ``dtype`` (None: the generic advice)."""
        return None

    def info(self) -> dict[str, Any]:
        """Available or not (and why), version, devices."""
        version = self.version()
        try:
            xp = self.load_namespace()
        except BackendUnavailableError as e:
            return {"available": False, "version": version, "reason": str(e)}
        return {"available": True, "version": version,
                "devices": [self.device_str(d) for d in self.devices(xp)]}


class GenericAdapter(Adapter):
    """Another Array-API library, met as arrays passed in (dask, ndonnx, ...). Devices are taken
    as given; arrays are treated as immutable, since nothing proves otherwise."""

    mutable = False

    def __init__(self, name: str, xp: Any) -> None:
        self.name = name  # type: ignore[misc]
        self.package = name  # type: ignore[misc]
        self.xp = xp

    def is_namespace(self, xp: Any) -> bool:
        return xp is self.xp

    def load_namespace(self) -> Any:
        return self.xp

    def devices(self, xp: Any) -> list[Any]:
        try:
            return super().devices(xp)
        except Exception:
            return []


def dtype_name(dtype: Any, xp: Any = None) -> str:
    """``'float32'`` or ``'float64'`` for a name or a dtype object of any namespace."""
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, (list, tuple, dict)) or (
            not isinstance(dtype, type) and array_api_compat.is_array_api_obj(dtype)):
        raise BackendError(f"dtype: expected one of {FLOAT_DTYPES} (a name or a dtype), got "
                           f"{show(dtype)}")
    else:
        name = ""
        for cand in FLOAT_DTYPES:
            if xp is not None and dtype == getattr(xp, cand, None):
                name = cand
                break
            text = str(dtype).removesuffix("'>")
            if text.rsplit(".", 1)[-1] == cand:
                name = cand  # numpy.float32, torch.float32, <class 'jax.numpy.float32'>
                break
        name = name or str(dtype)
    if name not in FLOAT_DTYPES:
        raise BackendError(f"dtype: expected one of {FLOAT_DTYPES}, got {show(dtype)}")
    return name


def scan_host(x: np.ndarray, magnitude: bool = True,
              transform: Any = None) -> tuple[float, int]:
    """``(largest finite |value|, number of NaN and inf)`` of the floating host array ``x``
    (a memory-mapped one too), or of ``transform(x)`` (rows to rows: a standardisation),
    read :data:`HOST_BLOCK_BYTES` of rows at a time, so no temporary is the size of the
    data; the magnitude is 0 unless ``magnitude``."""
    rows = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    step = max(1, HOST_BLOCK_BYTES // max(1, rows.shape[1] * x.itemsize))
    big, bad = 0.0, 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for s in range(0, rows.shape[0], step):
            block = np.asarray(rows[s:s + step])
            if transform is not None:
                block = transform(block)
            finite = np.isfinite(block)
            bad += block.size - int(np.count_nonzero(finite))
            if magnitude:
                big = max(big, float(np.max(np.abs(block), where=finite, initial=0.0)))
    return big, bad

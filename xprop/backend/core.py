"""The adapter registry and the :class:`Backend` (a namespace bound to a device): resolving
names, the ``use_backend`` context, and reading the backend off arrays."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import array_api_compat.numpy
import numpy as np

from xprop.backend.base import (
    FLOAT_DTYPES,
    Adapter,
    BackendError,
    DeviceMismatchError,
    GenericAdapter,
    dtype_name,
    scan_host,
)
from xprop.backend.cupy_ import CupyAdapter, probe_cupy
from xprop.backend.jax_ import JaxAdapter
from xprop.backend.ndonnx_ import NdonnxAdapter
from xprop.backend.numpy_ import NumpyAdapter
from xprop.backend.strict import StrictAdapter
from xprop.backend.torch_ import TorchAdapter
from xprop.validation import check_model, show

#: The registry: backend name -> adapter. The only place a library gets a name.
ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (NumpyAdapter(), CupyAdapter(), TorchAdapter(), StrictAdapter(), JaxAdapter(),
              NdonnxAdapter())
}
AUTO = "auto"
#: the names a model's backend can have (a recording library, ndonnx, only exports)
BACKEND_NAMES = (*(name for name, a in ADAPTERS.items() if not a.records), AUTO)
ENV_VAR = "XPROP_BACKEND"
DEFAULT = NumpyAdapter.name
HOST_XP = array_api_compat.numpy  # the namespace of host data staged by Backend.stage

log = logging.getLogger("xprop")
_context: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "xprop_backend", default=None
)
_last_auto_choice: dict[str, str] = {}


def adapter_for(xp: Any, like: Any = None) -> Adapter:
    """The registered adapter whose library ``xp`` is, else a :class:`GenericAdapter` named
    after the root module of ``like`` (an array) or of ``xp`` (e.g. ``dask``)."""
    for adapter in ADAPTERS.values():
        if adapter.is_namespace(xp):
            return adapter
    if like is not None:
        root = type(like).__module__
    else:
        root = getattr(xp, "__name__", repr(xp)).removeprefix("array_api_compat.")
    return GenericAdapter(root.split(".")[0], xp)


_BY_NAMESPACE: dict[int, tuple[Any, Adapter]] = {}  # id(xp) -> (xp kept alive, its adapter)


def adapter_of_namespace(xp: Any) -> Adapter:
    """:func:`adapter_for` remembered per namespace object (cheap enough for every step;
    namespaces need not be hashable)."""
    hit = _BY_NAMESPACE.get(id(xp))
    if hit is None or hit[0] is not xp:
        hit = _BY_NAMESPACE[id(xp)] = (xp, adapter_for(xp))
    return hit[1]


def device_str(device: Any) -> str:
    """A short readable name for any library's device object: ``cpu``, ``cuda:0``,
    ``device1``, ``cpu:0``."""
    for adapter in ADAPTERS.values():
        if adapter.owns_device(device):
            return adapter.device_str(device)
    return str(device)


def on_device(fn: Any = None, *, collective: bool = False) -> Any:
    """Decorate a function whose first argument is a model: it runs with the model's device
    current (``model.backend.context()``; what CuPy device N > 0 needs). ``collective``: the
    function checks its model itself, on every process together
    (:func:`xprop.distributed.fit_distributed`), so it is called with a non-model instead of
    raising here, on one process alone."""
    if fn is None:
        return functools.partial(on_device, collective=collective)

    @functools.wraps(fn)
    def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
        backend = getattr(model, "backend", None)
        if not isinstance(backend, Backend):
            if collective:
                return fn(model, *args, **kwargs)
            check_model(model)  # not a model: a one-line TypeError
        with backend.context():
            return fn(model, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- Backend


def _real_objects(x: Any, h: np.ndarray, name: str) -> np.ndarray:
    """An object array ``h`` (of ``x``) as float64 when it holds real numbers only, as
    scikit-learn reads it: a pandas frame or series whose columns are all numeric, bool,
    nullable or numeric categoricals (missing values NaN: refused by the finite checks,
    naming them), or Python and NumPy reals; else ``h`` itself (strings, dates, None, complex
    numbers: refused as not real numbers)."""
    dtypes = getattr(x, "dtypes", None)
    if dtypes is not None and hasattr(x, "to_numpy"):  # pandas
        kinds = [getattr(getattr(d, "categories", None), "dtype", d).kind
                 for d in (dtypes if hasattr(dtypes, "__iter__") else [dtypes])]
        if all(k in "biuf" for k in kinds):
            try:
                return x.to_numpy(dtype=np.float64, na_value=np.nan)
            except (ValueError, TypeError):
                return h
        return h
    if all(isinstance(v, numbers.Real) for v in h.flat):
        try:
            return h.astype(np.float64)
        except OverflowError:  # a Python int beyond float64's range
            raise ValueError(f"{name}: values overflow float64 (largest "
                             f"{np.finfo(np.float64).max:.3g}); rescale the data") from None
    return h

@dataclass(frozen=True)
class Backend:
    """An Array-API namespace bound to one device, with the adapter of its library.

    Made by :func:`resolve_backend` (from a name) or :func:`backend_of` (from arrays); every
    model has one (``model.backend``).

    Parameters
    ----------
    name : str
        A key of :data:`ADAPTERS` or the module name of another Array-API library that was
        passed in as arrays.
    xp : namespace
        The Array-API namespace.
    device : object
        The device, as the library names it.
    adapter : Adapter, optional
        Answers the library-specific questions (looked up from ``xp`` when not given).

    Examples
    --------
    >>> b = xprop.resolve_backend("numpy")
    >>> b
    Backend(name='numpy', device='cpu')
    >>> b.describe(), b.mutable, b.supported_float_dtypes()
    ('numpy (device cpu)', True, ('float32', 'float64'))
    """

    name: str
    xp: Any = field(repr=False)
    device: Any
    adapter: Adapter = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.adapter is None:
            object.__setattr__(self, "adapter", adapter_for(self.xp))

    @property
    def mutable(self) -> bool:
        """True when arrays can be updated in place (and slices and reshapes are views)."""
        return self.adapter.mutable

    def dtype(self, dtype: Any) -> Any:
        """The namespace's floating dtype for a name, checked against this device.

        Parameters
        ----------
        dtype : str or dtype or None
            ``"float32"``, ``"float64"`` or a dtype object; None gives the namespace's
            default real floating dtype on this device (:meth:`default_float_dtype`).

        Returns
        -------
        dtype
            The namespace's dtype object.

        Raises
        ------
        BackendError
            When this device does not support it.

        Examples
        --------
        >>> b = xprop.resolve_backend("array_api_strict:no_float64")
        >>> b.dtype("float32") == b.xp.float32
        True
        >>> b.dtype("float64")
        Traceback (most recent call last):
        ...
        xprop.backend.base.BackendError: dtype: float64 is not supported on array_api_strict ...
        """
        if dtype is None:
            return getattr(self.xp, self.default_float_dtype())
        name = dtype_name(dtype, self.xp)
        supported = self.supported_float_dtypes()
        if name not in supported:
            raise BackendError(
                f"dtype: {name} is not supported on {self.describe()} "
                f"(supported: {', '.join(supported)}); "
                + (self.adapter.dtype_advice(name) or "use dtype='float32' or another device")
            )
        return getattr(self.xp, name)

    def supported_float_dtypes(self) -> tuple[str, ...]:
        """The names of the floating dtypes this device supports.

        Returns
        -------
        tuple of str
            ``("float32", "float64")``, or ``("float32",)`` on devices without float64.

        Examples
        --------
        >>> xprop.resolve_backend("array_api_strict:no_float64").supported_float_dtypes()
        ('float32',)
        """
        return self.adapter.supported_float_dtypes(self.xp, self.device)

    def default_float_dtype(self) -> str:
        """The name of the namespace's default real floating dtype on this device.

        Returns
        -------
        str
            ``"float64"`` on NumPy and CuPy, ``torch.get_default_dtype()`` on torch,
            ``"float32"`` on JAX without x64 and on devices without float64.

        Examples
        --------
        >>> xprop.resolve_backend("numpy").default_float_dtype()
        'float64'
        """
        return self.adapter.default_float_dtype(self.xp, self.device)

    def from_host(self, host: Any, dtype: Any | None = None) -> Any:
        """Copy host data (a NumPy array or nested sequence) onto this backend's device.

        With ``dtype`` the cast happens on the host first, so float64 draws cast to float32 give
        the same bits on every backend. Floating data arrives in exactly the dtype asked for,
        or this raises (JAX without x64 would silently give float32).

        Parameters
        ----------
        host : array_like
            Host data.
        dtype : str or dtype or None, default=None
            Cast to it on the host first (None keeps the data's dtype).

        Returns
        -------
        array
            An array of this namespace on this device.

        Raises
        ------
        BackendError
            When floating data of a dtype the device does not support would arrive.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> x = b.from_host([[1, 2]], "float32")
        >>> b.owns(x), xprop.to_numpy(x).dtype.name
        (True, 'float32')
        """
        h = np.asarray(host)
        if dtype is not None:
            h = h.astype(dtype_name(dtype, self.xp), copy=False)
        if h.dtype.kind == "f" and h.dtype.name not in self.supported_float_dtypes():
            raise BackendError(
                f"dtype: {h.dtype.name} data cannot go to {self.describe()}, which supports "
                f"{', '.join(self.supported_float_dtypes())}; "
                + (self.adapter.dtype_advice(h.dtype.name) or "pass dtype='float32'")
            )
        if h.dtype.kind in "iu" and h.dtype.itemsize > 4 and not self.adapter.wide_integers(
                self.xp, self.device):
            h = self._narrowed(h)
        # floating data names its dtype (array-api-strict on NumPy 1.26 would give float64)
        kw = {"dtype": getattr(self.xp, h.dtype.name)} if h.dtype.kind == "f" else {}
        x = self.adapter.from_host(self.xp, h, self.device, kw.get("dtype"))
        if h.dtype.kind == "f" and x.dtype != getattr(self.xp, h.dtype.name):
            raise BackendError(
                f"dtype: {h.dtype.name} data became {x.dtype} on {self.describe()}; "
                + (self.adapter.dtype_advice(h.dtype.name) or "pass dtype='float32'")
            )
        return x

    def _narrowed(self, h: np.ndarray) -> np.ndarray:
        """64-bit integers for a device without them (JAX without x64, which would wrap them
        silently): as 32-bit integers when every value fits (row indices, labels), else
        :class:`BackendError`."""
        target = np.dtype(np.int32 if h.dtype.kind == "i" else np.uint32)
        limits = np.iinfo(target)
        if h.size and (h.min() < limits.min or h.max() > limits.max):
            raise BackendError(
                f"values: {h.dtype.name} data from {h.min()} to {h.max()} does not fit "
                f"{target.name} on {self.describe()}, which has no 64-bit integers"
                + ("; " + advice if (advice := self.adapter.dtype_advice("int64")) else ""))
        return h.astype(target)

    def accept(self, x: Any, name: str, dtype: Any | None = None, *,
               float_dtype: Any | None = None) -> Any:
        """Convert user data at an entry point to this backend, once.

        Arrays of this namespace and device are kept (cast to ``dtype`` if given, which copies
        only when the dtype differs); host data (NumPy arrays, nested sequences) is copied to the
        device once. Arrays of another namespace or device are refused: xprop never moves
        device data behind the caller's back.

        Parameters
        ----------
        x : array_like
            User data.
        name : str
            The argument's name, for errors.
        dtype : str or dtype or None, default=None
            Cast to it (None keeps the dtype; non-standard floats become float64).
        float_dtype : str or dtype or None, default=None
            Cast floating host data only (integer labels keep their type).

        Returns
        -------
        array
            An array of this backend.

        Raises
        ------
        DeviceMismatchError
            For an array of another namespace or device.
        TypeError
            For non-numeric data.
        ValueError
            For ragged data, or values that overflow ``dtype``.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> xprop.to_numpy(b.accept([1, 2], "y", "float64"))
        array([1., 2.])
        >>> b.accept(["a"], "y")
        Traceback (most recent call last):
        ...
        TypeError: y: expected real numbers, got dtype <U1
        """
        x, on_host = self._stage(x, name, dtype, float_dtype)
        return self.from_host(x) if on_host else x

    def stage(self, x: Any, name: str, dtype: Any | None = None, *,
              float_dtype: Any | None = None) -> tuple[Any, Any]:
        """Check user data as :meth:`accept` does, without the copy to the device.

        Host data stays on the host, as a NumPy array already cast and checked as ``accept``
        would (namespace ``array_api_compat.numpy``); arrays of this backend are returned as
        ``accept`` returns them, with this backend's namespace. Entry points check the values
        of host data there, before anything reaches the device (on JAX every eager check is a
        dispatch and a device read of ~20 us), then move it with :meth:`place`.

        Parameters
        ----------
        x : array_like
            User data.
        name : str
            The argument's name, for errors.
        dtype : str or dtype or None, default=None
            Cast to it, as :meth:`accept`.
        float_dtype : str or dtype or None, default=None
            Cast floating host data only, as :meth:`accept`.

        Returns
        -------
        array : array
            A NumPy array (host data) or an array of this backend.
        namespace : namespace
            ``array_api_compat.numpy`` for host data, else this backend's namespace.

        Raises
        ------
        DeviceMismatchError
            For an array of another namespace or device.
        TypeError
            For non-numeric data.
        ValueError
            For ragged data, or values that overflow ``dtype``.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> x, xq = b.stage([1, 2], "X", "float64")
        >>> type(x).__name__, xq.__name__
        ('ndarray', 'array_api_compat.numpy')
        >>> b.owns(b.place(x))
        True
        """
        x, on_host = self._stage(x, name, dtype, float_dtype)
        return x, (HOST_XP if on_host else self.xp)

    def place(self, x: Any) -> Any:
        """Move an array from :meth:`stage` to this backend's device.

        ``stage`` returns this backend's arrays or NumPy ones, so only NumPy arrays need a
        look.

        Parameters
        ----------
        x : array or None
            What :meth:`stage` returned (None stays None).

        Returns
        -------
        array or None
            An array of this backend.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> b.owns(b.place(np.ones(2))), b.place(None)
        (True, None)
        """
        if x is None or not isinstance(x, np.ndarray) or self.owns(x):
            return x
        return self.from_host(x)

    def _stage(self, x: Any, name: str, dtype: Any | None,
               float_dtype: Any | None) -> tuple[Any, bool]:
        """``(array, on_host)``: an array of this backend, or a NumPy array cast to
        ``dtype`` (or floating data to ``float_dtype``) for it."""
        if isinstance(x, np.ndarray) and type(x) is not np.ndarray \
                and not isinstance(x, np.memmap):
            if isinstance(x, np.ma.MaskedArray):  # its mask would be dropped
                raise TypeError(f"{name}: expected an array without a mask, got a masked "
                                f"array; fill or drop the masked entries first "
                                f"({name}.filled(value) or {name}.compressed())")
            x = np.asarray(x)  # np.matrix (whose * is a matrix product): a plain ndarray
        if isinstance(x, np.ndarray) and x.dtype == object:  # reals only, as float64
            x = _real_objects(x, x, name)
        if self.owns(x):
            x = self.adapter.plain(x, name)  # e.g. a torch tensor's values, no autograd
            if not self.xp.isdtype(x.dtype, ("real floating", "integral", "bool")):
                raise TypeError(f"{name}: expected real numbers, got dtype {x.dtype}")
            if dtype is not None and x.dtype != dtype:
                if not self.xp.isdtype(x.dtype, "bool"):
                    self._check_fits(x, dtype, name)
                return self.xp.astype(x, dtype), False
            return x, False
        self.check_place(x, name)
        if x is None or hasattr(x, "tocsr"):  # nothing, or a SciPy sparse matrix
            raise TypeError(f"{name}: expected an array of real numbers, got "
                            + ("None" if x is None else f"a SciPy sparse {type(x).__name__} "
                               f"(pass {name}.toarray(); xprop.sklearn takes sparse input)"))
        try:
            h = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: expected a rectangular array of numbers ({e})") from None
        if h.dtype == object:
            h = _real_objects(x, h, name)
        if h.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected real numbers, got dtype {h.dtype}")
        if dtype is None and h.dtype.kind == "f":
            if float_dtype is not None:
                dtype = float_dtype
            elif h.dtype.name not in FLOAT_DTYPES:
                h = h.astype(np.float64)
        if dtype is not None and h.dtype.kind in "fiu":
            self._check_fits(h, dtype, name)
        if dtype is not None:
            h = h.astype(dtype_name(dtype, self.xp), copy=False)
        return h, True

    def check_place(self, x: Any, name: str) -> None:
        """Refuse an array of another namespace or device.

        Host data (NumPy arrays, Python data) and this backend's arrays pass: nothing moves
        between libraries or devices unasked.

        Parameters
        ----------
        x : object
            An array, host data or None.
        name : str
            The argument's name, for the error.

        Raises
        ------
        DeviceMismatchError
            For another library's array, or this library's on another device.

        Examples
        --------
        >>> b = xprop.resolve_backend("array_api_strict", "device1")
        >>> b.check_place([1.0], "y")  # host data: copied when staged
        >>> other = xprop.resolve_backend("array_api_strict").from_host([1.0])
        >>> b.check_place(other, "y")
        Traceback (most recent call last):
        ...
        xprop.backend.base.DeviceMismatchError: y: expected an array on array_api_strict (device
        device1) or host data, got an array on array_api_strict (device CPU_DEVICE); ...
        """
        if isinstance(x, np.ndarray) or not array_api_compat.is_array_api_obj(x) \
                or self.owns(x):
            return
        other = backend_of(**{name: x})
        here = self.adapter.device_str(self.device)
        there = other.adapter.device_str(other.device)
        try:  # the model can move there only if xprop runs on that device
            other.adapter.parse_device(other.xp, there)
            model_there = f" or move the model with model.to({other.name!r}, device={there!r})"
        except BackendError:
            model_there = ""
        raise DeviceMismatchError(
            f"{name}: expected an array on {self.describe()} or host data, got an "
            f"array on {other.describe()}; move it with xprop.to_backend({name}, "
            f"{self.name!r}, device={here!r}){model_there}"
        )

    def _check_fits(self, x: Any, dtype: Any, name: str) -> None:
        """Refuse finite values that a cast to floating ``dtype`` would turn into inf. Only
        a narrowing float cast can (integers fit float32); host data is read a block at a
        time, so the check holds no temporary the size of the data."""
        target = dtype_name(dtype, self.xp)
        if target not in FLOAT_DTYPES or x.size == 0:
            return
        limit = float(np.finfo(target).max)
        if isinstance(x, np.ndarray):  # host data (NumPy 1.x has no isdtype)
            if x.dtype.kind != "f" or float(np.finfo(x.dtype).max) <= limit:
                return
            big = scan_host(x)[0]
        else:
            xp = self.xp
            if not xp.isdtype(x.dtype, "real floating") or \
                    float(xp.finfo(x.dtype).max) <= limit:
                return
            big = float(xp.max(xp.where(xp.isfinite(x), xp.abs(x), 0)))
        if big > limit:
            raise ValueError(f"{name}: values up to {big:.3g} overflow {target} (largest "
                             f"{limit:.3g}); use dtype='float64' or rescale the data")

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is an array of this namespace on this device.

        Parameters
        ----------
        x : object
            Anything.

        Returns
        -------
        bool
            True for an array of this namespace on this device.

        Examples
        --------
        >>> strict = xprop.resolve_backend("array_api_strict")
        >>> x = strict.from_host([1.0])
        >>> strict.owns(x), xprop.resolve_backend("array_api_strict:device1").owns(x)
        (True, False)
        >>> strict.owns([1.0])
        False
        """
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError:
            return False
        return xp is self.xp and self.adapter.same_device(array_api_compat.device(x),
                                                          self.device)

    def context(self) -> Any:
        """A ``with`` block that makes this backend's device current.

        CuPy runs kernels on the current device, JAX creates arrays there; a no-op elsewhere.
        xprop's entry points use it.

        Returns
        -------
        context manager
            Enter it with ``with``.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> with b.context():
        ...     x = b.xp.ones(2)
        >>> xprop.to_numpy(x)
        array([1., 1.])
        """
        return self.adapter.context(self.device)

    def synchronize(self, x: Any = None) -> None:
        """Wait for queued device work (used by benchmarks).

        A no-op on host backends.

        Parameters
        ----------
        x : array, optional
            On JAX, the array whose computation to wait for.

        Examples
        --------
        >>> b = xprop.resolve_backend()
        >>> b.synchronize(b.xp.ones(2))  # returns when the work is done
        """
        self.adapter.synchronize(self.device, x)

    def describe(self) -> str:
        """The backend and device in words, as messages and reports name them.

        Returns
        -------
        str
            ``"name (device DEVICE)"``.

        Examples
        --------
        >>> xprop.resolve_backend("array_api_strict:device1").describe()
        'array_api_strict (device device1)'
        """
        return f"{self.name} (device {self.adapter.device_str(self.device)})"


# --------------------------------------------------------------------------- resolving


def _split(spec: str) -> tuple[str, str | None]:
    name, _, dev = spec.partition(":")
    return name.strip().lower().replace("-", "_"), (dev or None)


def auto_choice() -> tuple[str, str]:
    """What ``"auto"`` means: CuPy when a CUDA device really works, else NumPy."""
    probe = probe_cupy()
    return (CupyAdapter.name if probe.usable else DEFAULT), probe.reason


def resolve_backend(backend: str | Backend | None = None, device: Any = None) -> Backend:
    """Find the backend to use when no arrays decide.

    ``backend`` (``"name"`` or ``"name:device"``), else the innermost :func:`use_backend`,
    else ``$XPROP_BACKEND``, else ``"numpy"``. ``"auto"`` is CuPy when a CUDA device really
    works (:func:`probe_cupy`), else NumPy.

    Parameters
    ----------
    backend : str or Backend or None, default=None
        ``numpy``, ``cupy``, ``torch``, ``array_api_strict``, ``jax`` or ``auto``,
        optionally with ``:device``; a :class:`Backend` is returned as is (or moved to
        ``device``).
    device : object, default=None
        The device: a name such as ``"cpu"`` or ``"cuda:0"``, an index, or the library's
        device object.

    Returns
    -------
    Backend
        The backend.

    Raises
    ------
    BackendError
        For an unknown name or device (naming ``$XPROP_BACKEND`` when it came from there).
    BackendUnavailableError
        When the backend cannot run here (saying what is missing).

    Examples
    --------
    >>> xprop.resolve_backend("numpy").describe()
    'numpy (device cpu)'
    >>> xprop.resolve_backend("array_api_strict", "device1").describe()
    'array_api_strict (device device1)'
    >>> with xprop.use_backend("array_api_strict"):
    ...     xprop.resolve_backend().name
    'array_api_strict'
    """
    if isinstance(backend, Backend):
        if device is not None and not backend.adapter.same_device(device, backend.device):
            return resolve_backend(backend.name, device)
        return backend
    if backend is None:
        ctx = _context.get()
        if ctx is not None:
            backend, ctx_device = ctx
            device = ctx_device if device is None else device
        elif os.environ.get(ENV_VAR):
            try:
                return resolve_backend(os.environ[ENV_VAR], device)
            except BackendError as e:  # say where the name came from
                raise BackendError(f"{ENV_VAR}={os.environ[ENV_VAR]}: {e}") from None
        else:
            backend = DEFAULT
    if not isinstance(backend, str):
        raise BackendError(
            f"backend: expected one of {', '.join(BACKEND_NAMES)} (a name), got {show(backend)}"
        )
    if isinstance(device, (list, tuple, dict, float, bool)) or (
            device is not None and getattr(device, "shape", None) is not None
            and not isinstance(device, type)):
        raise BackendError(f"device: expected a device (a name such as 'cpu' or 'cuda:0', an "
                           f"index, or the library's device object), got {show(device)}")
    name, spec_device = _split(backend)
    if spec_device is not None:
        if device is not None and str(device) != spec_device:
            raise BackendError(
                f"device: {backend!r} names device {spec_device!r} but device={device!r}"
            )
        device = spec_device
    if name == AUTO:
        name, why = auto_choice()
        if _last_auto_choice.get("backend") != name:
            log.info("xprop: backend 'auto' chose %s: %s", name, why)
        _last_auto_choice.update(backend=name, reason=why)
        if name == DEFAULT:
            device = None
    if name not in BACKEND_NAMES:
        why = f" ({name} records ONNX graphs: model.export_onnx uses it)" if name in ADAPTERS \
            else ""
        raise BackendError(
            f"backend: expected one of {', '.join(BACKEND_NAMES)}, got {show(backend)}{why}"
        )
    if device is None or isinstance(device, (str, int)):
        return _make_cached(name, None if device is None else str(device))
    return _make(name, device)


def _make(name: str, device: Any) -> Backend:
    adapter = ADAPTERS[name]
    xp = adapter.load_namespace()
    _check_api_version(name, xp)
    return Backend(name, xp, adapter.parse_device(xp, device), adapter)


#: the Array API standard xprop is written against (Python scalars as elementwise operands,
#: ``__array_namespace_info__``)
API_VERSION = "2024.12"


def _check_api_version(name: str, xp: Any) -> None:
    """A namespace that implements an older standard (array-api-strict can be set to one) is
    refused in one line, not deep inside a pass."""
    version = getattr(xp, "__array_api_version__", None)
    if isinstance(version, str) and version < API_VERSION:
        how = (f"; array_api_strict.set_array_api_strict_flags(api_version={API_VERSION!r})"
               if name == "array_api_strict" else "")
        raise BackendError(f"backend: xprop needs the {API_VERSION} Array API standard, "
                           f"{name} implements {version}{how}")


_make_cached = functools.lru_cache(maxsize=32)(_make)


@contextlib.contextmanager
def use_backend(backend: str, device: Any = None) -> Iterator[Backend]:
    """Make a backend (and device) the default inside a ``with`` block.

    Models made inside it (and host data given to estimators) go there unless arrays or an
    explicit ``backend=`` decide otherwise; blocks nest.

    Parameters
    ----------
    backend : str
        A backend name, optionally ``"name:device"`` (as :func:`resolve_backend`).
    device : object, default=None
        The device on that backend.

    Yields
    ------
    Backend
        The backend, resolved on entry (an unknown or unusable one fails at once).

    Raises
    ------
    BackendError
        For an unknown name or device.
    BackendUnavailableError
        When the backend cannot run here.

    Examples
    --------
    >>> with xprop.use_backend("array_api_strict", "device1") as backend:
    ...     model = xprop.MLP([2, 4, 1])  # built on array-api-strict's device1
    >>> model.backend.describe()
    'array_api_strict (device device1)'
    """
    chosen = resolve_backend(backend, device)  # fail early, inside the caller's frame
    token = _context.set((chosen.name, chosen.device))
    try:
        yield chosen
    finally:
        _context.reset(token)


def backend_of(**arrays: Any) -> Backend:
    """Find the backend of some arrays, which must share one namespace and device.

    Parameters
    ----------
    **arrays
        The arrays by name (the names are used in errors); None values are skipped.

    Returns
    -------
    Backend
        Their namespace and device.

    Raises
    ------
    DeviceMismatchError
        When they come from different namespaces or devices, or one is not an array.
    ValueError
        When no array is given.
    TypeError
        For a traced array (JAX's ``jit``, ``grad``, ``vmap``): it has no values.

    Examples
    --------
    >>> b = xprop.resolve_backend("array_api_strict", "device1")
    >>> xprop.backend_of(X=b.from_host([[1.0]]), y=None).describe()
    'array_api_strict (device device1)'
    """
    found: list[tuple[str, Any, Any, Any]] = []
    for arg, x in arrays.items():
        if x is None:
            continue
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError as e:
            raise DeviceMismatchError(
                f"{arg}: expected an array, got {type(x).__name__} ({e})"
            ) from None
        found.append((arg, xp, array_api_compat.device(x), x))
    if not found:
        raise ValueError("backend_of: no arrays given")
    arg0, xp0, dev0, x0 = found[0]
    adapter = adapter_for(xp0, like=x0)
    if adapter.traced(x0):
        raise TypeError(f"{arg0}: a traced {adapter.name} array (inside jit, grad or vmap): a "
                        "model's methods check the values they are given, which a trace has "
                        "not; trace xprop.network.forward and backward with model.params")
    if not adapter.computes_on(dev0):
        raise DeviceMismatchError(f"{arg0}: expected an array on a device xprop computes on, "
                                  f"got a {adapter.name} array on {adapter.device_str(dev0)}")
    for arg, xp, dev, x in found[1:]:
        if xp is not xp0:
            raise DeviceMismatchError(
                f"{arg}: arrays from two namespaces in one call: {arg0} is "
                f"{adapter.name}, {arg} is {adapter_for(xp, like=x).name}; "
                "move one with xprop.to_backend(...)"
            )
        if not adapter.same_device(dev, dev0):
            raise DeviceMismatchError(
                f"{arg}: arrays from two devices in one call: {arg0} is on "
                f"{adapter.device_str(dev0)}, {arg} is on {adapter.device_str(dev)}"
            )
    _check_api_version(adapter.name, xp0)
    return Backend(adapter.name, xp0, dev0, adapter)

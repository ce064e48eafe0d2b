"""Backend selection: the one module that knows backend names, devices and the host.

A :class:`Backend` is an Array-API namespace plus a device. It is chosen, in this order, by
the arrays a call is given (their namespace and device win, as in scikit-learn), an explicit
``backend=``/``device=`` argument, the innermost :func:`use_backend` block, the ``XPROP_BACKEND``
environment variable, and finally ``"numpy"``. ``"auto"`` means CuPy when a CUDA device really
works (see :func:`probe_cupy`), else NumPy. Nothing is probed at import time.

Everything else in xprop receives ``xp`` and ``device`` from here and never names a backend.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import logging
import os
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "DeviceMismatchError",
    "ProbeResult",
    "backend_info",
    "backend_of",
    "probe_cupy",
    "resolve_backend",
    "set_tf32",
    "to_backend",
    "to_numpy",
    "use_backend",
]

BACKEND_NAMES = ("numpy", "cupy", "torch", "array_api_strict", "auto")
ENV_VAR = "XPROP_BACKEND"
FLOAT_DTYPES = ("float32", "float64")
CUDA_INSTALL_HINT = (
    'install CuPy for your CUDA version: pip install "xprop[cuda12]" (CUDA 12) or '
    '"xprop[cuda13]" (CUDA 13); without a system CUDA toolkit add CuPy\'s [ctk] extra, '
    'e.g. pip install "cupy-cuda12x[ctk]"'
)

log = logging.getLogger("xprop")
_context: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "xprop_backend", default=None
)
_last_auto_choice: dict[str, str] = {}


class BackendError(ValueError):
    """An unknown backend name, a bad device, or an unsupported dtype for a device."""


class BackendUnavailableError(RuntimeError):
    """A backend that was asked for by name cannot run here (missing package or device)."""


class DeviceMismatchError(ValueError):
    """Arrays from different namespaces or devices met in one call."""


# --------------------------------------------------------------------------- Backend


@dataclass(frozen=True)
class Backend:
    """An Array-API namespace ``xp`` bound to one ``device``.

    ``name`` is one of ``numpy``, ``cupy``, ``torch``, ``array_api_strict`` or the module name
    of another Array-API library that was passed in as arrays.
    """

    name: str
    xp: Any = field(repr=False)
    device: Any

    def dtype(self, dtype: Any) -> Any:
        """The namespace's floating dtype for ``dtype`` (a name or dtype object), checked
        against what this device supports."""
        name = dtype_name(dtype, self.xp)
        if name not in self.supported_float_dtypes():
            raise BackendError(
                f"dtype: {name} is not supported on {self.describe()} "
                f"(supported: {', '.join(self.supported_float_dtypes())}); "
                "use dtype='float32' or another device"
            )
        return getattr(self.xp, name)

    def supported_float_dtypes(self) -> tuple[str, ...]:
        return _supported_float_dtypes(self.xp, self.device)

    def from_host(self, host: Any, dtype: Any | None = None) -> Any:
        """Copy host data (NumPy array or nested sequence) onto this backend's device.

        With ``dtype`` the cast happens on the host first, so float64 draws cast to float32 give
        the same bits on every backend.
        """
        h = np.asarray(host)
        if dtype is not None:
            h = h.astype(dtype_name(dtype, self.xp), copy=False)
        if h.dtype.kind == "f" and h.dtype.name not in self.supported_float_dtypes():
            raise BackendError(
                f"dtype: {h.dtype.name} data cannot go to {self.describe()}, which supports "
                f"{', '.join(self.supported_float_dtypes())}; pass dtype='float32'"
            )
        return self.xp.asarray(h, device=self.device, copy=True)

    def accept(self, x: Any, name: str, dtype: Any | None = None, *,
               float_dtype: Any | None = None) -> Any:
        """Entry-point conversion of user data ``x`` (argument ``name``) to this backend.

        Arrays of this namespace and device are kept (cast to ``dtype`` if given, which copies
        only when the dtype differs); host data (NumPy arrays, nested sequences) is copied to the
        device once. Arrays of another namespace or device are refused: xprop never moves
        device data behind the caller's back. ``float_dtype`` casts floating host data only
        (integer labels keep their type).
        """
        if self.owns(x):
            if dtype is not None and x.dtype != dtype:
                if not (self.xp.isdtype(x.dtype, ("real floating", "integral", "bool"))):
                    raise TypeError(f"{name}: expected real numbers, got dtype {x.dtype}")
                return self.xp.astype(x, dtype)
            return x
        if is_array(x) and not isinstance(x, np.ndarray):
            other = backend_of(**{name: x})
            raise DeviceMismatchError(
                f"{name}: expected an array on {self.describe()} or host data, got a "
                f"{other.describe()} array; move it with xprop.to_backend({name}, "
                f"{self.name!r}) or move the model with model.to({other.name!r})"
            )
        try:
            h = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: expected a rectangular array of numbers ({e})") from None
        if h.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected real numbers, got dtype {h.dtype}")
        if dtype is None and h.dtype.kind == "f":
            if float_dtype is not None:
                dtype = float_dtype
            elif h.dtype.name not in FLOAT_DTYPES:
                h = h.astype(np.float64)
        return self.from_host(h, dtype)

    def owns(self, x: Any) -> bool:
        """True when ``x`` is an array of this namespace on this device."""
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError:
            return False
        return xp is self.xp and _same_device(array_api_compat.device(x), self.device)

    def context(self) -> Any:
        """A ``with`` block that makes this backend's device current (CuPy runs kernels on the
        current device); a no-op elsewhere. xprop's entry points use it."""
        if self.name == "cupy":
            return self.device
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on host backends); used by benchmarks."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        return f"{self.name} (device {_device_str(self.device)})"


def _device_str(device: Any) -> str:
    if type(device).__name__ == "Device" and hasattr(device, "_device"):
        return str(device._device)  # array_api_strict.Device('device1') -> device1
    if type(device).__name__ == "Device" and hasattr(device, "id"):
        return f"cuda:{device.id}"  # cupy.cuda.Device
    return str(device)


def _same_device(a: Any, b: Any) -> bool:
    return a == b or _device_str(a) == _device_str(b)


def _supported_float_dtypes(xp: Any, device: Any) -> tuple[str, ...]:
    key = (id(xp), _device_str(device))
    cached = _DTYPE_CACHE.get(key)
    if cached is None:
        try:
            kinds = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
            cached = tuple(n for n in FLOAT_DTYPES if n in kinds)
        except Exception:  # libraries without the inspection API: assume both
            cached = FLOAT_DTYPES
        _DTYPE_CACHE[key] = cached
    return cached


_DTYPE_CACHE: dict[tuple[int, str], tuple[str, ...]] = {}


def dtype_name(dtype: Any, xp: Any = None) -> str:
    """``'float32'`` or ``'float64'`` for a name or a dtype object of any namespace."""
    if isinstance(dtype, str):
        name = dtype
    else:
        name = ""
        for cand in FLOAT_DTYPES:
            if xp is not None and dtype == getattr(xp, cand, None):
                name = cand
                break
            if str(dtype).rsplit(".", 1)[-1] == cand or str(dtype) == f"<class 'numpy.{cand}'>":
                name = cand
                break
        name = name or str(dtype)
    if name not in FLOAT_DTYPES:
        raise BackendError(f"dtype: expected one of {FLOAT_DTYPES}, got {dtype!r}")
    return name


# --------------------------------------------------------------------------- probing CuPy


@dataclass(frozen=True)
class ProbeResult:
    """Whether CuPy can really run here and, if not, the step that failed and why."""

    usable: bool
    reason: str
    version: str | None = None
    device_count: int = 0
    device_name: str | None = None


@functools.lru_cache(maxsize=1)
def probe_cupy() -> ProbeResult:
    """Check, once per process, that CuPy imports, sees a CUDA device, and runs a cuBLAS matmul
    and an NVRTC-compiled elementwise kernel with the right answer. Never raises."""
    try:
        cupy = importlib.import_module("cupy")
    except ModuleNotFoundError as e:
        return ProbeResult(False, f"CuPy is not installed ({e}); {CUDA_INSTALL_HINT}")
    except Exception as e:  # e.g. ImportError for a missing libcuda.so.1
        return ProbeResult(False, f"CuPy failed to import ({type(e).__name__}: {e})")
    version = getattr(cupy, "__version__", None)
    try:
        available = bool(cupy.cuda.is_available())
        count = cupy.cuda.runtime.getDeviceCount() if available else 0
    except Exception as e:
        available, count = False, 0
        reason = f"the CUDA driver or runtime failed ({type(e).__name__}: {e})"
    else:
        reason = (
            "no CUDA device is visible (cupy.cuda.is_available() is False: no NVIDIA driver, "
            "no GPU, or CUDA_VISIBLE_DEVICES hides them)"
        )
    if not available or count < 1:
        return ProbeResult(False, reason, version)
    try:
        a = cupy.arange(16, dtype=cupy.float32).reshape(4, 4)
        ok = float((a @ a)[0, 0]) == 56.0
    except Exception as e:
        return ProbeResult(
            False,
            f"cuBLAS could not run a matmul ({type(e).__name__}: {e}); "
            'install the CUDA libraries, e.g. pip install "cupy-cuda12x[ctk]"',
            version,
            count,
        )
    try:
        ok = ok and abs(float(cupy.exp(a)[0, 1]) - 2.718281828) < 1e-5
    except Exception as e:
        return ProbeResult(
            False,
            f"NVRTC could not compile an elementwise kernel ({type(e).__name__}: {e}); "
            'install the CUDA libraries, e.g. pip install "cupy-cuda12x[ctk]"',
            version,
            count,
        )
    if not ok:
        return ProbeResult(False, "the CUDA smoke computation gave a wrong answer", version, count)
    try:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        name = None
    return ProbeResult(True, f"CuPy {version} ran a matmul and a kernel on {name}", version,
                       count, name)


# --------------------------------------------------------------------------- resolving


def _split(spec: str) -> tuple[str, str | None]:
    name, _, dev = spec.partition(":")
    return name.strip().lower().replace("-", "_"), (dev or None)


def _namespace(name: str) -> Any:
    if name == "numpy":
        return importlib.import_module("array_api_compat.numpy")
    if name == "array_api_strict":
        try:
            return importlib.import_module("array_api_strict")
        except ImportError as e:
            raise BackendUnavailableError(
                f"backend 'array_api_strict' is not installed ({e}); "
                "pip install array-api-strict (it comes with xprop[test])"
            ) from e
    if name == "torch":
        try:
            importlib.import_module("torch")
        except ImportError as e:
            raise BackendUnavailableError(
                f"backend 'torch' is not installed ({e}); pip install torch"
            ) from e
        return importlib.import_module("array_api_compat.torch")
    if name == "cupy":
        probe = probe_cupy()
        if not probe.usable:
            raise BackendUnavailableError(f"backend 'cupy' is unusable: {probe.reason}")
        if _tf32_state.get("allowed") is None:
            set_tf32(os.environ.get(TF32_ENV, "") not in ("", "0"))
        return importlib.import_module("array_api_compat.cupy")
    raise BackendError(
        f"backend: expected one of {', '.join(BACKEND_NAMES)}, got {name!r}"
    )


TF32_ENV = "XPROP_ALLOW_TF32"
_tf32_state: dict[str, Any] = {}


def set_tf32(allowed: bool) -> str:
    """Choose how CuPy runs float32 matrix products: true float32 (``allowed=False``, xprop's
    default, needed for float32 parity with the CPU) or TensorFloat-32 tensor cores (faster on
    Ampere and newer, about 1e-3 relative error). ``XPROP_ALLOW_TF32=1`` opts in at start-up.
    Returns what was set, or why nothing could be."""
    try:
        cupy = importlib.import_module("cupy")
        linalg = importlib.import_module("cupy._core._routines_linalg")
        mode = linalg.COMPUTE_TYPE_TF32 if allowed else getattr(
            linalg, "COMPUTE_TYPE_FP32", linalg.COMPUTE_TYPE_PEDANTIC)
        linalg.set_compute_type(cupy.float32, mode)
    except Exception as e:  # CuPy missing or its internals moved: say so, never crash
        _tf32_state["allowed"] = None
        return f"CuPy matmul precision unchanged ({type(e).__name__}: {e})"
    _tf32_state["allowed"] = bool(allowed)
    return "TF32 tensor cores allowed" if allowed else "true float32 matmuls (TF32 off)"


def _device(name: str, xp: Any, device: Any) -> Any:
    """Turn a user's device spec (None, int, string or device object) into a device object."""
    if name == "numpy":
        if device not in (None, "cpu"):
            raise BackendError(f"device: numpy runs on 'cpu' only, got {device!r}")
        return "cpu"
    if name == "array_api_strict":
        names = [_device_str(d) for d in xp.__array_namespace_info__().devices()]
        if device is None:
            return xp.__array_namespace_info__().default_device()
        if not isinstance(device, str):
            if _device_str(device) in names:
                return device
            raise BackendError(f"device: expected one of {names}, got {device!r}")
        if device not in names:
            raise BackendError(f"device: expected one of {names}, got {device!r}")
        return xp.Device(device)
    if name == "torch":
        import torch

        dev = torch.device("cpu" if device is None else device)
        if dev.type == "cuda":
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            idx = dev.index or 0
            if idx >= n:
                raise BackendUnavailableError(
                    f"device: torch device {dev} does not exist ({n} CUDA device(s) visible)"
                )
        return dev
    if name == "cupy":
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        if device is None:
            idx = cupy.cuda.Device().id
        elif isinstance(device, cupy.cuda.Device):
            idx = device.id
        else:
            text = str(device).removeprefix("cuda:").removeprefix("cuda")
            try:
                idx = int(text or 0)
            except ValueError:
                raise BackendError(
                    f"device: expected a CUDA device index like 0 or 'cuda:1', got {device!r}"
                ) from None
        if not 0 <= idx < n:
            raise BackendError(
                f"device: CUDA device {idx} does not exist (expected 0..{n - 1}, "
                f"{n} device(s) visible)"
            )
        return cupy.cuda.Device(idx)
    return device


def resolve_backend(backend: str | Backend | None = None, device: Any = None) -> Backend:
    """The backend to use when no arrays decide: ``backend`` (``"name"`` or ``"name:device"``),
    else the innermost :func:`use_backend`, else ``$XPROP_BACKEND``, else ``"numpy"``.

    Raises :class:`BackendError` for unknown names or devices and
    :class:`BackendUnavailableError` (saying what is missing) for an unusable backend.
    """
    if isinstance(backend, Backend):
        if device is not None and not _same_device(device, backend.device):
            return resolve_backend(backend.name, device)
        return backend
    if backend is None:
        ctx = _context.get()
        if ctx is not None:
            backend, ctx_device = ctx
            device = ctx_device if device is None else device
        else:
            backend = os.environ.get(ENV_VAR) or "numpy"
    if not isinstance(backend, str):
        raise BackendError(
            f"backend: expected one of {', '.join(BACKEND_NAMES)} (a name), got {backend!r}"
        )
    name, spec_device = _split(backend)
    if spec_device is not None:
        if device is not None and str(device) != spec_device:
            raise BackendError(
                f"device: {backend!r} names device {spec_device!r} but device={device!r}"
            )
        device = spec_device
    if name == "auto":
        probe = probe_cupy()
        name = "cupy" if probe.usable else "numpy"
        why = probe.reason
        if _last_auto_choice.get("backend") != name:
            log.info("xprop: backend 'auto' chose %s: %s", name, why)
        _last_auto_choice.update(backend=name, reason=why)
        if name == "numpy":
            device = None
    if name not in BACKEND_NAMES:
        raise BackendError(
            f"backend: expected one of {', '.join(BACKEND_NAMES)}, got {backend!r}"
        )
    return _make(name, device)


@functools.lru_cache(maxsize=32)
def _make_cached(name: str, device_key: str | None) -> Backend:
    xp = _namespace(name)
    return Backend(name, xp, _device(name, xp, device_key))


def _make(name: str, device: Any) -> Backend:
    if device is None or isinstance(device, (str, int)):
        return _make_cached(name, None if device is None else str(device))
    xp = _namespace(name)
    return Backend(name, xp, _device(name, xp, device))


@contextlib.contextmanager
def use_backend(backend: str, device: Any = None) -> Iterator[Backend]:
    """Make ``backend`` (and ``device``) the default inside a ``with`` block.

    >>> with use_backend("array_api_strict"):
    ...     model = MLP([2, 4, 1])   # built on array-api-strict
    """
    chosen = resolve_backend(backend, device)  # fail early, inside the caller's frame
    token = _context.set((chosen.name, chosen.device))
    try:
        yield chosen
    finally:
        _context.reset(token)


def _name_of_namespace(xp: Any) -> str:
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if array_api_compat.is_torch_namespace(xp):
        return "torch"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return getattr(xp, "__name__", repr(xp)).split(".")[-1]


def backend_of(**arrays: Any) -> Backend:
    """The backend of the given arrays (keyword names are used in errors).

    Raises :class:`DeviceMismatchError` when they come from different namespaces or devices.
    """
    found: list[tuple[str, Any, Any]] = []
    for arg, x in arrays.items():
        if x is None:
            continue
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError as e:
            raise DeviceMismatchError(
                f"{arg}: expected an array, got {type(x).__name__} ({e})"
            ) from None
        found.append((arg, xp, array_api_compat.device(x)))
    if not found:
        raise ValueError("backend_of: no arrays given")
    arg0, xp0, dev0 = found[0]
    for arg, xp, dev in found[1:]:
        if xp is not xp0:
            raise DeviceMismatchError(
                f"{arg}: arrays from two namespaces in one call: {arg0} is "
                f"{_name_of_namespace(xp0)}, {arg} is {_name_of_namespace(xp)}; "
                "move one with xprop.to_backend(...)"
            )
        if not _same_device(dev, dev0):
            raise DeviceMismatchError(
                f"{arg}: arrays from two devices in one call: {arg0} is on "
                f"{_device_str(dev0)}, {arg} is on {_device_str(dev)}"
            )
    return Backend(_name_of_namespace(xp0), xp0, dev0)


# --------------------------------------------------------------------------- hot-path namespace


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
    ns = types.SimpleNamespace(**{k: getattr(xp, k) for k in dir(xp) if not k.startswith("__")})
    ns.__name__ = xp.__name__
    ns.__array_namespace_info__ = xp.__array_namespace_info__
    add, maximum = np.add.reduce, np.maximum.reduce

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        return add(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return maximum(x, axis=axis, keepdims=keepdims)

    ns.sum, ns.max = sum, max
    return ns


# --------------------------------------------------------------------------- moving arrays


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
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_array(x) and array_api_compat.is_array_api_strict_namespace(
        array_api_compat.array_namespace(x)
    ):
        import array_api_strict

        x = x.to_device(array_api_strict.Device("CPU_DEVICE"))
        return np.from_dlpack(x)
    return np.asarray(x)


def to_backend(x: Any, backend: str | Backend, device: Any = None, dtype: Any = None) -> Any:
    """Copy ``x`` (any array or host data) to ``backend``/``device``, through the host.

    Values are unchanged; with ``dtype`` they are cast on the host first.
    """
    b = resolve_backend(backend, device)
    return b.from_host(to_numpy(x), dtype)


# --------------------------------------------------------------------------- info


def _version(module: str) -> str | None:
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except Exception:
        return None


def backend_info() -> dict[str, Any]:
    """What each backend is (available, version, devices, or why it is unusable) and what
    ``auto`` chooses and why. Runs the CuPy probe."""
    info: dict[str, Any] = {
        "numpy": {"available": True, "version": np.__version__, "devices": ["cpu"]},
        "array_api_compat": {"version": array_api_compat.__version__},
    }
    for name in ("array_api_strict", "torch"):
        version = _version(name)
        entry: dict[str, Any] = {"available": version is not None, "version": version}
        if version is None:
            entry["reason"] = f"{name} is not installed"
        elif name == "array_api_strict":
            xp = _namespace(name)
            entry["devices"] = [_device_str(d) for d in xp.__array_namespace_info__().devices()]
        else:
            import torch

            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            entry["devices"] = ["cpu"] + [f"cuda:{i}" for i in range(n)]
        info[name] = entry
    probe = probe_cupy()
    info["cupy"] = {
        "available": probe.usable,
        "version": probe.version,
        "devices": [f"cuda:{i}" for i in range(probe.device_count)] if probe.usable else [],
        "reason": probe.reason,
    }
    if probe.usable:
        info["cupy"]["device_name"] = probe.device_name
        info["cupy"]["tf32"] = _tf32_state.get("allowed", False)
    info["auto"] = {
        "chooses": "cupy" if probe.usable else "numpy",
        "reason": probe.reason,
    }
    env = os.environ.get(ENV_VAR)
    info["default"] = {"backend": resolve_backend().name, "XPROP_BACKEND": env}
    return info

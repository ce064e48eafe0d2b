"""JAX (``jax.numpy``, compliant without a wrapper): immutable arrays, devices from
``jax.devices()``, and float64 only when ``jax_enable_x64`` is on (read at every call: without
it JAX silently turns float64 into float32)."""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import FLOAT_DTYPES, Adapter, BackendError, BackendUnavailableError
from xprop.validation import show

X64_ADVICE = (
    'float64 on JAX needs jax.config.update("jax_enable_x64", True) (or env JAX_ENABLE_X64=1) '
    "before arrays are made, or use dtype='float32'"
)
GPU_PLATFORMS = ("gpu", "cuda", "rocm")
PLATFORMS = ("cpu", "tpu", "metal", *GPU_PLATFORMS)


class JaxAdapter(Adapter):
    name = "jax"
    package = "jax"
    mutable = False
    device_modules = ("jaxlib", "jax")

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_jax_namespace(xp)

    def load_namespace(self) -> Any:
        try:
            importlib.import_module("jax")
            return importlib.import_module("jax.numpy")
        except ImportError as e:
            raise BackendUnavailableError(
                f'backend \'jax\' is not installed ({e}); pip install "jax[cpu]" '
                '(or "jax[cuda12]" for NVIDIA GPUs)'
            ) from e

    @staticmethod
    def _jax() -> Any:
        return importlib.import_module("jax")

    def traced(self, x: Any) -> bool:
        return isinstance(x, self._jax().core.Tracer)

    def parse_device(self, xp: Any, spec: Any) -> Any:
        """None (JAX's default device), an index into ``jax.devices()``, ``"cpu"``,
        ``"cpu:0"``, ``"gpu:0"``/``"cuda:0"`` (when a GPU exists) or a ``jax.Device``."""
        jax = self._jax()
        if spec is None:
            return jax.devices()[0]
        if isinstance(spec, jax.Device):
            return spec
        names = [self.device_str(d) for d in self.devices(xp)]
        platform, idx = self._split(spec)
        if platform is None:
            pool = jax.devices()
        elif platform in PLATFORMS:
            try:
                pool = jax.devices("gpu" if platform in GPU_PLATFORMS else platform)
            except RuntimeError:
                raise BackendUnavailableError(
                    f"device: jax has no {platform} device here (devices: {', '.join(names)})"
                ) from None
        else:
            pool = []  # not a JAX platform
        if idx is None or not 0 <= idx < len(pool):
            raise BackendError(f"device: expected one of {names} or an index, got {show(spec)}")
        return pool[idx]

    @staticmethod
    def _split(spec: Any) -> tuple[str | None, int | None]:
        """``0`` -> (None, 0); ``"cpu"`` -> ("cpu", 0); ``"cuda:1"`` -> ("cuda", 1)."""
        if isinstance(spec, int):
            return None, spec
        text = str(spec).strip().lower()
        if text.isdigit():
            return None, int(text)
        platform, _, index = text.partition(":")
        if not platform.isalpha():
            return None, None
        return platform, int(index) if index.isdigit() else (0 if not index else None)

    def devices(self, xp: Any) -> list[Any]:
        jax = self._jax()
        found = list(jax.devices())
        found += [d for d in jax.devices("cpu") if d not in found]
        return found

    def context(self, device: Any) -> Any:
        return self._jax().default_device(device)

    def synchronize(self, device: Any, x: Any = None) -> None:
        """JAX dispatches asynchronously: wait until ``x`` (an array or a tree of arrays) is
        computed. Without ``x`` there is nothing to wait on."""
        if x is not None:
            self._jax().block_until_ready(x)

    compiles = True

    def jit(self, fn: Any, *, small: bool = False) -> Any:
        # XLA:CPU hands every dot to Eigen's thread pool: for a tiny net that dispatch costs
        # more than the arithmetic (XOR: 1.5 us an epoch against 0.7 us on one thread)
        opts = {"xla_cpu_multi_thread_eigen": False} if small else None
        return self._jax().jit(fn, compiler_options=opts) if opts else self._jax().jit(fn)

    def fori_loop(self, lower: Any, upper: Any, body: Any, init: Any) -> Any:
        return self._jax().lax.fori_loop(lower, upper, body, init)

    def scan(self, body: Any, init: Any, xs: Any) -> Any:
        return self._jax().lax.scan(lambda c, x: (body(c, x), None), init, xs)[0]

    def set_at(self, x: Any, index: Any, value: Any) -> Any:
        return x.at[index].set(value)

    def from_host(self, xp: Any, host: np.ndarray, device: Any, dtype: Any = None) -> Any:
        # jax.device_put: about 30 us, against 270 us for jnp.asarray(..., device=). On the
        # CPU it may share the NumPy buffer, so it gets a copy of its own: the caller's
        # array stays the caller's (tests/test_backend.py::test_from_host_copies)
        x = self._jax().device_put(np.array(host, copy=True), device)
        return x if dtype is None or x.dtype == dtype else xp.astype(x, dtype)

    def to_host(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def x64(self) -> bool:
        return bool(self._jax().config.jax_enable_x64)

    def supported_float_dtypes(self, xp: Any, device: Any) -> tuple[str, ...]:
        return FLOAT_DTYPES if self.x64() else ("float32",)  # never cached: x64 can change

    def wide_integers(self, xp: Any, device: Any) -> bool:
        return self.x64()  # never cached: x64 can change

    def dtype_advice(self, dtype: str) -> str | None:
        if self.x64():
            return None
        if dtype == "int64":
            return ('int64 on JAX needs jax.config.update("jax_enable_x64", True) (or env '
                    "JAX_ENABLE_X64=1) before arrays are made")
        return X64_ADVICE if dtype == "float64" else None

    def info(self) -> dict[str, Any]:
        entry = super().info()
        if entry["available"]:
            entry["x64"] = self.x64()
        return entry

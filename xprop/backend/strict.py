"""array-api-strict: the reference implementation, with extra devices (``device1``,
``no_float64``, ...) that stand in for a GPU in the tests."""

from __future__ import annotations

import importlib
import re
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import Adapter, BackendError, BackendUnavailableError
from xprop.validation import show

_DEVICE_REPR = re.compile(r"Device\('([^']*)'\)")


class StrictAdapter(Adapter):
    name = "array_api_strict"
    package = "array_api_strict"
    device_modules = ("array_api_strict",)

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_array_api_strict_namespace(xp)

    def load_namespace(self) -> Any:
        try:
            return importlib.import_module("array_api_strict")
        except ImportError as e:
            raise BackendUnavailableError(
                f"backend 'array_api_strict' is not installed ({e}); "
                "pip install array-api-strict (it comes with xprop[test])"
            ) from e

    def parse_device(self, xp: Any, spec: Any) -> Any:
        names = [self.device_str(d) for d in self.devices(xp)]
        if spec is None:
            return xp.__array_namespace_info__().default_device()
        if not isinstance(spec, str):
            if self.device_str(spec) in names:
                return spec
            raise BackendError(f"device: expected one of {names}, got {show(spec)}")
        if spec not in names:
            raise BackendError(f"device: expected one of {names}, got {show(spec)}")
        return xp.Device(spec)

    def device_str(self, device: Any) -> str:
        m = _DEVICE_REPR.search(repr(device))  # array_api_strict.Device('device1') -> device1
        return m.group(1) if m else str(device)

    def argmax(self, x: Any, xp: Any) -> Any:
        """Where the device lacks 64-bit integers (``no_x64``), array-api-strict's own argmax
        fails (it makes int64 there): the first index of each row's maximum (a NaN counts
        as the maximum, as argmax takes it), in int32."""
        where = array_api_compat.device(x)
        if self.wide_integers(xp, where):
            return xp.argmax(x, axis=-1)
        top = (x == xp.max(x, axis=-1, keepdims=True)) | xp.isnan(x)
        index = xp.arange(x.shape[-1], dtype=xp.int32, device=where)
        return xp.min(xp.where(top, index, xp.asarray(x.shape[-1], dtype=xp.int32,
                                                      device=where)), axis=-1)

    def to_host(self, x: Any) -> np.ndarray:
        xp = array_api_compat.array_namespace(x)
        # asarray(device=...) rather than x.to_device: the latter fails on NumPy 1.26
        return np.from_dlpack(xp.asarray(x, device=xp.Device("CPU_DEVICE")))

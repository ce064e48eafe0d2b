"""``backend_info()``: what every registered backend is here, and what ``auto`` chooses."""

from __future__ import annotations

import os
from typing import Any

import array_api_compat

from xprop.backend.core import ADAPTERS, AUTO, ENV_VAR, auto_choice, resolve_backend


def backend_info() -> dict[str, Any]:
    """For each registered adapter: available or not (and why), version, devices (and
    library-specific facts: CuPy's GPU name and TF32, JAX's x64); then what ``auto`` chooses
    and why, and the default backend. Imports every installed library and runs the CuPy probe."""
    info: dict[str, Any] = {name: adapter.info() for name, adapter in ADAPTERS.items()}
    info["array_api_compat"] = {"version": array_api_compat.__version__}
    chooses, reason = auto_choice()
    info[AUTO] = {"chooses": chooses, "reason": reason}
    info["default"] = {"backend": resolve_backend().name, ENV_VAR: os.environ.get(ENV_VAR)}
    return info

"""``backend_info()``: what every registered backend is here, and what ``auto`` chooses."""

from __future__ import annotations

import os
from typing import Any

import array_api_compat

from xprop.backend.core import ADAPTERS, AUTO, ENV_VAR, auto_choice, resolve_backend


def backend_info() -> dict[str, Any]:
    """Describe every backend here: available or not (and why), version, devices.

    Imports every installed library and runs the CuPy probe (what ``xprop info`` prints).

    Returns
    -------
    dict
        For each registered adapter: ``available`` (and ``reason`` when not),
        ``version``, ``devices`` and library-specific facts (CuPy's GPU name and TF32,
        JAX's x64); ``array_api_compat``'s version; what ``auto`` ``chooses`` and why; and the
        ``default`` backend.

    Examples
    --------
    >>> info = xprop.backend_info()
    >>> info["numpy"]["available"], info["numpy"]["devices"]
    (True, ['cpu'])
    >>> sorted(info["auto"])
    ['chooses', 'reason']
    """
    info: dict[str, Any] = {name: adapter.info() for name, adapter in ADAPTERS.items()}
    info["array_api_compat"] = {"version": array_api_compat.__version__}
    chooses, reason = auto_choice()
    info[AUTO] = {"chooses": chooses, "reason": reason}
    info["default"] = {"backend": resolve_backend().name, ENV_VAR: os.environ.get(ENV_VAR)}
    return info

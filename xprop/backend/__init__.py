"""Backend selection: the one package that knows backend names, devices and the host.

A :class:`Backend` is an Array-API namespace plus a device plus the :class:`Adapter` of its
library. It is chosen, in this order, by the arrays a call is given (their namespace and device
win, as in scikit-learn), an explicit ``backend=``/``device=`` argument, the innermost
:func:`use_backend` block, the ``XPROP_BACKEND`` environment variable, and finally ``"numpy"``.
``"auto"`` means CuPy when a CUDA device really works (see :func:`probe_cupy`), else NumPy.
Nothing is imported or probed at import time beyond NumPy and array-api-compat.

Modules: ``base`` (the adapter interface, errors, dtype names), one adapter per library
(``numpy_``, ``strict``, ``torch_``, ``cupy_`` with the CUDA probe and TF32, ``jax_``, and
``ndonnx_``, whose arrays record ONNX graphs: xprop exports with it, no model lives there), ``core``
(the registry :data:`ADAPTERS`, :class:`Backend`, resolving), ``host`` (moving arrays) and
``info``. Everything else in xprop receives ``xp`` and ``device`` from here and never names a
backend: library differences are methods of the adapter.
"""

from xprop.backend.base import (
    FLOAT_DTYPES,
    Adapter,
    BackendError,
    BackendUnavailableError,
    DeviceMismatchError,
    GenericAdapter,
    dtype_name,
)
from xprop.backend.core import (
    ADAPTERS,
    BACKEND_NAMES,
    ENV_VAR,
    Backend,
    adapter_for,
    adapter_of_namespace,
    backend_of,
    device_str,
    resolve_backend,
    use_backend,
)
from xprop.backend.cupy_ import CUDA_INSTALL_HINT, TF32_ENV, ProbeResult, probe_cupy, set_tf32
from xprop.backend.host import (
    HostArray,
    fast_namespace,
    is_array,
    is_host_data,
    to_backend,
    to_numpy,
)
from xprop.backend.info import backend_info

__all__ = [
    "ADAPTERS",
    "BACKEND_NAMES",
    "CUDA_INSTALL_HINT",
    "ENV_VAR",
    "FLOAT_DTYPES",
    "TF32_ENV",
    "Adapter",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "DeviceMismatchError",
    "GenericAdapter",
    "HostArray",
    "ProbeResult",
    "adapter_for",
    "adapter_of_namespace",
    "backend_info",
    "backend_of",
    "device_str",
    "dtype_name",
    "fast_namespace",
    "is_array",
    "is_host_data",
    "probe_cupy",
    "resolve_backend",
    "set_tf32",
    "to_backend",
    "to_numpy",
    "use_backend",
]

"""CuPy on CUDA devices: the probe that proves CuPy really runs here, device specs like
``cuda:1``, and the float32 matmul precision (TF32 off unless asked)."""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import Adapter, BackendError, BackendUnavailableError
from xprop.validation import show

CUDA_INSTALL_HINT = (
    'install CuPy for your CUDA version: pip install "xprop[cuda12]" (CUDA 12) or '
    '"xprop[cuda13]" (CUDA 13); without a system CUDA toolkit add CuPy\'s [ctk] extra, '
    'e.g. pip install "cupy-cuda12x[ctk]"'
)
TF32_ENV = "XPROP_ALLOW_TF32"
_tf32_state: dict[str, Any] = {}


@dataclass(frozen=True)
class ProbeResult:
    """Whether CuPy can really run here and, if not, the step that failed and why.

    Parameters
    ----------
    usable : bool
        Whether CuPy imports, sees a CUDA device and computes right.
    reason : str
        Why not (or what was found).
    version : str or None, default=None
        CuPy's version, when it imports.
    device_count : int, default=0
        The number of CUDA devices seen.
    device_name : str or None, default=None
        The first device's name.

    Examples
    --------
    >>> probe = xprop.probe_cupy()
    >>> type(probe).__name__, isinstance(probe.usable, bool), bool(probe.reason)
    ('ProbeResult', True, True)
    """

    usable: bool
    reason: str
    version: str | None = None
    device_count: int = 0
    device_name: str | None = None


@functools.lru_cache(maxsize=1)
def probe_cupy() -> ProbeResult:
    """Check, once per process, that CuPy really runs here. Never raises.

    CuPy must import, see a CUDA device, and run a cuBLAS matmul and an NVRTC-compiled
    elementwise kernel with the right answer (what ``auto`` and the CUDA tests rely on).

    Returns
    -------
    ProbeResult
        ``usable`` and the ``reason`` (the failing step's error, or the GPU found).

    Examples
    --------
    >>> probe = xprop.probe_cupy()
    >>> probe.usable or "CuPy" in probe.reason or "CUDA" in probe.reason
    True
    """
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
    libs = 'install the CUDA libraries, e.g. pip install "cupy-cuda12x[ctk]"'
    try:
        a = cupy.arange(16, dtype=cupy.float32).reshape(4, 4)
        ok = float((a @ a)[0, 0]) == 56.0
    except Exception as e:
        return ProbeResult(False, f"cuBLAS could not run a matmul ({type(e).__name__}: {e}); "
                           + libs, version, count)
    try:
        ok = ok and abs(float(cupy.exp(a)[0, 1]) - 2.718281828) < 1e-5
    except Exception as e:
        return ProbeResult(False, "NVRTC could not compile an elementwise kernel "
                           f"({type(e).__name__}: {e}); " + libs, version, count)
    if not ok:
        return ProbeResult(False, "the CUDA smoke computation gave a wrong answer", version, count)
    try:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        name = None
    return ProbeResult(True, f"CuPy {version} ran a matmul and a kernel on {name}", version,
                       count, name)


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


class CupyAdapter(Adapter):
    name = "cupy"
    package = "cupy"
    device_modules = ("cupy",)

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_cupy_namespace(xp)

    def load_namespace(self) -> Any:
        probe = probe_cupy()
        if not probe.usable:
            raise BackendUnavailableError(f"backend 'cupy' is unusable: {probe.reason}")
        if _tf32_state.get("allowed") is None:
            set_tf32(os.environ.get(TF32_ENV, "") not in ("", "0"))
        return importlib.import_module("array_api_compat.cupy")

    def parse_device(self, xp: Any, spec: Any) -> Any:
        cupy = importlib.import_module("cupy")
        n = cupy.cuda.runtime.getDeviceCount()
        if spec is None:
            idx = cupy.cuda.Device().id
        elif isinstance(spec, cupy.cuda.Device):
            idx = spec.id
        else:
            text = str(spec).removeprefix("cuda:").removeprefix("cuda")
            try:
                idx = int(text or 0)
            except ValueError:
                raise BackendError(
                    f"device: expected a CUDA device index like 0 or 'cuda:1', got {show(spec)}"
                ) from None
        if not 0 <= idx < n:
            raise BackendError(
                f"device: CUDA device {idx} does not exist (expected 0..{n - 1}, "
                f"{n} device(s) visible)"
            )
        return cupy.cuda.Device(idx)

    def device_allreduce(self, comm: Any, device: Any) -> Any:
        """NCCL's all-reduce on this device (``cupy.cuda.nccl``), its unique id sent from rank
        0 with ``comm``; None when CuPy was built without NCCL. Not run on a GPU yet."""
        cupy = importlib.import_module("cupy")
        try:
            nccl = importlib.import_module("cupy.cuda.nccl")
        except ImportError:
            return None
        if not getattr(nccl, "available", False):  # the module imports without NCCL too
            return None
        uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
        with device:
            nc = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        kinds = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}

        def allreduce(x: Any) -> Any:
            with device:  # the stream of the communicator's device, whatever is current
                stream = cupy.cuda.get_current_stream().ptr
            nc.allReduce(x.data.ptr, x.data.ptr, x.size, kinds[x.dtype.name], nccl.NCCL_SUM,
                         stream)
            return x

        return allreduce

    def devices(self, xp: Any) -> list[Any]:
        cupy = importlib.import_module("cupy")
        return [cupy.cuda.Device(i) for i in range(probe_cupy().device_count)]

    def device_str(self, device: Any) -> str:
        return f"cuda:{device.id}" if hasattr(device, "id") else str(device)

    def context(self, device: Any) -> Any:
        return device  # a cupy.cuda.Device is a context manager: kernels run where it says

    def synchronize(self, device: Any, x: Any = None) -> None:
        cupy = importlib.import_module("cupy")
        with device:
            cupy.cuda.get_current_stream().synchronize()

    def to_host(self, x: Any) -> np.ndarray:
        return x.get()

    def info(self) -> dict[str, Any]:
        probe = probe_cupy()
        entry: dict[str, Any] = {
            "available": probe.usable,
            "version": probe.version,
            "devices": [f"cuda:{i}" for i in range(probe.device_count)] if probe.usable else [],
            "reason": probe.reason,
        }
        if probe.usable:
            entry["device_name"] = probe.device_name
            entry["tf32"] = _tf32_state.get("allowed", False)
        return entry

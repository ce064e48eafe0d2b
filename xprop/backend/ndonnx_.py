"""ndonnx: an Array-API namespace whose arrays record an ONNX graph instead of computing.

xprop exports a model by running its own forward pass and head on ndonnx arrays (see
:mod:`xprop.export`): the operations they record *are* the exported graph. Arrays are
immutable; constants carry their values (ndonnx propagates them), a graph input and what is
computed from it have none. Models never live here: the adapter :attr:`records`, so
``resolve_backend("ndonnx")`` is refused.
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import Adapter, BackendError, BackendUnavailableError
from xprop.validation import show

INSTALL_HINT = 'pip install "xprop[onnx]" (ndonnx, onnx and onnxruntime; Python >= 3.11)'
#: the ONNX operator set the adapter's own nodes come from: the one ndonnx 0.23 builds with
#: (MatMul, Add and Softmax are the same from opset 14 on)
OPSET = "spox.opset.ai.onnx.v21"


class NdonnxAdapter(Adapter):
    name = "ndonnx"
    package = "ndonnx"
    mutable = False
    records = True
    device_modules = ("ndonnx",)

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_ndonnx_namespace(xp)

    def load_namespace(self) -> Any:
        try:
            return importlib.import_module("ndonnx")
        except ImportError as e:
            raise BackendUnavailableError(
                f"ndonnx is not installed ({e}); it records ONNX graphs for export: "
                f"{INSTALL_HINT}") from e

    def parse_device(self, xp: Any, spec: Any) -> Any:
        """ndonnx has one device (the graph; whichever runtime runs it decides the rest)."""
        device = xp.__array_namespace_info__().default_device()
        if spec is not None and spec is not device and spec != "graph":
            raise BackendError(f"device: ndonnx has the one device 'graph', got {show(spec)}")
        return device

    def device_str(self, device: Any) -> str:
        return "graph"

    def to_host(self, x: Any) -> np.ndarray:
        """The values of a constant (or of what is computed from constants only)."""
        try:
            return np.asarray(x.unwrap_numpy())
        except ValueError:
            raise ValueError("x: an ndonnx array computed from a graph input has no values "
                             "until a runtime (onnxruntime) runs the exported graph") from None

    def from_host(self, xp: Any, host: np.ndarray, device: Any, dtype: Any = None) -> Any:
        """A constant of the graph holding a copy of ``host``."""
        return xp.asarray(np.array(host, copy=True), dtype=dtype)

    def affine(self, A: Any, W: Any, b: Any | None, xp: Any) -> Any:
        """``A @ W + b`` as one ONNX ``MatMul`` and one ``Add`` (which ONNX Runtime fuses).
        ndonnx's ``@`` hides every MatMul in an ``If`` over the operands' sizes (a guard for a
        runtime bug with zero-sized operands; ONNX Runtime 1.23 and 1.32 run a batch of 0 rows
        without it, tests/test_onnx.py): with the guard, the spirals classifier 2-64-64-3 took
        26.8 us per batch-1 call in ONNX Runtime against 17.5 us (one thread)."""
        if A.dtype != W.dtype or (b is not None and b.dtype != W.dtype):
            raise TypeError(f"affine: expected operands of one dtype, got {A.dtype} @ "
                            f"{W.dtype}" + ("" if b is None else f" + {b.dtype}"))
        op = importlib.import_module(OPSET)
        Z = op.matmul(A.unwrap_spox(), W.unwrap_spox())
        if b is not None:
            Z = op.add(Z, b.unwrap_spox())
        return xp.asarray(Z)

    def kernel(self, name: str) -> tuple[Any, Any] | None:
        """softmax as one ONNX ``Softmax`` over axis 1 (``exp(z - max z) / sum``, the
        formula of :func:`xprop.activations.softmax`). ndonnx records ``max`` with a NaN check
        and zero-size guards (two ``If`` nodes): the spirals classifier took 32.5 us per
        batch-1 call with them against 17.5 us (one thread)."""
        if name == "softmax":
            return self._softmax, None
        return None

    @staticmethod
    def _softmax(z: Any, xp: Any) -> Any:
        op = importlib.import_module(OPSET)
        return xp.asarray(op.softmax(z.unwrap_spox(), axis=1))

    def graph_input(self, xp: Any, shape: tuple[Any, ...], dtype: Any) -> Any:
        """An input of the graph: an array of ``shape`` (a string names a dimension whose
        size the runtime gets with the data) and ``dtype``, without values."""
        return xp.argument(shape=shape, dtype=dtype)

    def build(self, xp: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        """The ONNX ``ModelProto`` computing the named ``outputs`` from the named ``inputs``."""
        return xp.build(inputs, outputs)

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
#: (MatMul and Add are the same from opset 14 on)
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
        """``A @ W + b`` as one ONNX ``MatMul`` and one ``Add`` (which ONNX Runtime fuses into a
        ``Gemm``). ndonnx's ``@`` hides every MatMul in an ``If`` over the inputs' sizes (a
        guard for a runtime bug with zero-sized operands that ONNX Runtime 1.32 does not show:
        a batch of 0 rows runs, tests/test_onnx.py): with it, a spirals net's batch-1 latency
        was 1.4x this graph's."""
        if A.dtype != W.dtype or (b is not None and b.dtype != W.dtype):
            raise TypeError(f"affine: expected operands of one dtype, got {A.dtype} @ "
                            f"{W.dtype}" + ("" if b is None else f" + {b.dtype}"))
        op = importlib.import_module(OPSET)
        Z = op.matmul(A.unwrap_spox(), W.unwrap_spox())
        if b is not None:
            Z = op.add(Z, b.unwrap_spox())
        return xp.asarray(Z)

    def graph_input(self, xp: Any, shape: tuple[Any, ...], dtype: Any) -> Any:
        """An input of the graph: an array of ``shape`` (a string names a dimension whose
        size the runtime gets with the data) and ``dtype``, without values."""
        return xp.argument(shape=shape, dtype=dtype)

    def build(self, xp: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        """The ONNX ``ModelProto`` computing the named ``outputs`` from the named ``inputs``."""
        return xp.build(inputs, outputs)

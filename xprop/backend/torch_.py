"""PyTorch (through ``array_api_compat.torch``): ``cpu`` and ``cuda:N`` devices."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

import array_api_compat
import numpy as np

from xprop.backend.base import GRAPHS_ENV, Adapter, BackendError, BackendUnavailableError
from xprop.validation import show


class TorchAdapter(Adapter):
    name = "torch"
    package = "torch"
    device_modules = ("torch",)

    def is_namespace(self, xp: Any) -> bool:
        return array_api_compat.is_torch_namespace(xp)

    def load_namespace(self) -> Any:
        try:
            importlib.import_module("torch")
        except ImportError as e:
            raise BackendUnavailableError(
                f"backend 'torch' is not installed ({e}); pip install torch"
            ) from e
        return importlib.import_module("array_api_compat.torch")

    def parse_device(self, xp: Any, spec: Any) -> Any:
        torch = importlib.import_module("torch")
        try:
            dev = torch.device("cpu" if spec is None else spec)
        except (RuntimeError, TypeError, ValueError):  # torch's own words name no argument
            dev = None
        if dev is None or not self.computes_on(dev):  # meta, mps, xpu, ...: xprop runs
            raise BackendError(  # on CPU and CUDA devices
                f"device: expected 'cpu', 'cuda' or 'cuda:N' for torch, got {show(spec)}")
        if dev.type == "cpu":  # one CPU device: tensors on "cpu:0" say "cpu"
            return torch.device("cpu")
        if dev.type == "cuda":
            n = self._cuda_count(torch)
            if (dev.index or 0) >= n:
                raise BackendUnavailableError(
                    f"device: torch device {dev} does not exist ({n} CUDA device(s) visible)"
                )
            if dev.index is None:  # tensors say cuda:N, and device('cuda') != device('cuda:0');
                # the current device is 0 until CUDA is initialised (asking would initialise it)
                dev = torch.device("cuda", torch.cuda.current_device()
                                   if torch.cuda.is_initialized() else 0)
        return dev

    def devices(self, xp: Any) -> list[Any]:
        torch = importlib.import_module("torch")
        return [torch.device("cpu")] + [torch.device("cuda", i)
                                        for i in range(self._cuda_count(torch))]

    @staticmethod
    def _cuda_count(torch: Any) -> int:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def synchronize(self, device: Any, x: Any = None) -> None:
        if str(device).startswith("cuda"):
            importlib.import_module("torch").cuda.synchronize(device)

    def computes_on(self, device: Any) -> bool:
        return device.type in ("cpu", "cuda")

    def to_host(self, x: Any) -> np.ndarray:
        if x.device.type == "meta":  # torch's own error: "Cannot copy out of meta tensor"
            raise ValueError("expected a tensor with values, got one on torch's 'meta' device "
                             "(shapes and dtypes only)")
        x = x.detach().cpu()
        if x.dtype == sys.modules["torch"].bfloat16:  # NumPy has no bfloat16: float32 holds
            x = x.float()  # every bfloat16 value exactly
        return x.numpy()

    def plain(self, x: Any, name: str) -> Any:
        if x.layout != sys.modules["torch"].strided:
            raise TypeError(f"{name}: expected a dense tensor, got a {x.layout} one; pass "
                            f"{name}.to_dense()")
        return x.detach() if x.requires_grad else x

    def affine(self, A: Any, W: Any, b: Any | None, xp: Any) -> Any:
        if b is None:
            return A @ W
        if A.is_cuda:  # one kernel: the bias is the GEMM's C operand (cuBLAS epilogue)
            return sys.modules["torch"].addmm(b, A, W)
        Z = A @ W  # on the CPU addmm first copies the broadcast bias into the output: slower
        return Z.add_(b)

    def sub_scaled(self, p: Any, alpha: Any, g: Any, xp: Any) -> Any:
        if isinstance(alpha, (int, float)):
            return p.sub_(g, alpha=alpha)  # one pass, no temporary
        return p.sub_(alpha * g)  # a 0-d tensor (a captured step's learning rate)

    def can_capture(self, device: Any) -> bool:
        return str(device).startswith("cuda") and os.environ.get(GRAPHS_ENV, "1") != "0"

    def capture(self, fn: Any, device: Any) -> Any:
        """A CUDA graph of ``fn`` (``torch.cuda.graph``: a side stream and a private memory
        pool); ``fn`` runs once for real first, on that side stream."""
        torch = sys.modules["torch"]
        with torch.cuda.device(device):
            side = torch.cuda.Stream(device)  # warm-up and capture on one stream, as the
            side.wait_stream(torch.cuda.current_stream(device))  # torch.cuda.graph docs do:
            with torch.cuda.stream(side):  # cuBLAS workspaces are made per stream, lazily
                fn()
            torch.cuda.current_stream(device).wait_stream(side)
            torch.cuda.synchronize(device)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph, stream=side):
                    fn()
            except Exception as e:  # the step ran; it just cannot be replayed
                warnings.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); "
                              f"training goes on uncaptured (set {GRAPHS_ENV}=0 to skip the "
                              "attempt)", RuntimeWarning, stacklevel=2)
                return None
        return graph.replay

    def kernel(self, name: str) -> tuple[Any, Any] | None:
        torch = sys.modules["torch"]
        aten = torch.ops.aten
        return {
            "relu": (lambda z, xp: torch.relu(z),
                     lambda g, z, a, xp: aten.threshold_backward(g, a, 0)),
            "sigmoid": (lambda z, xp: torch.sigmoid(z),
                        lambda g, z, a, xp: aten.sigmoid_backward(g, a)),
            "tanh": (lambda z, xp: torch.tanh(z),
                     lambda g, z, a, xp: aten.tanh_backward(g, a)),
        }.get(name)

    def matmul(self, a: Any, b: Any, xp: Any, out: Any = None) -> Any:
        if out is None:
            return a @ b
        return sys.modules["torch"].matmul(a, b, out=out)  # no temporary (torch is loaded)

    def sum_rows(self, x: Any, xp: Any, out: Any = None) -> Any:
        if out is None:
            return xp.sum(x, axis=0)
        return sys.modules["torch"].sum(x, dim=0, out=out)

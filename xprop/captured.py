"""Captured training steps: one whole step (forward, backward, clipping, optimizer update)
recorded once and replayed as one launch, for libraries whose adapter can capture (PyTorch on
CUDA devices: ``torch.cuda.graph``, ``TorchAdapter.capture``). CuPy cannot: it refuses every
cuBLAS call during stream capture (``NotImplementedError``, cupy/cupy#6290), and a step is
mostly GEMMs.

A small net's step on a GPU is launch-bound: some twenty kernels of a few microseconds each.
A captured step replays them all with one graph launch. Capture fixes every address, so the
step reads and writes *static* arrays only: the batch is copied into ``X``/``Y`` before each
replay, the optimizer's per-step scalars (learning rate, bias corrections) into a small
``coeffs`` array, the optimizer's state lives in arrays updated in place, and the step's logits
and outputs (what ``fit``'s records read) are copied out of static arrays after it. The
parameter buffer is the model's own, updated in place.

Valid for fixed shapes: ``fit`` replays full minibatches and runs a last short batch eagerly
(the same step, uncaptured, on the same optimizer state). :func:`captured_step` returns None
wherever capture is not possible (immutable arrays, a library or device that does not
capture); ``fit`` decides the same way and otherwise trains eagerly.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from xprop.backend.core import adapter_of_namespace
from xprop.optimizers import Optimizer
from xprop.params import Params
from xprop.step import gradient, train_step

Array = Any

__all__ = ["CapturedStep", "can_capture", "captured_step"]


def captured_step(model: Any, opt: Optimizer, X: Array, Y: Array, grads: Params,
                  clip_norm: float | None) -> CapturedStep | None:
    """A :class:`CapturedStep` for batches shaped like ``X`` and ``Y`` (one example of each,
    used for the warm-up run), or None when the model's library cannot capture."""
    if not can_capture(model):
        return None
    return CapturedStep(model, opt, adapter_of_namespace(model.xp), X, Y, grads, clip_norm)


def can_capture(model: Any) -> bool:
    """Whether the model's library captures steps on its device (CUDA graphs)."""
    ops = adapter_of_namespace(model.xp)
    return bool(ops.mutable and ops.can_capture(model.backend.device))


class CapturedStep:
    """``step(X_b, Y_b) -> (logits, output)``: one training step on a batch of the captured
    shape, replayed (see the module docstring). The optimizer's state lives in static arrays
    updated in place; :meth:`sync` hands the optimizer copies of them."""

    def __init__(self, model: Any, opt: Optimizer, ops: Any, X: Array, Y: Array,
                 grads: Params, clip_norm: float | None) -> None:
        xp, arch = model.xp, model.arch
        self.model, self.opt, self.ops, self.arch, self.xp = model, opt, ops, arch, xp
        self.X, self.Y = xp.asarray(X, copy=True), xp.asarray(Y, copy=True)
        buffer = model.params.buffer
        self.arrays = self._static_state(buffer)
        self.host_coeffs: tuple[float, ...] | None = None
        self.coeffs = None  # device scalars, made at the first step (their count is known then)
        self.grads, self.clip_norm = grads, clip_norm
        self.logits = xp.zeros((X.shape[0], arch.sizes[-1]), dtype=buffer.dtype,
                               device=array_api_compat.device(buffer))  # not the default
        self.output = xp.zeros_like(self.logits)
        self.buffer = buffer  # the storage the captured graph updates
        self.replay = None
        self.ahead = False  # the static state arrays are newer than the optimizer's
        self.constants = opt.constants()  # the settings the captured graph bakes in

    def _static_state(self, buffer: Array) -> tuple[Array, ...]:
        """Copies of the optimizer's state arrays, zeros like ``buffer`` for empty slots
        (the captured graph updates them in place)."""
        xp = self.xp
        return tuple(xp.zeros_like(buffer) if a is None else xp.asarray(a, copy=True)
                     for a in self.opt.arrays())

    def _body(self) -> None:
        """The step on the static arrays (what is captured)."""
        xp, params = self.xp, self.model.params
        cache, g = gradient(params, self.X, self.Y, self.arch, xp, self.clip_norm, self.grads)
        coeffs = tuple(self.coeffs[i] for i in range(self.coeffs.shape[0]))
        buffer, arrays = self.opt.apply(params.buffer, g, self.arrays, coeffs, xp)
        if buffer is not params.buffer:
            params.buffer[...] = buffer
        for static, new in zip(self.arrays, arrays):
            if new is not static:
                static[...] = new
        self.logits[...] = cache.pre[-1]
        self.output[...] = cache.output

    def __call__(self, X: Array, Y: Array) -> tuple[Array, Array]:
        opt, xp = self.opt, self.xp
        if self.model.params.buffer is not self.buffer:  # new storage: capture again
            self.replay, self.buffer = None, self.model.params.buffer
        if opt.constants() != self.constants:  # a callback changed a setting: again, with
            self.sync()  # the state arrays the settings now ask for
            self.arrays = self._static_state(self.buffer)
            self.replay, self.constants = None, opt.constants()
        opt.t += 1
        host = opt.coefficients()
        if host != self.host_coeffs:  # a new rate, or Adam's bias corrections: a tiny copy
            values = self.model.backend.from_host([float(c) for c in host],
                                                  self.buffer.dtype)
            if self.coeffs is None:
                self.coeffs = values
            else:
                self.coeffs[...] = values
            self.host_coeffs = host
        self.X[...] = X
        self.Y[...] = Y
        if self.replay is None:  # this step runs for real, then is captured for the next
            self.replay = self.ops.capture(self._body, self.model.backend.device) or False
        elif self.replay:
            self.replay()
        else:  # the capture failed: the same step, uncaptured
            self._body()
        self.ahead = True
        return xp.asarray(self.logits, copy=True), xp.asarray(self.output, copy=True)

    def sync(self) -> None:
        """Give the optimizer copies of the static state arrays (before it is read:
        snapshots, an eager step, the end of training)."""
        if self.ahead:
            self.opt.set_arrays(tuple(self.xp.asarray(a, copy=True) for a in self.arrays))
            self.ahead = False

    def eager(self, X: Array, Y: Array) -> tuple[Array, Array]:
        """A step on a batch of another shape (a last short batch), uncaptured, on the same
        optimizer state."""
        self.sync()
        cache = train_step(self.model, X, Y, self.opt, self.clip_norm, self.grads)
        for static, new in zip(self.arrays, self.opt.arrays()):
            if new is not None:
                static[...] = new
        return cache.pre[-1], cache.output

"""Compiled training: whole chunks of epochs as one compiled function, on libraries that compile
(JAX: ``jax.jit`` with ``lax.fori_loop`` over epochs and ``lax.scan`` over batches).

The compiled function runs the same pure step as the eager loop: :func:`xprop.network.forward`,
:func:`~xprop.network.backward`, optional clipping, and the optimizer's pure
:meth:`~xprop.optimizers.Optimizer.apply` on the flat buffer. What the eager loop does on the
host between steps comes in as arrays: each epoch's shuffle order (the same seeded host
permutations, shape ``(K, n)``) and each step's optimizer coefficients (learning rate, Adam's
bias corrections; shape ``(K, steps, c)``, computed on the host exactly as the eager optimizer
computes them). Per-epoch records (summed loss and hits, from the batch outputs before each
update, as the eager loop keeps them) are accumulated inside; the host reads them, the finite
check and nothing else once per chunk. A chunk is at most :data:`xprop.step.CHUNK_EPOCHS` epochs,
:data:`WORK_PER_CALL` multiply-adds and :data:`STEPS_PER_CALL` steps.

The chunk length ``k <= K`` is a traced value and ``K`` the power of two (at least 8) at or
above it, so one compilation serves the chunks of most fits (and,
cached by configuration, later fits of the same shapes). Epochs are laid out as
``n // B`` full batches scanned in a loop plus one short batch when ``B`` does not divide ``n``;
shuffled batches are gathered from the data by their rows of the epoch's order.
Results equal the eager path's within float rounding: the compiler may fuse and reorder.
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xprop import network
from xprop import step as steps
from xprop.backend.base import dtype_name
from xprop.backend.host import at_most_finite, epoch_records, host_floats, padded
from xprop.optimizers import Optimizer, reusable_coefficients
from xprop.params import Params
from xprop.step import gradient

Array = Any

__all__ = ["CompiledEpochs"]

#: besides :data:`xprop.step.CHUNK_EPOCHS`: the most multiply-adds one compiled call trains
#: (about 0.1 s of a 2-core CPU: the host regains control, for Ctrl-C, the records and the
#: divergence check, at least that often) and the most steps (each has a row of host
#: coefficients)
WORK_PER_CALL = 1 << 33
STEPS_PER_CALL = 1 << 16
SMALL_WORK = 1 << 16  # multiply-adds of a step's forward pass at or below which it runs on
# one thread (thread-pool dispatch per operation costs more than such arithmetic)

_CACHE: dict[Any, Callable] = {}  # configuration -> compiled function (a few per process)
_COEFFS: dict[Any, tuple] = {}  # (optimizer, settings, lr, t, shape) -> (rows, host array)
_CACHE_LOCK = threading.Lock()


class CompiledEpochs:
    """Trains chunks of epochs with one compiled call each (see the module docstring)."""

    def __init__(self, model: Any, opt: Optimizer, ops: Any, data: Any, config: Any) -> None:
        """``data``: the fit's prepared data (:class:`xprop.train.TrainingData`: ``X``, ``Y``,
        ``truth``, ``n``, ``batch_size``, ``perms``, ``val``); ``config``: its
        :class:`~xprop.config.FitConfig` (``clip_norm``, ``early_stopping``, ``min_delta``)."""
        self.model, self.opt, self.ops = model, opt, ops
        self.X, self.Y, self.truth, self.val = data.X, data.Y, data.truth, data.val
        self.n, self.batch_size, self.perms = data.n, data.batch_size, data.perms
        self.shuffled = data.perms is not None
        self.steps = len(data.starts)
        self.dtype = model.params.buffer.dtype
        self.macs = macs = sum(a * b for a, b in itertools.pairwise(model.arch.sizes))
        n_val = 0 if self.val is None else self.val[0].shape[0]
        #: the most epochs one call trains: forward and backward are ~3 n macs per epoch
        self.epochs_per_call = max(1, min(steps.CHUNK_EPOCHS,
                                          WORK_PER_CALL // ((3 * self.n + n_val) * macs),
                                          STEPS_PER_CALL // self.steps))
        #: the most epochs a chunk trains: shuffled chunks send (and the driver keeps, for
        #: its divergence replay) each epoch's order of n rows
        self.chunk_epochs = self.epochs_per_call if not self.shuffled else max(
            1, min(self.epochs_per_call, steps.CHUNK_ELEMENTS // max(1, self.n)))
        self.validates = self.val is not None  # validation runs inside the call
        self.reads_ahead = True  # a chunk's rates are read before the call (the driver)
        self.failed = None  # (the driver's read-ahead keeps a schedule's error)
        #: early stopping: the best parameters so far, and their validation loss
        self.track = None if config.early_stopping is None else at_most_finite(
            float(config.min_delta), dtype_name(self.dtype, model.xp))
        self.best_buffer: Array | None = None
        self.host_dtype = dtype_name(self.dtype, model.xp)  # the host inputs' dtype (they
        # go to the device with the call: see Adapter.jit)
        #: early stopping's: on the device, as the call returns it (an argument's placement
        #: is part of what a compiled function is cached by)
        self.best_loss = model.backend.from_host(math.inf, self.dtype)
        self.shape = _Shape(self.n, self.batch_size, self.shuffled, config.clip_norm,
                            self.truth is not None, self.val is not None, self.track)
        self._compile()
        self._coeffs: tuple[Any, Array] | None = None  # the last ones: (what made them, array)

    def _compile(self) -> None:
        """The compiled chunk function for the optimizer's settings now (:attr:`fn`, from
        the cache when a fit had them before)."""
        model, opt, ops, shape = self.model, self.opt, self.ops, self.shape
        self.constants = opt.constants()
        key = (model.arch, type(opt), self.constants, shape, str(self.dtype),
               str(self.X.dtype), ops.name)
        with _CACHE_LOCK:  # fits in threads: one lookup, eviction and insertion at a time
            try:
                fn = _CACHE.get(key)
            except TypeError:  # unhashable parts: compile for this fit only
                key, fn = None, None
            if fn is None:
                settings = copy.copy(opt)  # what the function bakes in, apart from its caller
                settings.set_arrays(tuple(None for _ in opt.arrays()))
                fn = ops.jit(_chunk_function(model.arch, settings, ops, model.xp, shape),
                             small=self.batch_size * self.macs <= SMALL_WORK)
                if key is not None:
                    if len(_CACHE) >= 8:
                        _CACHE.pop(next(iter(_CACHE)))
                    _CACHE[key] = fn
        self.fn = fn

    def run(self, epochs: range, lr_at: Callable[[int], float] | None, t0: float) -> tuple:
        """Train ``epochs`` (at most :attr:`epochs_per_call`). Returns the epochs' columns
        ``(lrs, orders, times)`` (``orders``: host permutations, or None each), the records
        ``(mean losses, accuracies, finite)`` (``finite``: every loss and parameter), and
        the validation ``(val losses, val accuracies, improved)`` (``improved``: whether each
        epoch's validation loss beat the best by more than ``min_delta``, None without early
        stopping), None without validation. Times are the chunk's wall time spread evenly over
        its epochs (the host does not see epochs end inside a compiled call)."""
        before = self.opt.t, self.opt.lr
        if self.opt.constants() != self.constants:  # a callback changed a setting
            self._compile()
        try:
            return self._run(epochs, lr_at, t0)
        except BaseException:  # nothing trained: the optimizer's count and rate as before
            self.opt.t, self.opt.lr = before
            raise

    def _coefficients(self, epochs: range, lr_at: Callable[[int], float] | None,
                      K: int) -> list[float]:
        """The epochs' learning rates; the steps' optimizer coefficients ``(K, steps, c)`` in
        a host array of the model's dtype (the optimizer's own host arithmetic, its step
        count advanced). Without a schedule xprop's own are a function of the optimizer's
        type, settings, rate and step count (:func:`~xprop.optimizers.reusable_coefficients`):
        an earlier chunk's (of this fit or another) with the same are used again."""
        opt, k = self.opt, len(epochs)
        key = None if lr_at is not None or not reusable_coefficients(opt) else (
            type(opt), self.constants, opt.lr, opt.t if opt.stepwise else None, k, K,
            self.steps, self.host_dtype)
        try:
            found = _COEFFS.get(key) if key is not None else None
        except TypeError:  # unhashable settings: computed for this chunk only
            key = found = None
        if found is not None:
            opt.t += k * self.steps
            self._coeffs = found
            return [opt.lr] * k
        if lr_at is None and not opt.stepwise:  # one set of coefficients for the chunk
            lrs = [opt.lr] * k
            opt.t += k * self.steps
            rows = [[opt.coefficients()] * self.steps] * k
        else:
            lrs, rows = [], []
            for epoch in epochs:
                if lr_at is not None:
                    opt.lr = lr_at(epoch)  # checked (see xprop.train._checked)
                lrs.append(opt.lr)
                if opt.stepwise:  # step by step
                    per_step = []
                    for _ in range(self.steps):
                        opt.t += 1
                        per_step.append(opt.coefficients())
                    rows.append(per_step)
                else:  # the same for every step of the epoch
                    opt.t += self.steps
                    rows.append([opt.coefficients()] * self.steps)
        if self._coeffs is None or self._coeffs[0] != rows:
            self._coeffs = rows, padded(rows, K, (self.steps, len(rows[0][0])),  # (the
                                        self.host_dtype)  # last chunk's, often, on a schedule)
        if key is not None:
            with _CACHE_LOCK:
                if len(_COEFFS) >= 8:
                    _COEFFS.pop(next(iter(_COEFFS)))
                _COEFFS[key] = self._coeffs
        return lrs

    def _run(self, epochs: range, lr_at: Callable[[int], float] | None, t0: float) -> tuple:
        model, opt, xp = self.model, self.opt, self.model.xp
        k = len(epochs)
        K = 8 << max(0, (k - 1).bit_length() - 3)  # few shapes: the power of two >= k (at
        # least 8): one compilation serves the chunks of most fits
        start = time.perf_counter()
        lrs = self._coefficients(epochs, lr_at, K)
        orders, host_orders = None, [None] * k
        if self.shuffled:
            host_orders = [next(self.perms) for _ in range(k)]
            orders = padded(host_orders, K, (self.n,), "int32" if self.n < 2**31 else "int64")
        arrays = opt.arrays()
        if any(a is None for a in arrays):  # one array of zeros fills every empty slot (the
            zeros = xp.zeros_like(model.params.buffer)  # arrays of the libraries that
            arrays = tuple(zeros if a is None else a for a in arrays)  # compile: immutable)
        best = (self.best_loss, model.params.buffer if self.best_buffer is None
                else self.best_buffer)
        buffer, arrays, best, records = self.fn(
            model.params.buffer, arrays, (self.X, self.Y, self.truth), self.val, orders,
            self._coeffs[1], best, k)
        model.params.assign(buffer)
        opt.set_arrays(arrays)
        if self.track is not None:
            self.best_loss, self.best_buffer = best
        columns, vals = self._records(records, k, K)
        end = time.perf_counter()
        spread = (end - start) / k  # times: C-level running sums, no Python loop per epoch
        times = list(itertools.accumulate(itertools.repeat(spread, k), initial=start - t0))
        return (lrs, host_orders, times[1:]), columns, vals

    def _records(self, records: Array, k: int, K: int) -> tuple[Any, Any]:
        """The training records and the validation of a call, from its ``records`` array
        (one read)."""
        host = host_floats(records)
        head = self.model.arch.head
        columns = epoch_records(host, k, K if self.truth is not None else None,
                                head.divisor(self.n), self.n)
        if self.val is None:
            return columns, None  # (a diverged chunk's validation still says where its best
        n_val = self.val[0].shape[0]  # epoch was: what restore_best goes back to)
        losses = (host[2 * K:2 * K + k] / head.divisor(n_val)).tolist()
        accuracies = (host[3 * K:3 * K + k] / n_val).tolist()
        improved = None if self.track is None else (host[4 * K:4 * K + k] > 0).tolist()
        return columns, (losses, accuracies, improved)


@dataclass(frozen=True)
class _Shape:
    """What the compiled function's structure depends on, besides the model and optimizer."""

    n: int
    batch_size: int
    shuffled: bool
    clip_norm: float | None
    classifier: bool
    validates: bool
    min_delta: float | None  # early stopping's (None: no best parameters tracked)


def _chunk_function(arch: network.Architecture, opt: Optimizer, ops: Any, xp: Any,
                    shape: _Shape) -> Callable:
    """``run(buffer, arrays, data, val, orders, coeffs, best, k) -> (buffer, arrays, best,
    records)`` training ``k`` epochs; ``records`` is ``[loss_0..loss_{K-1}, hits (K),
    val loss sums (K), val hits (K), improved (K), finite]`` (``finite`` is NaN when a parameter
    is not finite); ``best`` is ``(best loss, best buffer)`` for early stopping."""
    train_epoch = _epoch_function(arch, opt, ops, xp, shape)
    validate = _validation_function(arch, xp, shape)

    def run(buffer, arrays, data, val, orders, coeffs, best, k):
        K = coeffs.shape[0]
        zeros = xp.zeros((K,), dtype=coeffs.dtype)

        def epoch(e, carry):
            buffer, arrays, best, columns = carry
            order = orders[e, ...] if shape.shuffled else None
            buffer, arrays, loss, hits = train_epoch(buffer, arrays, data, order,
                                                     coeffs[e, ...], zeros[0])
            values = (loss, hits)
            if shape.validates:
                *checked, best = validate(buffer, val, best)
                values += tuple(checked)
            columns = tuple(ops.set_at(c, e, v) for c, v in zip(columns, values))
            return buffer, arrays, best, columns

        width = 5 if shape.validates else 2
        buffer, arrays, best, columns = ops.fori_loop(
            0, k, epoch, (buffer, arrays, best, (zeros,) * width))
        finite = xp.reshape(xp.sum(buffer * 0.0), (1,))
        return buffer, arrays, best, xp.concat([*columns, xp.astype(finite, zeros.dtype)])

    return run


def _epoch_function(arch: network.Architecture, opt: Optimizer, ops: Any, xp: Any,
                    shape: _Shape) -> Callable:
    """``train_epoch(buffer, arrays, data, order, coeffs, zero) -> (buffer, arrays, summed
    loss, hits)``: one epoch's steps, the full batches scanned and a short last one after."""
    head, layout, classifier = arch.head, arch.layout, shape.classifier
    batch_size = shape.batch_size
    full, tail = divmod(shape.n, batch_size)

    def step(buffer, arrays, Xb, Yb, Tb, c):
        cache, g = gradient(Params.wrap(layout, buffer, xp), Xb, Yb, arch, xp, shape.clip_norm)
        coeffs = tuple(c[i] for i in range(c.shape[0]))
        buffer, arrays = opt.apply(buffer, g, arrays, coeffs, xp)
        # the records of this batch, from its outputs before the update
        loss = xp.sum(head.rows(cache.pre[-1], cache.output, Yb, xp))
        hits = head.count_hits(cache.output, Tb, xp) if classifier else xp.zeros_like(loss)
        return buffer, arrays, loss, hits

    def train_epoch(buffer, arrays, data, order, ce, zero):
        data = data if classifier else data[:2]

        def batch(carry, xs):
            buffer, arrays, loss, hits = carry
            if shape.shuffled:  # xs = (indices, coefficients): gather the batch's rows
                index, cb = xs
                parts = [xp.take(a, index, axis=0) for a in data]
            else:  # xs = (X rows, Y rows[, truth rows], coefficients)
                *parts, cb = xs
            buffer, arrays, bl, bh = step(buffer, arrays, parts[0], parts[1],
                                          parts[2] if classifier else None, cb)
            return buffer, arrays, loss + bl, hits + bh

        total = (buffer, arrays, zero, zero)
        m = full * batch_size
        if shape.shuffled:
            xs = (xp.reshape(order[:m], (full, batch_size)), ce[:full, ...])
            last = (order[m:], ce[full, ...])
        else:
            xs = (*(xp.reshape(a[:m, ...], (full, batch_size, *a.shape[1:]))
                    for a in data), ce[:full, ...])
            last = (*(a[m:, ...] for a in data), ce[full, ...])
        if full:
            total = ops.scan(batch, total, xs) if full > 1 else batch(
                total, tuple(x[0, ...] for x in xs))
        if tail:
            total = batch(total, last)
        return total

    return train_epoch


def _validation_function(arch: network.Architecture, xp: Any, shape: _Shape) -> Callable:
    """``validate(buffer, val, best) -> (loss sum, hits, improved, best)``: the validation
    of ``buffer`` (:func:`xprop.step.evaluate`, as eager epochs validate) and the
    early-stopping state ``(best loss, best buffer)`` after (:func:`xprop.step.improves`,
    as eager epochs judge)."""
    layout = arch.layout

    def validate(buffer, val, best):
        Xv, Yv, Lv = val
        total, hits = steps.evaluate(Params.wrap(layout, buffer, xp), Xv, Yv, Lv, arch, xp)
        if shape.min_delta is None:
            return total, hits, xp.zeros_like(total), best
        best_loss, kept = best  # (typed constants: NumPy 1 would widen float32 scalars)
        loss = total / xp.asarray(arch.head.divisor(Xv.shape[0]), dtype=total.dtype)
        improved = steps.improves(loss, best_loss, xp.asarray(shape.min_delta, dtype=total.dtype))
        best = (xp.where(improved, loss, best_loss),
                xp.where(improved, buffer, kept))
        return total, hits, xp.astype(improved, total.dtype), best

    return validate

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
check and nothing else once per chunk. A chunk is at most :data:`EPOCHS_PER_CALL` epochs,
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
import time
from collections.abc import Callable, Iterator
from typing import Any

from xprop import network
from xprop import validation as V
from xprop.backend.host import epoch_records, padded
from xprop.optimizers import Optimizer
from xprop.params import Params
from xprop.step import gradient

Array = Any

__all__ = ["EPOCHS_PER_CALL", "CompiledEpochs"]

EPOCHS_PER_CALL = 4096  # K: the most epochs one call of the compiled function trains
WORK_PER_CALL = 1 << 33  # ... the most multiply-adds (about 0.1 s of a 2-core CPU): the host
# regains control (Ctrl-C, the records, the divergence check) at least that often
STEPS_PER_CALL = 1 << 16  # ... and the most steps (each has a row of host coefficients)
SMALL_WORK = 1 << 16  # multiply-adds of a step's forward pass at or below which it runs on
# one thread (thread-pool dispatch per operation costs more than such arithmetic)

_CACHE: dict[Any, Callable] = {}  # configuration -> compiled function (a few per process)


class CompiledEpochs:
    """Trains chunks of epochs with one compiled call each (see the module docstring)."""

    def __init__(self, model: Any, opt: Optimizer, ops: Any, X: Array, Y: Array,
                 truth: Array | None, n: int, batch_size: int, shuffled: bool,
                 clip_norm: float | None) -> None:
        self.model, self.opt, self.ops = model, opt, ops
        self.X, self.Y, self.truth = X, Y, truth
        self.n, self.batch_size, self.shuffled = n, batch_size, shuffled
        self.steps = -(-n // batch_size)
        self.dtype = model.params.buffer.dtype
        macs = sum(a * b for a, b in itertools.pairwise(model.arch.sizes))
        #: the most epochs one call trains: forward and backward are ~3 n macs per epoch
        self.epochs_per_call = max(1, min(EPOCHS_PER_CALL, WORK_PER_CALL // (3 * n * macs),
                                          STEPS_PER_CALL // self.steps))
        key = (model.arch, type(opt), opt.constants(), n, batch_size, shuffled, clip_norm,
               truth is not None, str(self.dtype), str(X.dtype), ops.name)
        try:
            fn = _CACHE.get(key)
        except TypeError:  # unhashable parts: compile for this fit only
            key, fn = None, None
        if fn is None:
            work = batch_size * macs
            settings = copy.copy(opt)  # what the function bakes in, apart from its caller
            settings.set_arrays(tuple(None for _ in opt.arrays()))
            fn = ops.jit(_chunk_function(model.arch, settings, ops, model.xp, n, batch_size,
                                         shuffled, clip_norm, truth is not None),
                         small=work <= SMALL_WORK)
            if key is not None:
                if len(_CACHE) >= 8:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = fn
        self.fn = fn
        self._coeffs: tuple[Any, Array] | None = None  # the last ones: (what made them, array)

    def run(self, epochs: range, lr_at: Callable[[int], float] | None,
            perms: Iterator[Any] | None, t0: float
            ) -> tuple[tuple[list[float], list[Any], list[float]],
                       tuple[list[float], list[float]] | None]:
        """Train ``epochs`` (at most :attr:`epochs_per_call`). Returns the epochs' columns
        ``(lrs, orders, times)`` (``orders``: host permutations, or None each) and the
        records ``(mean losses, accuracies)``, None when a loss or a parameter is not finite.
        Times are the chunk's wall time spread evenly over its epochs (the host does not
        see epochs end inside a compiled call)."""
        before = self.opt.t, self.opt.lr
        try:
            return self._run(epochs, lr_at, perms, t0)
        except BaseException:  # nothing trained: the optimizer's count and rate as before
            self.opt.t, self.opt.lr = before
            raise

    def _run(self, epochs: range, lr_at: Callable[[int], float] | None,
             perms: Iterator[Any] | None, t0: float) -> tuple:
        model, opt, xp = self.model, self.opt, self.model.xp
        k = len(epochs)
        K = 8 << max(0, (k - 1).bit_length() - 3)  # few shapes: the power of two >= k (at
        # least 8): one compilation serves the chunks of most fits
        start = time.perf_counter()
        if lr_at is None and not opt.stepwise:  # one set of coefficients for the chunk
            lrs = [opt.lr] * k
            opt.t += k * self.steps
            rows = [[opt.coefficients()] * self.steps] * k
        else:
            lrs, rows = [], []
            for epoch in epochs:
                if lr_at is not None:
                    lr = lr_at(epoch)
                    if lr != opt.lr:
                        opt.lr = V.check_positive(lr, f"schedule({epoch})")
                lrs.append(opt.lr)
                if opt.stepwise:  # the optimizer's own host arithmetic, step by step
                    per_step = []
                    for _ in range(self.steps):
                        opt.t += 1
                        per_step.append(opt.coefficients())
                    rows.append(per_step)
                else:  # the same for every step of the epoch
                    opt.t += self.steps
                    rows.append([opt.coefficients()] * self.steps)
        # the coefficients are often those of the last chunk: then nothing is copied
        key = (rows[0][0], k, K) if lr_at is None and not opt.stepwise else rows
        if self._coeffs is None or self._coeffs[0] != key:
            host = padded(rows, K, (self.steps, len(rows[0][0])), "float64")
            self._coeffs = key, model.backend.from_host(host, self.dtype)
        orders, host_orders = None, [None] * k
        if self.shuffled:
            host_orders = [next(perms) for _ in range(k)]
            orders = model.backend.from_host(
                padded(host_orders, K, (self.n,), "int32" if self.n < 2**31 else "int64"))
        arrays = tuple(xp.zeros_like(model.params.buffer) if a is None else a
                       for a in opt.arrays())
        buffer, arrays, records = self.fn(model.params.buffer, arrays, self.X, self.Y,
                                          self.truth, orders, self._coeffs[1], k)
        model.params.assign(buffer)
        opt.set_arrays(arrays)
        head = model.arch.head
        columns = epoch_records(records, k, K if self.truth is not None else None,
                                1 if head.summed else self.n, self.n)
        end = time.perf_counter()
        spread = (end - start) / k  # times: C-level running sums, no Python loop per epoch
        times = list(itertools.accumulate(itertools.repeat(spread, k), initial=start - t0))
        return (lrs, host_orders, times[1:]), columns


def _chunk_function(arch: network.Architecture, opt: Optimizer, ops: Any, xp: Any, n: int,
                    batch_size: int, shuffled: bool, clip_norm: float | None,
                    classifier: bool) -> Callable:
    """``run(buffer, arrays, X, Y, truth, orders, coeffs, k) -> (buffer, arrays, records)``
    training ``k`` epochs; ``records`` is ``[loss_0..loss_{K-1}, hits_0..hits_{K-1}, finite]``
    (``finite`` is NaN when a parameter is not finite)."""
    head, layout = arch.head, arch.layout
    full, tail = divmod(n, batch_size)

    def step(buffer, arrays, Xb, Yb, Tb, c):
        cache, g = gradient(Params.wrap(layout, buffer, xp), Xb, Yb, arch, xp, clip_norm)
        coeffs = tuple(c[i] for i in range(c.shape[0]))
        buffer, arrays = opt.apply(buffer, g, arrays, coeffs, xp)
        # the records of this batch, from its outputs before the update
        loss = xp.sum(head.rows(cache.pre[-1], cache.output, Yb, xp))
        hits = (xp.sum(xp.astype(head.hit_rows(cache.output, Tb, xp), loss.dtype))
                if classifier else xp.zeros_like(loss))
        return buffer, arrays, loss, hits

    def run(buffer, arrays, X, Y, truth, orders, coeffs, k):
        K = coeffs.shape[0]
        zeros = xp.zeros((K,), dtype=coeffs.dtype)

        def epoch(e, carry):
            buffer, arrays, losses, hitss = carry
            ce = coeffs[e, ...]
            data = (X, Y, truth) if classifier else (X, Y)

            def batch(carry, xs):
                buffer, arrays, loss, hits = carry
                if shuffled:  # xs = (indices, coefficients): gather the batch's rows
                    index, cb = xs
                    parts = [xp.take(a, index, axis=0) for a in data]
                else:  # xs = (X rows, Y rows[, truth rows], coefficients)
                    *parts, cb = xs
                buffer, arrays, bl, bh = step(buffer, arrays, parts[0], parts[1],
                                              parts[2] if classifier else None, cb)
                return buffer, arrays, loss + bl, hits + bh

            total = (buffer, arrays, zeros[0], zeros[0])
            m = full * batch_size
            if shuffled:
                order = orders[e, ...]
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
            buffer, arrays, loss, hits = total
            return (buffer, arrays, ops.set_at(losses, e, loss), ops.set_at(hitss, e, hits))

        buffer, arrays, losses, hitss = ops.fori_loop(0, k, epoch,
                                                      (buffer, arrays, zeros, zeros))
        finite = xp.reshape(xp.sum(buffer * 0.0), (1,))
        return buffer, arrays, xp.concat([losses, hitss, xp.astype(finite, losses.dtype)])

    return run

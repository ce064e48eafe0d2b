"""Data-parallel training over MPI (mpi4py): the same model on 1 or N processes.

Every rank holds the whole model. Each global batch of ``B`` rows (the same sequence of
batches for any number of ranks: one seeded permutation per epoch, as :func:`xprop.fit`
draws it) is split into ``R`` contiguous shards, one per rank; each rank computes the
mean gradient over its rows weighted by its share of the batch, one ``Allreduce`` of the flat
gradient buffer (MPI's buffer API, no pickling) adds them into the batch's mean gradient, and
every rank applies the same update. The
parameters start from rank 0's (one ``Bcast``). The epoch's loss and hits are reduced once
per epoch, so every rank records the same history and stops, or diverges, at the same epoch.

With one rank this is exactly minibatch training; with several, the gradient of each batch
is the same sum taken in another order, so parameters agree with the single-process run to
float64 rounding (a few ulps per step, growing slowly with the number of steps).

Arrays of a host library (NumPy) are reduced in place; device arrays go through a host copy
(the portable stand-in for NCCL / CUDA-aware MPI, which this module does not use yet).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from xprop import network
from xprop.init import permutation_stream
from xprop.optimizers import Optimizer, get_optimizer
from xprop.train import History, TrainingDivergedError

Array = Any

__all__ = ["Communicator", "fit_distributed", "mpi_info", "shard", "world"]

INSTALL_HINT = 'pip install "xprop[mpi]" (mpi4py and the mpich wheel)'


class Communicator:
    """An mpi4py communicator with the few collective operations training needs."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.comm, self._mpi = comm, MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, x: Array, backend: Any) -> Array:
        """The elementwise sum of ``x`` over all ranks (every rank gets it)."""
        if self.size == 1:
            return x
        host = np.ascontiguousarray(backend.adapter.to_host(x), dtype=_host_dtype(x, backend))
        host = host.copy() if not host.flags.writeable else host
        self.comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM)
        return backend.from_host(host, host.dtype.name)

    def broadcast(self, x: Array, backend: Any) -> Array:
        """Rank 0's ``x`` on every rank."""
        if self.size == 1:
            return x
        host = np.array(backend.adapter.to_host(x), dtype=_host_dtype(x, backend), copy=True)
        self.comm.Bcast(host, root=0)
        return backend.from_host(host, host.dtype.name)

    def sum_floats(self, values: list[float]) -> list[float]:
        """Python floats summed over all ranks (one Allreduce)."""
        buf = np.asarray(values, dtype=np.float64)
        if self.size > 1:
            self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf.tolist()

    def abort(self, code: int = 2) -> None:
        """End every rank of the job (after a rank's error was reported)."""
        self.comm.Abort(code)


def _host_dtype(x: Array, backend: Any) -> str:
    from xprop.backend import dtype_name

    return dtype_name(x.dtype, backend.xp)


def world() -> Communicator:
    """``MPI.COMM_WORLD`` as a :class:`Communicator`; an ImportError saying what to install
    when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"distributed training needs mpi4py ({e}); {INSTALL_HINT}") from e
    return Communicator(MPI.COMM_WORLD)


def mpi_info() -> dict[str, Any]:
    """mpi4py's version, the MPI library and the world's size and this rank, or why MPI is
    not available (for ``xprop info``)."""
    try:
        import mpi4py
        from mpi4py import MPI
    except ImportError as e:
        return {"available": False, "reason": f"{e}; {INSTALL_HINT}"}
    library = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
    return {"available": True, "mpi4py": mpi4py.__version__, "library": library,
            "world_size": MPI.COMM_WORLD.Get_size(), "rank": MPI.COMM_WORLD.Get_rank()}


def shard(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous part of rows ``[start, stop)`` split over ``size`` ranks
    (sizes differ by at most one; a rank may get none)."""
    n = stop - start
    lo = start + (n * rank) // size
    hi = start + (n * (rank + 1)) // size
    return lo, hi


def fit_distributed(model: Any, X: Any, y: Any, *, comm: Communicator | None = None,
                    lr: float | None = None, epochs: int = 100, batch_size: int | None = None,
                    optimizer: str | Optimizer = "sgd", shuffle: bool = True, seed: int = 0,
                    verbose: int = 0, log: Any = print) -> History:
    """Train ``model`` data-parallel over ``comm`` (default: MPI's world) and return the
    :class:`~xprop.train.History` every rank shares; see the module docstring. ``batch_size``
    is the *global* batch (None: all rows); the other arguments mean what they mean for
    :func:`xprop.fit`. Only rank 0 logs."""
    comm = world() if comm is None else comm
    if isinstance(optimizer, Optimizer):
        opt = optimizer
    else:
        opt = get_optimizer(optimizer, lr=0.1 if lr is None else lr)
    xp, arch, params, be = model.xp, model.arch, model.params, model.backend
    head = arch.head
    params.assign(comm.broadcast(params.buffer, be))
    Xd, Yd, labels = model.prepare(X, y)
    n = int(Xd.shape[0])
    B = n if batch_size is None else min(int(batch_size), n)
    perms = permutation_stream(n, seed)
    truth = head.truth(Yd, labels, xp) if head.is_classifier else None
    history = History()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = be.from_host(next(perms)) if shuffle and B < n else None
        parts: list[Array] = []  # per batch: the loss times the rows, and the hits
        for s in range(0, n, B):
            e = min(s + B, n)
            lo, hi = shard(s, e, comm.rank, comm.size)
            grad = xp.zeros_like(params.buffer)
            if hi > lo:
                rows = slice(lo, hi)
                if order is None:
                    Xb, Yb = Xd[rows, ...], Yd[rows, ...]
                    Tb = None if truth is None else truth[rows, ...]
                else:
                    idx = order[rows]
                    Xb, Yb = xp.take(Xd, idx, axis=0), xp.take(Yd, idx, axis=0)
                    Tb = None if truth is None else xp.take(truth, idx, axis=0)
                _, cache = network.forward(params, Xb, arch, xp)
                g = network.backward(params, cache, Yb, arch, xp=xp).buffer
                count = float(hi - lo)
                # a mean loss: the shard's mean gradient weighted by its share of the batch
                # (exactly g on one rank); a summed loss: the shard's sum
                grad = g if head.summed else g * (count / float(e - s))
                value = network.loss_value(cache, Yb, arch, xp)
                parts.append(value if head.summed else value * count)
                if Tb is not None:
                    parts.append(head.count_hits(cache.output, Tb, xp))
            params.assign(opt.update(params.buffer, comm.allreduce_sum(grad, be), xp))
        local = [float(v) for v in parts]
        if head.is_classifier:
            loss_sum, hits = sum(local[0::2]), sum(local[1::2])
        else:
            loss_sum = sum(local)
        loss_sum, hits = comm.sum_floats([loss_sum, hits])
        loss = loss_sum / (1 if head.summed else n)
        if not math.isfinite(loss) or not model.all_finite():
            raise TrainingDivergedError(
                f"training diverged: the loss or a parameter became NaN or inf at epoch "
                f"{epoch + 1} (lr={opt.lr:g}); try a smaller lr", epoch + 1, 0)
        history.loss.append(loss)
        history.lr.append(opt.lr)
        history.time.append(time.perf_counter() - t0)
        if head.is_classifier:
            history.accuracy.append(hits / n)
        if verbose and comm.is_root and ((epoch + 1) % verbose == 0 or epoch + 1 == epochs):
            acc = f"  accuracy {hits / n:.6g}" if head.is_classifier else ""
            log(f"epoch {epoch + 1:>{len(str(epochs))}d}/{epochs}  loss {loss:.6g}{acc}")
    return history

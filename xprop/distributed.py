"""Data-parallel training over MPI (mpi4py): the same model on 1 or N processes.

Every rank holds the whole model; only rank 0 needs the data, and every epoch each rank
receives just the rows of its shards (one ``Scatterv``). Each global batch of ``B`` rows (the
same sequence of batches for any number of ranks: one seeded permutation per epoch, as
:func:`xprop.fit` draws it) is split into ``R`` contiguous shards, one per rank; each rank
computes the mean gradient over its rows weighted by its share of the batch, one
``Allreduce`` of the flat gradient buffer (MPI's buffer API, no pickling) adds them into the
batch's mean gradient, and every rank applies the same update. The parameters start from rank
0's (one ``Bcast``). The epoch's loss, hits and validation metrics are reduced once per epoch,
so every rank records the same history and stops early, or diverges, at the same epoch.

With one rank this is exactly minibatch training; with several, the gradient of each batch
is the same sum taken in another order, so parameters agree with the single-process run to
float64 rounding (a few ulps per step, growing slowly with the number of steps).

Arrays of a host library (NumPy) are reduced in place. Device arrays are reduced on their
device when the backend's adapter offers it (CuPy: NCCL, written but not yet run on a GPU),
else through a host copy reduced with MPI (the portable path, tested).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from xprop import network
from xprop.backend import dtype_name
from xprop.backend.core import on_device
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
        self._device: dict[tuple[str, str], Any] = {}  # backend -> device all-reduce or None

    @property
    def local_rank(self) -> int:
        """This rank's index among the ranks on its node (to pick its GPU)."""
        node = self.comm.Split_type(self._mpi.COMM_TYPE_SHARED)
        try:
            return node.Get_rank()
        finally:
            node.Free()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, x: Array, backend: Any) -> Array:
        """The elementwise sum of ``x`` over all ranks (every rank gets it): on the device
        when the backend's adapter offers a device all-reduce (NCCL), else through a host
        copy reduced with MPI."""
        if self.size == 1:
            return x
        key = (backend.name, str(backend.device))
        if key not in self._device:
            self._device[key] = backend.adapter.device_allreduce(self.comm, backend.device)
        reduce = self._device[key]
        if reduce is not None:
            return reduce(backend.xp.asarray(x, copy=True))
        host = np.ascontiguousarray(backend.adapter.to_host(x), dtype=dtype_name(x.dtype,
                                                                                 backend.xp))
        host = host.copy() if not host.flags.writeable else host
        self.comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM)
        # a host backend's array is the result itself; a device gets one copy back
        return host if backend.owns(host) else backend.from_host(host, host.dtype.name)

    def broadcast(self, x: Array, backend: Any) -> Array:
        """Rank 0's ``x`` on every rank."""
        if self.size == 1:
            return x
        host = np.array(backend.adapter.to_host(x), dtype=dtype_name(x.dtype, backend.xp),
                        copy=True)
        self.comm.Bcast(host, root=0)
        return backend.from_host(host, host.dtype.name)

    def sum_floats(self, values: list[float]) -> list[float]:
        """Python floats summed over all ranks (one Allreduce)."""
        buf = np.asarray(values, dtype=np.float64)
        if self.size > 1:
            self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf.tolist()

    def scatter_rows(self, host: np.ndarray | None, parts: list[np.ndarray],
                     width: int) -> np.ndarray:
        """Rank ``r`` receives rows ``parts[r]`` of rank 0's ``host`` (``(n, width)``,
        float64), in that order: one ``Scatterv``; no other rank needs the data."""
        counts = [len(p) for p in parts]
        if self.size == 1:
            return np.ascontiguousarray(host[parts[0]], dtype=np.float64)
        mine = np.empty((counts[self.rank], width), dtype=np.float64)
        send = None
        if self.is_root:
            rows = np.ascontiguousarray(host[np.concatenate(parts)], dtype=np.float64)
            send = [rows, [c * width for c in counts], None, self._mpi.DOUBLE]
        self.comm.Scatterv(send, mine, root=0)
        return mine

    def abort(self, code: int = 2) -> None:
        """End every rank of the job (after a rank's error was reported)."""
        self.comm.Abort(code)


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


class _Shards:
    """A data set on rank 0 (host copies ``(n, d)`` inputs and ``(n, k)`` prepared targets)
    that every rank receives a part of, rows chosen by rank 0's index lists."""

    def __init__(self, comm: Communicator, model: Any, X: Any, y: Any) -> None:
        self.comm, self.model = comm, model
        self.X = self.Y = None
        shape = np.zeros(3, dtype=np.int64)
        if comm.is_root:
            Xd, Yd, _ = model.prepare(X, y)
            self.X = np.asarray(model.backend.adapter.to_host(Xd), dtype=np.float64)
            self.Y = np.asarray(model.backend.adapter.to_host(Yd), dtype=np.float64)
            shape[:] = (self.X.shape[0], self.X.shape[1], self.Y.shape[1])
        if comm.size > 1:
            comm.comm.Bcast(shape, root=0)
        self.n, self.d, self.k = (int(v) for v in shape)

    def subset(self, idx: np.ndarray) -> _Shards:
        """Rows ``idx`` (rank 0's data; the same shape on every rank)."""
        out = _Shards.__new__(_Shards)
        out.comm, out.model, out.n, out.d, out.k = self.comm, self.model, len(idx), self.d, \
            self.k
        out.X = None if self.X is None else self.X[idx]
        out.Y = None if self.Y is None else self.Y[idx]
        return out

    def receive(self, parts: list[np.ndarray]) -> tuple[Array, Array]:
        """This rank's rows ``parts[rank]`` as device arrays of the model's dtype."""
        Xr = self.comm.scatter_rows(self.X, parts, self.d)
        Yr = self.comm.scatter_rows(self.Y, parts, self.k)
        be, dtype = self.model.backend, self.model.dtype
        return be.from_host(Xr, dtype), be.from_host(Yr, dtype)


def _evaluate(model: Any, X: Array, Y: Array) -> tuple[float, float]:
    """``(summed loss, hits)`` of the model on this rank's rows (zeros for none)."""
    if X.shape[0] == 0:
        return 0.0, 0.0
    xp, arch, head = model.xp, model.arch, model.arch.head
    _, cache = network.forward(model.params, X, arch, xp)
    value = float(network.loss_value(cache, Y, arch, xp))
    hits = float(head.hits(cache.output, Y, None, xp)) if head.is_classifier else 0.0
    return (value if head.summed else value * X.shape[0]), hits


@on_device
def fit_distributed(model: Any, X: Any, y: Any, *, comm: Communicator | None = None,
                    lr: float | None = None, epochs: int = 100, batch_size: int | None = None,
                    optimizer: str | Optimizer = "sgd", shuffle: bool = True, seed: int = 0,
                    validation_data: tuple[Any, Any] | None = None,
                    validation_split: float = 0.0, early_stopping: int | None = None,
                    min_delta: float = 0.0, restore_best: bool = True, verbose: int = 0,
                    log: Any = print) -> History:
    """Train ``model`` data-parallel over ``comm`` (default: MPI's world) and return the
    :class:`~xprop.train.History` every rank shares; see the module docstring.

    Only rank 0 needs the data: ``X, y`` (and ``validation_data``) may be None elsewhere;
    each epoch every rank receives just the rows of its shards (one ``Scatterv``).
    ``batch_size`` is the *global* batch (None: all rows). Validation metrics are reduced
    over the ranks, so early stopping decides alike everywhere. The other arguments mean
    what they mean for :func:`xprop.fit`. Only rank 0 logs."""
    comm = world() if comm is None else comm
    if isinstance(optimizer, Optimizer):
        opt = optimizer
    else:
        opt = get_optimizer(optimizer, lr=0.1 if lr is None else lr)
    if early_stopping is not None and validation_data is None and not validation_split:
        raise ValueError("early_stopping: needs validation_data=(X_val, y_val) or "
                         "validation_split > 0")
    xp, arch, params, be = model.xp, model.arch, model.params, model.backend
    head = arch.head
    params.assign(comm.broadcast(params.buffer, be))
    data = _Shards(comm, model, X, y)
    n = data.n
    perms = permutation_stream(n, seed)
    val = None
    if validation_split:
        n_val = max(1, round(n * float(validation_split)))
        if n_val >= n:
            raise ValueError(f"validation_split: leaves no training data ({n} samples)")
        idx = next(perms)
        val, data = data.subset(idx[:n_val]), data.subset(idx[n_val:])
        n = n - n_val
        perms = permutation_stream(n, None if seed is None else seed + 1)
    elif validation_data is not None:
        val = _Shards(comm, model, *(validation_data if comm.is_root else (None, None)))
    if val is not None:  # fixed contiguous shards, received once
        Xv, Yv = val.receive([np.arange(*shard(0, val.n, r, comm.size))
                              for r in range(comm.size)])
    B = n if batch_size is None else min(int(batch_size), n)
    starts = list(range(0, n, B))
    history = History()
    best, since_best = (math.inf, None), 0
    parts = None
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = next(perms) if shuffle and B < n else np.arange(n)
        if parts is None or (shuffle and B < n):  # this epoch's rows of every rank
            bounds = [[shard(s, min(s + B, n), r, comm.size) for s in starts]
                      for r in range(comm.size)]
            parts = [np.concatenate([order[lo:hi] for lo, hi in b]) for b in bounds]
            Xr, Yr = data.receive(parts)
            mine = bounds[comm.rank]
        offset, records = 0, []
        for s, (lo, hi) in zip(starts, mine):
            count, total = hi - lo, min(s + B, n) - s
            if not count:  # no rows of this batch here: contribute zeros to the sum
                grad = xp.zeros_like(params.buffer)
            else:
                Xb, Yb = Xr[offset:offset + count, ...], Yr[offset:offset + count, ...]
                offset += count
                _, cache = network.forward(params, Xb, arch, xp)
                g = network.backward(params, cache, Yb, arch, xp=xp).buffer
                # a mean loss: the shard's mean gradient weighted by its share of the batch
                # (exactly g on one rank); a summed loss: the shard's sum
                grad = g if head.summed else g * (count / float(total))
                value = network.loss_value(cache, Yb, arch, xp)
                records.append(value if head.summed else value * float(count))
                if head.is_classifier:
                    records.append(head.hits(cache.output, Yb, None, xp))
            params.assign(opt.update(params.buffer, comm.allreduce_sum(grad, be), xp))
        local = [float(v) for v in records]
        pairs = 2 if head.is_classifier else 1
        sums = [sum(local[0::pairs]), sum(local[1::pairs]) if pairs == 2 else 0.0]
        if val is not None:
            sums += list(_evaluate(model, Xv, Yv))
        sums = comm.sum_floats(sums)
        loss = sums[0] / (1 if head.summed else n)
        if not math.isfinite(loss) or not model.all_finite():
            raise TrainingDivergedError(
                f"training diverged: the loss or a parameter became NaN or inf at epoch "
                f"{epoch + 1} (lr={opt.lr:g}); try a smaller lr", epoch + 1, 0)
        logs = {"loss": loss}
        if head.is_classifier:
            logs["accuracy"] = sums[1] / n
        if val is not None:
            logs["val_loss"] = sums[2] / (1 if head.summed else val.n)
            if head.is_classifier:
                logs["val_accuracy"] = sums[3] / val.n
        for key, value in logs.items():
            getattr(history, key).append(value)
        history.lr.append(opt.lr)
        history.time.append(time.perf_counter() - t0)
        if verbose and comm.is_root and ((epoch + 1) % verbose == 0 or epoch + 1 == epochs):
            log(f"epoch {epoch + 1:>{len(str(epochs))}d}/{epochs}  " + "  ".join(
                f"{k} {v:.6g}" for k, v in logs.items()))
        if early_stopping is not None:
            if logs["val_loss"] < best[0] - min_delta:
                best = (logs["val_loss"], xp.asarray(params.buffer, copy=True))
                history.best_epoch, since_best = epoch + 1, 0
            else:
                since_best += 1
                if since_best >= early_stopping:
                    history.stopped_early = True
                    break
    if early_stopping is not None and restore_best and best[1] is not None:
        params.assign(best[1])
    return history
